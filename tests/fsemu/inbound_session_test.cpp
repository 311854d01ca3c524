#define CAF_SUITE fsemu.inbound_session

#include <caf/test/unit_test.hpp>

#include "capture_transcript.hpp"
#include "frame_comparison.hpp" // also esl frames, switch_core, <regex>, <string>, <vector>
#include "inbound_session.hpp"

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// -- harness ------------------------------------------------------------------------------------
//
// The captures' command sequences are replayed into one inbound_session on a switch_core set up
// like the captured FreeSWITCH (hostname "vm", the same addresses and Core-UUID), and every
// reply frame is compared with the captured one: byte for byte where nothing in it varies, and
// with UUIDs and numbers masked where the value differs by nature (uptime, counters, times,
// generated Job-UUIDs, Event-Sequence).

fsemu::switch_config capture_config() {
  auto config = captured_switch_config(42);
  config.local_ip_v4 = "127.0.0.1";
  config.idle_cpu_percent = 56.97;
  return config;
}

/// One switch with one connected client.
struct harness {
  fsemu::switch_core core{capture_config(), capture_day_us};
  fsemu::inbound_session session{core};
  std::int64_t now = capture_day_us + 78'318'918;

  /// Feeds the client bytes `wire` (one or more commands) and returns everything the session
  /// sends back, events it receives included.
  std::string send(std::string_view wire) {
    std::string out;
    send_commands(wire, core, session, now, out);
    return out;
  }
};

/// Replaces what varies between runs: UUIDs, every run of digits, and the plural of the
/// uptime's units (which follows the number).
std::string mask(const std::string& text) {
  static const std::regex uuid{"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"};
  static const std::regex digits{"[0-9]+"};
  static const std::regex units{"(year|day|hour|minute|second|millisecond|microsecond)s\\b"};
  auto masked = std::regex_replace(std::regex_replace(text, uuid, "<uuid>"), digits, "0");
  return std::regex_replace(masked, units, "$1");
}

/// A command and the frames the captured FreeSWITCH sent after it, before the next command.
struct exchange {
  std::string command;
  std::vector<std::string> replies;
};

/// The greeting frames and then each command with its replies.
std::vector<exchange> exchanges(const std::string& capture_name) {
  auto recorded = test_support::load_capture(capture_name);
  std::vector<exchange> out{exchange{}};
  for (const auto& entry : recorded.entries) {
    if (entry.from_freeswitch)
      out.back().replies.push_back(entry.bytes);
    else
      out.push_back(exchange{entry.bytes, {}});
  }
  return out;
}

/// Whether a reply to `command` carries values that vary by nature and is compared masked.
bool varies(std::string_view command) {
  return starts_with(command, "api status") || starts_with(command, "sendevent")
         || starts_with(command, "bgapi");
}

/// Replays a whole capture whose replies fsemu reproduces entirely (no channels involved).
void replay_exactly(const std::string& capture_name) {
  CAF_MESSAGE("replaying " << capture_name);
  harness h;
  auto steps = exchanges(capture_name);
  CAF_REQUIRE(!steps.empty());
  CAF_CHECK_EQUAL(steps.front().replies, std::vector<std::string>{fsemu::inbound_session::greeting()});
  for (std::size_t i = 1; i < steps.size(); ++i) {
    const auto& step = steps[i];
    auto ours = split_frames(h.send(step.command));
    CAF_CHECK_EQUAL(ours.size(), step.replies.size());
    if (ours.size() != step.replies.size()) {
      CAF_MESSAGE("command " << step.command);
      continue;
    }
    for (std::size_t j = 0; j < ours.size(); ++j) {
      if (varies(step.command))
        CAF_CHECK_EQUAL(mask(ours[j]), mask(step.replies[j]));
      else
        CAF_CHECK_EQUAL(ours[j], step.replies[j]);
    }
  }
}

bool is_reply(std::string_view frame) {
  return starts_with(frame, "Content-Type: command/reply")
         || starts_with(frame, "Content-Type: api/response");
}

/// The body of an api/response frame ("" for other frames).
std::string body_of(const std::string& frame) {
  auto end = frame.find("\n\n");
  return end == std::string::npos ? std::string{} : frame.substr(end + 2);
}

