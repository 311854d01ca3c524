#define CAF_SUITE fsemu.outbound

#include <caf/test/unit_test.hpp>

#include <optional>

#include "capture_transcript.hpp"
#include "frame_comparison.hpp" // also esl frames, switch_core, <algorithm>, <string>, <vector>
#include "outbound_session.hpp"

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// -- harness ------------------------------------------------------------------------------------
//
// The outbound captures 11, 11b, 12 and 13 are replayed into an outbound_session_logic for the
// B leg of `originate loopback/8084/default &park()` on a switch_core set up like the captured
// FreeSWITCH (its socket connector always connects), with the clock following the transcript.
// Frames are compared by structure with compare_frames (frame_comparison.hpp), as in
// channels_test.cpp.

fsemu::switch_config capture_config() { return captured_switch_config(11); }

struct harness {
  fsemu::switch_core core{capture_config(), capture_day_us};
  std::vector<std::string> connects;
  std::optional<fsemu::outbound_session_logic> session;
  std::int64_t start = capture_day_us + 480'000'000;
  std::int64_t now = start;

  /// Originates `call` at `seconds_before` before the transcript's time 0; the socket connector
  /// records the channel and the session for it is created.
  explicit harness(std::string_view call, double seconds_before = 0) {
    core.set_socket_connector([this](std::string_view uuid, std::string_view address) {
      CAF_CHECK_EQUAL(address, "127.0.0.1:8084");
      connects.emplace_back(uuid);
      return true;
    });
    auto reply = core.api("originate " + std::string{call},
                          start - static_cast<std::int64_t>(seconds_before * 1e6));
    CAF_REQUIRE(reply.rfind("+OK ", 0) == 0);
    CAF_REQUIRE_EQUAL(connects.size(), 1u);
    (void)core.take_events(now);
    session.emplace(core, connects.front());
  }

  void at(double seconds) { now = start + static_cast<std::int64_t>(seconds * 1e6); }

  /// Runs the switch's and the session's due work up to `now`, in time order, and returns what
  /// the session sends.
  std::string advance() {
    std::string out;
    while (true) {
      auto due = core.next_due();
      auto linger = session->next_due();
      std::int64_t next = now;
      if (due && *due < next)
        next = *due;
      if (linger && *linger < next)
        next = *linger;
      core.advance(next);
      for (const auto& ev : core.take_events(next))
        session->deliver(ev, out);
      session->advance(next, out);
      if (next == now)
        break;
    }
    return out;
  }

  std::string send(std::string_view wire) {
    std::string out = advance();
    send_commands(wire, core, *session, now, out);
    return out;
  }
};

bool is_park(const std::string& frame) {
  return frame.find("\n\nEvent-Name: CHANNEL_PARK\n") != std::string::npos;
}

/// Replays the `>>>` frames of capture `name` and returns what the session sent, and the
/// captured `<<<` frames. `kill_at` (seconds): the call is killed from elsewhere then (12).
/// CHANNEL_PARK is left out of the captured frames: mod_event_socket parks the channel right
/// after `connect` and whether that event reaches the socket is a race (11 and 11b show it after
/// myevents, 12 does not); fsemu parks before any myevents can be on, as in 12.
std::pair<std::vector<std::string>, std::vector<std::string>>
replay(const std::string& name, harness& h, std::optional<double> kill_at = std::nullopt,
       std::string_view kill_cause = "CALL_REJECTED") {
  auto recorded = test_support::load_capture(name);
  // Commands naming the captured channel name ours instead.
  std::string captured_uuid;
  for (const auto& entry : recorded.entries) {
    auto at = entry.bytes.find("\nChannel-Unique-ID: ");
    if (entry.from_freeswitch && at != std::string::npos) {
      captured_uuid = entry.bytes.substr(at + 20, 36);
      break;
    }
  }
  CAF_REQUIRE_EQUAL(captured_uuid.size(), 36u);
  std::string ours;
  bool killed = false;
  double last = 0;
  for (const auto& entry : recorded.entries) {
    last = std::max(last, entry.time);
    if (entry.from_freeswitch)
      continue;
    if (kill_at && !killed && entry.time >= *kill_at) {
      h.at(*kill_at);
      ours += h.advance();
      CAF_CHECK_EQUAL(h.core.api("uuid_kill " + h.session->uuid() + " " + std::string{kill_cause},
                                 h.now),
                      "+OK\n");
      killed = true;
    }
    h.at(entry.time);
    auto command = entry.bytes;
    for (auto at = command.find(captured_uuid); at != std::string::npos;
         at = command.find(captured_uuid))
      command.replace(at, captured_uuid.size(), h.session->uuid());
    ours += h.send(command);
  }
  if (kill_at && !killed) {
    h.at(*kill_at);
    ours += h.advance();
    CAF_CHECK_EQUAL(
      h.core.api("uuid_kill " + h.session->uuid() + " " + std::string{kill_cause}, h.now),
      "+OK\n");
  }
  h.at(last);
  ours += h.advance();
  auto theirs = recorded.received_frames();
  std::erase_if(theirs, is_park);
  return {split_frames(ours), theirs};
}