/// Whether a captured reply depends on channels (a successful originate "+OK <uuid>", a
/// non-zero channel count, a channel listing, a uuid_kill that found its channel): those replies
/// are compared by channels_test.cpp, which maps the captured UUIDs to fsemu's.
bool needs_channels(const std::string& command, const std::string& reply) {
  static const std::regex originated{"^\\+OK [0-9a-f-]{36}\n$"};
  auto body = body_of(reply);
  if (std::regex_match(body, originated))
    return true;
  if (starts_with(body, "\n") && body != "\n0 total.\n")
    return true;
  if (command == "api show channels\n\n")
    return true;
  return starts_with(command, "api uuid_kill ") && body == "+OK\n";
}

} // namespace

// -- authentication -------------------------------------------------------------------------------

CAF_TEST(a good password is accepted and exit says goodbye and closes) {
  replay_exactly("01_auth_handshake_ok");
  harness h;
  CAF_CHECK(!h.session.authenticated());
  h.send("auth ClueCon\n\n");
  CAF_CHECK(h.session.authenticated());
  h.send("exit\n\n");
  CAF_CHECK(h.session.closing());
}

CAF_TEST(a wrong password is refused with the disconnect notice and the socket closes) {
  replay_exactly("01b_auth_handshake_bad_password");
  harness h;
  h.send("auth WrongPassword\n\n");
  CAF_CHECK(h.session.closing());
  CAF_CHECK(!h.session.authenticated());
  CAF_CHECK_EQUAL(h.send("api status\n\n"), "");
}

CAF_TEST(a command before auth is refused and the socket stays open) {
  replay_exactly("01c_command_before_auth");
  harness h;
  h.send("api status\n\n");
  CAF_CHECK(!h.session.closing());
  CAF_CHECK_EQUAL(h.send("auth ClueCon\n\n"),
                  "Content-Type: command/reply\nReply-Text: +OK accepted\n\n");
}

// -- api ---------------------------------------------------------------------------------------

CAF_TEST(api answers status version show usage errors and unknown commands as captured) {
  replay_exactly("02_api_responses");
}

CAF_TEST(status reports the uptime the clock says and its singular units) {
  harness h;
  h.send("auth ClueCon\n\n");
  h.now = capture_day_us + 86'400'000'000LL * 366 + 3'600'000'000LL + 60'000'000 + 1'001'001;
  auto body = body_of(h.send("api status\n\n"));
  CAF_CHECK(starts_with(body, "UP 1 year, 1 day, 1 hour, 1 minute, 1 second, 1 millisecond, "
                              "1 microsecond\n"));
}

// -- command replies -------------------------------------------------------------------------

CAF_TEST(event filter log and socket commands reply as captured) {
  replay_exactly("03_command_replies");
}

CAF_TEST(event subscriptions decide which events a session receives) {
  harness h;
  h.send("auth ClueCon\n\n");
  h.send("event plain CHANNEL_CREATE\n\n");
  auto nothing = h.send("bgapi version\n\n");
  CAF_CHECK_EQUAL(split_frames(nothing).size(), 1u);
  h.send("event plain BACKGROUND_JOB\n\n");
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi version\n\n")).size(), 2u);
  h.send("nixevent BACKGROUND_JOB\n\n");
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi version\n\n")).size(), 1u);
  h.send("event json all\n\n");
  auto json = split_frames(h.send("bgapi version\n\n"));
  CAF_REQUIRE_EQUAL(json.size(), 2u);
  CAF_CHECK(json[1].find("Content-Type: text/event-json") != std::string::npos);
  h.send("filter Job-UUID 11111111-2222-3333-4444-555555555555\n\n");
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi version\n\n")).size(), 1u);
  auto matching = split_frames(
    h.send("bgapi version\nJob-UUID: 11111111-2222-3333-4444-555555555555\n\n"));
  CAF_CHECK_EQUAL(matching.size(), 2u);
  h.send("filter delete all\n\n");
  // A negative filter drops what a positive one lets through (mod_event_socket's '-' prefix).
  h.send("filter Event-Name BACKGROUND_JOB\n\nfilter Job-Command -Version\n\n");
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi version\n\n")).size(), 1u);
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi status\n\n")).size(), 2u);
  h.send("filter delete all\n\n");
  h.send("noevents\n\n");
  CAF_CHECK_EQUAL(split_frames(h.send("bgapi version\n\n")).size(), 1u);
}

// -- bgapi -------------------------------------------------------------------------------------

CAF_TEST(bgapi replies with the Job-UUID and delivers BACKGROUND_JOB as captured) {
  harness h;
  for (const auto& step : exchanges("04_call_plain_events")) {
    if (step.command == "auth ClueCon\n\n" || starts_with(step.command, "event plain")) {
      h.send(step.command);
      continue;
    }
    bool generated = step.command == "bgapi status\n\n";
    bool unknown = step.command == "bgapi nosuchcommand\n\n";
    if (!generated && !unknown)
      continue;
    CAF_MESSAGE("command " << step.command);
    auto ours = split_frames(h.send(step.command));
    std::vector<std::string> theirs;
    for (const auto& reply : step.replies)
      if (is_reply(reply) || reply.find("Event-Name: BACKGROUND_JOB") != std::string::npos)
        theirs.push_back(reply);
    CAF_REQUIRE_EQUAL(ours.size(), theirs.size());
    for (std::size_t j = 0; j < ours.size(); ++j)
      CAF_CHECK_EQUAL(mask(ours[j]), mask(theirs[j]));
    if (unknown) // nothing varies in the job's body
      CAF_CHECK(ours[1].ends_with("\n\n-ERR nosuchcommand Command not found!\n"));
  }
}

CAF_TEST(bgapi echoes a caller-chosen Job-UUID) {
  harness h;
  h.send("auth ClueCon\n\nevent plain BACKGROUND_JOB\n\n");
  auto frames = split_frames(
    h.send("bgapi uuid_exists ca98311e-c235-46ed-93fd-9458df2614e4\n"
           "Job-UUID: 11111111-2222-3333-4444-555555555555\n\n"));
  CAF_REQUIRE_EQUAL(frames.size(), 2u);
  CAF_CHECK_EQUAL(frames[0], "Content-Type: command/reply\nReply-Text: +OK Job-UUID: "
                             "11111111-2222-3333-4444-555555555555\nJob-UUID: "
                             "11111111-2222-3333-4444-555555555555\n\n");
  CAF_CHECK(frames[1].find("\nJob-UUID: 11111111-2222-3333-4444-555555555555\nJob-Command: "
                           "uuid_exists\nJob-Command-Arg: ca98311e-c235-46ed-93fd-9458df2614e4\n"
                           "Content-Length: 5\n\nfalse")
            != std::string::npos);
}

CAF_TEST(a JSON BACKGROUND_JOB carries the body as _body as captured) {
  harness h;
  for (const auto& step : exchanges("09_json_background_job")) {
    if (step.command.empty() || step.command == "auth ClueCon\n\n"
        || starts_with(step.command, "event json")) {
      h.send(step.command);
      continue;
    }
    if (step.command != "bgapi status\n\n")
      continue;
    auto ours = split_frames(h.send(step.command));
    CAF_REQUIRE_EQUAL(ours.size(), 2u);
    CAF_REQUIRE(step.replies.size() >= 2u);
    CAF_CHECK_EQUAL(mask(ours[0]), mask(step.replies[0]));
    CAF_CHECK_EQUAL(mask(ours[1]), mask(step.replies[1]));
  }
}

// -- fsctl -------------------------------------------------------------------------------------

CAF_TEST(fsctl pause and resume change status and originate as captured) {
  harness h;
  std::size_t compared = 0;
  for (const auto& step : exchanges("15_fsctl_pause_resume")) {
    if (step.command.empty())
      continue;
    auto ours = split_frames(h.send(step.command));
    CAF_REQUIRE(!ours.empty());
    std::string theirs;
    for (const auto& reply : step.replies)
      if (is_reply(reply)) {
        theirs = reply;
        break;
      }
    CAF_REQUIRE(!theirs.empty());
    if (needs_channels(step.command, theirs)) {
      CAF_MESSAGE("not compared (needs channels): " << step.command);
      continue;
    }
    if (varies(step.command))
      CAF_CHECK_EQUAL(mask(ours[0]), mask(theirs));
    else
      CAF_CHECK_EQUAL(ours[0], theirs);
    ++compared;
  }
  CAF_CHECK(compared >= 20u);
}