void compare_all(const std::vector<std::string>& ours, const std::vector<std::string>& theirs) {
  CAF_CHECK_EQUAL(ours.size(), theirs.size());
  auto n = std::min(ours.size(), theirs.size());
  for (std::size_t i = 0; i < n; ++i) {
    CAF_MESSAGE("frame " << i);
    compare_frames(ours[i], theirs[i], broadcast_or_dtmf_on_hangup);
  }
}

bool has_event(const std::vector<std::string>& frames, std::string_view name) {
  auto wanted = "\n\nEvent-Name: " + std::string{name} + "\n";
  return std::any_of(frames.begin(), frames.end(),
                     [&](const std::string& f) { return f.find(wanted) != std::string::npos; });
}

} // namespace

CAF_TEST(capture 11 replayed frame by frame with linger and no close) {
  harness h{"{origination_caller_id_number=5550001}loopback/8084/default &park()", 0};
  auto [ours, theirs] = replay("11_outbound_socket_linger", h);
  compare_all(ours, theirs);
  CAF_CHECK(!h.session->closing());
  CAF_CHECK(!h.session->next_due());
  CAF_CHECK(h.core.channel(h.session->uuid()) == nullptr);
}

CAF_TEST(capture 11b replayed frame by frame with linger 3 and the second notice) {
  harness h{"loopback/8084/default &park()"};
  auto [ours, theirs] = replay("11b_outbound_socket_linger_3s", h);
  compare_all(ours, theirs);
  CAF_CHECK(h.session->closing());
}

CAF_TEST(capture 12 replayed frame by frame without linger and no hangup complete) {
  harness h{"loopback/8084/default &park()"};
  auto [ours, theirs] = replay("12_outbound_socket_nolinger_remote_kill", h, 1.5);
  compare_all(ours, theirs);
  CAF_CHECK(!has_event(ours, "CHANNEL_HANGUP_COMPLETE"));
  CAF_CHECK(h.session->closing());
}

CAF_TEST(capture 13 replayed frame by frame with exit hanging up the channel) {
  harness h{"loopback/8084/default &park()"};
  auto [ours, theirs] = replay("13_outbound_socket_client_exit", h);
  compare_all(ours, theirs);
  CAF_CHECK(h.session->closing());
  CAF_CHECK(h.core.channel(h.session->uuid()) == nullptr);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(nothing is sent before connect) {
  harness h{"loopback/8084/default &park()"};
  CAF_CHECK_EQUAL(h.send("myevents\n\n"), "");
  CAF_CHECK(!h.session->connected());
  auto out = h.send("connect\n\n");
  CAF_CHECK(out.find("Event-Name: CHANNEL_DATA\n") == 0);
  CAF_CHECK(h.session->connected());
}

CAF_TEST(playback lasts the tone length and fires playback events to subscribers) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  CAF_CHECK_EQUAL(h.send("myevents\n\n"),
                  "Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n");
  auto sub = h.send("event plain PLAYBACK_START PLAYBACK_STOP\n\n");
  CAF_CHECK_EQUAL(sub, "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n");
  h.send("sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n");
  auto out = split_frames(h.send("sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
                                 "execute-app-arg: tone_stream://%(100,0,440);loops=2\n\n"));
  CAF_REQUIRE_EQUAL(out.size(), 3u);
  CAF_CHECK(has_event({out[1]}, "CHANNEL_EXECUTE"));
  CAF_CHECK(has_event({out[2]}, "PLAYBACK_START"));
  auto due = h.core.next_due();
  CAF_REQUIRE(due.has_value());
  std::int64_t due_at = due.value_or(0);
  CAF_CHECK_EQUAL(due_at, h.now + 200'000);
  h.at(0.199);
  CAF_CHECK_EQUAL(h.advance(), "");
  h.at(0.2);
  auto done = split_frames(h.advance());
  CAF_REQUIRE_EQUAL(done.size(), 2u);
  CAF_CHECK(has_event({done[0]}, "PLAYBACK_STOP"));
  CAF_CHECK(has_event({done[1]}, "CHANNEL_EXECUTE_COMPLETE"));
  CAF_CHECK(done[1].find("Application-Response: FILE%20PLAYED\n") != std::string::npos);
  // The call goes on under the socket's control.
  CAF_CHECK(h.core.channel(h.session->uuid()) != nullptr);
}

CAF_TEST(playback durations follow the tone spec or the configured file length) {
  CAF_CHECK_EQUAL(fsemu::playback_duration_us("tone_stream://%(100,0,440);loops=2", 7), 200'000);
  CAF_CHECK_EQUAL(fsemu::playback_duration_us("tone_stream://%(1000,0,440)", 7), 1'000'000);
  CAF_CHECK_EQUAL(fsemu::playback_duration_us("tone_stream://%(250,750,440);loops=3", 7),
                  3'000'000);
  CAF_CHECK_EQUAL(fsemu::playback_duration_us("/tmp/x.wav", 7), 7);
  CAF_CHECK_EQUAL(fsemu::playback_duration_us("tone_stream://%(100,0,440);loops=-1", 7), 0);
}

CAF_TEST(sendmsg hangup with linger ends with hangup complete and the linger notice) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  h.send("myevents\n\n");
  CAF_CHECK_EQUAL(h.send("linger\n\n"),
                  "Content-Type: command/reply\nReply-Text: +OK will linger\n\n");
  h.send("sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n");
  auto out = split_frames(
    h.send("sendmsg\ncall-command: execute\nexecute-app-name: hangup\nexecute-app-arg: USER_BUSY\n\n"));
  CAF_REQUIRE(!out.empty());
  CAF_CHECK(has_event(out, "CHANNEL_HANGUP_COMPLETE"));
  CAF_CHECK(out.back().find("Content-Disposition: linger\n") != std::string::npos);
  CAF_CHECK(out.back().find("Linger-Time: -1\n") != std::string::npos);
  CAF_CHECK(!h.session->closing());
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(without a connector or when it fails the socket call fails as in capture 14) {
  fsemu::switch_core core{capture_config(), capture_day_us};
  CAF_CHECK_EQUAL(core.api("originate loopback/8084/default &park()", capture_day_us),
                  "-ERR NORMAL_CLEARING\n");
  core.set_socket_connector([](std::string_view, std::string_view) { return false; });
  CAF_CHECK_EQUAL(core.api("originate loopback/8084/default &park()", capture_day_us),
                  "-ERR NORMAL_CLEARING\n");
  CAF_CHECK_EQUAL(core.session_count(), 0u);
}

CAF_TEST(a client that goes away hangs the channel up) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  h.session->client_gone(h.now);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(sendmsg takes the argument from a body and tags the events with Event-UUID) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  h.send("myevents\n\n");
  std::string arg = "fsemu_var=two words";
  auto out = split_frames(h.send("sendmsg\ncall-command: execute\nexecute-app-name: set\n"
                                 "Event-UUID: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n"
                                 "content-type: text/plain\ncontent-length: "
                                 + std::to_string(arg.size()) + "\n\n" + arg));
  CAF_REQUIRE_EQUAL(out.size(), 3u);
  CAF_CHECK_EQUAL(out[0], "Content-Type: command/reply\nReply-Text: +OK\n\n");
  for (std::size_t i = 1; i < 3; ++i) {
    CAF_CHECK(out[i].find("\nApplication: set\nApplication-Data: fsemu_var%3Dtwo%20words\n")
              != std::string::npos);
    CAF_CHECK(out[i].find("\nApplication-UUID: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n")
              != std::string::npos);
  }
  CAF_CHECK(has_event({out[1]}, "CHANNEL_EXECUTE"));
  CAF_CHECK(has_event({out[2]}, "CHANNEL_EXECUTE_COMPLETE"));
  CAF_CHECK_EQUAL(h.core.api("uuid_getvar " + h.session->uuid() + " fsemu_var", h.now),
                  "two words");
}

CAF_TEST(linger N closes N seconds after the hangup with the disconnect notice) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  CAF_CHECK_EQUAL(h.send("linger 2\n\n"),
                  "Content-Type: command/reply\nReply-Text: +OK will linger 2 seconds\n\n");
  auto out = h.send("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n");
  CAF_CHECK(out.find("Content-Disposition: linger\n") != std::string::npos);
  CAF_CHECK(out.find("Linger-Time: 2\n") != std::string::npos);
  CAF_CHECK(!h.session->closing());
  auto due = h.session->next_due();
  CAF_REQUIRE(due.has_value());
  std::int64_t due_at = due.value_or(0);
  CAF_CHECK_EQUAL(due_at, h.now + 2'000'000);
  h.at(1.9);
  CAF_CHECK_EQUAL(h.advance(), "");
  h.at(2.0);
  auto last = h.advance();
  CAF_CHECK(last.find("Content-Disposition: disconnect\nContent-Length: 67\n\n") != std::string::npos);
  CAF_CHECK(h.session->closing());
}