CAF_TEST(status and ready_check say not ready while paused) {
  harness h;
  h.send("auth ClueCon\n\n");
  auto status = [&] { return body_of(h.send("api status\n\n")); };
  CAF_CHECK(status().find(") is ready\n") != std::string::npos);
  h.send("api fsctl pause\n\n");
  CAF_CHECK(status().find(") is not ready\n") != std::string::npos);
  CAF_CHECK_EQUAL(body_of(h.send("api fsctl ready_check\n\n")), "false");
  h.send("api fsctl resume\n\n");
  CAF_CHECK_EQUAL(body_of(h.send("api fsctl ready_check\n\n")), "true");
  CAF_CHECK_EQUAL(body_of(h.send("api fsctl shutdown_check\n\n")), "false");
}

CAF_TEST(fsctl shutdown with no calls shuts the switch down at once) {
  harness h;
  h.send("auth ClueCon\n\nevent plain BACKGROUND_JOB SHUTDOWN_REQUESTED SHUTDOWN\n\n");
  auto frames = split_frames(h.send("bgapi fsctl shutdown elegant\n\n"));
  CAF_REQUIRE_EQUAL(frames.size(), 4u);
  CAF_CHECK(frames[1].find("Event-Name: SHUTDOWN_REQUESTED\n") != std::string::npos);
  CAF_CHECK(frames[1].ends_with("Event-Calling-File: switch_core.c\nEvent-Calling-Function: "
                                "switch_core_session_ctl\nEvent-Calling-Line-Number: 2822\n"
                                "Event-Sequence: 1\nEvent-Info: elegant\n\n"));
  CAF_CHECK(frames[2].ends_with("Job-Command: fsctl\nJob-Command-Arg: shutdown%20elegant\n"
                                "Content-Length: 4\n\n+OK\n"));
  CAF_CHECK(frames[3].ends_with("Event-Calling-File: switch_core.c\nEvent-Calling-Function: "
                                "switch_core_destroy\nEvent-Calling-Line-Number: 3023\n"
                                "Event-Sequence: 3\nEvent-Info: System%20Shutting%20Down\n\n"));
  CAF_CHECK(h.core.halted());
  auto recorded = test_support::load_capture("19_fsctl_shutdown_elegant_final");
  CAF_CHECK_EQUAL(recorded.entries.back().bytes, fsemu::inbound_session::shutdown_notice());
}

CAF_TEST(api fsctl shutdown elegant with a call up blocks until the call is gone) {
  harness h;
  h.send("auth ClueCon\n\n");
  h.send("event plain CHANNEL_HANGUP_COMPLETE\n\n");
  auto originated = h.core.api("originate loopback/1000/default &park()", h.now);
  CAF_REQUIRE(originated.rfind("+OK ", 0) == 0);
  (void)h.core.take_events(h.now);
  // Capture 16a: no reply while the call is up; events wait behind the api call.
  CAF_CHECK_EQUAL(h.send("api fsctl shutdown elegant\n\n"), "");
  CAF_CHECK(h.session.blocked());
  std::string out;
  CAF_CHECK(!h.session.release(out));
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + originated.substr(4, 36), h.now), "+OK\n");
  for (const auto& ev : h.core.take_events(h.now))
    h.session.deliver(ev, out);
  CAF_CHECK_EQUAL(out, "");
  // The wait ends at the first 500 ms check after the last hangup.
  h.core.advance(h.now + 500'000);
  CAF_REQUIRE(h.session.release(out));
  CAF_CHECK(!h.session.blocked());
  CAF_CHECK(out.rfind("Content-Type: api/response\nContent-Length: 4\n\n+OK\n", 0) == 0);
  CAF_CHECK(out.find("Event-Name: CHANNEL_HANGUP_COMPLETE") != std::string::npos);
}

CAF_TEST(api fsctl shutdown elegant with no call answers at once) {
  harness h;
  h.send("auth ClueCon\n\n");
  CAF_CHECK_EQUAL(h.send("api fsctl shutdown elegant\n\n"),
                  "Content-Type: api/response\nContent-Length: 4\n\n+OK\n");
  CAF_CHECK(!h.session.blocked());
}