CAF_TEST(a channel that ends before connect closes the socket without a frame) {
  harness h{"loopback/8084/default &park()"};
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + h.session->uuid(), h.now), "+OK\n");
  CAF_CHECK_EQUAL(h.advance(), "");
  CAF_CHECK(h.session->closing());
  CAF_CHECK_EQUAL(h.send("connect\n\n"), "");
}

CAF_TEST(transfer on a socket channel ends the socket and runs the target extension) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  h.send("myevents\n\n");
  h.send("linger\n\n");
  h.send("sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n");
  auto sent = h.send("sendmsg\ncall-command: execute\nexecute-app-name: transfer\n"
                     "execute-app-arg: 9197 XML default\n\n");
  auto out = split_frames(sent + h.advance());
  CAF_CHECK(has_event(out, "CHANNEL_UNPARK"));
  auto plays = std::any_of(out.begin(), out.end(), [](const std::string& f) {
    return f.find("\nApplication: playback\n") != std::string::npos;
  });
  CAF_CHECK(plays);
  CAF_CHECK(!has_event(out, "CHANNEL_HANGUP"));
  const auto* channel = h.core.channel(h.session->uuid());
  CAF_REQUIRE(channel != nullptr);
  CAF_REQUIRE(channel->caller.has_value());
  CAF_CHECK_EQUAL(channel->caller->destination_number, "9197");
  // The 9197 tone lasts 2 s, then the extension hangs up; the socket sees the end and lingers.
  h.at(2.5);
  out = split_frames(h.advance());
  CAF_CHECK(has_event(out, "CHANNEL_HANGUP"));
  CAF_CHECK(has_event(out, "CHANNEL_HANGUP_COMPLETE"));
  CAF_REQUIRE(!out.empty());
  CAF_CHECK(out.back().find("Content-Disposition: linger\n") != std::string::npos);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(uuid_transfer of a socket channel to a parking extension keeps the call up) {
  harness h{"loopback/8084/default &park()"};
  h.send("connect\n\n");
  h.send("myevents\n\n");
  h.send("sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_transfer " + h.session->uuid() + " 1000 XML default", h.now),
                  "+OK\n");
  auto out = split_frames(h.advance());
  CAF_CHECK(has_event(out, "CHANNEL_PARK"));
  h.at(5);
  out = split_frames(h.advance());
  CAF_CHECK(!has_event(out, "CHANNEL_HANGUP"));
  CAF_CHECK_EQUAL(h.core.session_count(), 2u);
}
