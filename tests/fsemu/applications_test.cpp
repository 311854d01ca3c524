#define CAF_SUITE fsemu.applications

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "frame_comparison.hpp" // also esl frames, switch_core, <regex>, <string>, <vector>
#include "switch_harness.hpp"

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// play_and_get_digits, the application queue (sendmsg while an application runs, uuid_break
// [all]) and bridges between fsemu channels (uuid_bridge, the bridge application,
// hangup_after_bridge / park_after_bridge), on a switch_core driven with explicit times. No
// capture covers these; the expectations follow FreeSWITCH 1.10's mod_dptools,
// switch_ivr_play_say.c, switch_ivr.c and switch_ivr_bridge.c.

constexpr std::int64_t second = 1'000'000;
constexpr std::int64_t ms = 1'000;

struct harness : switch_harness {
  harness() : switch_harness(config_with_prompts()) {}
  static fsemu::switch_config config_with_prompts() {
    auto c = captured_switch_config(11);
    c.prompt_lengths_us["ivr/menu.wav"] = 2 * second;
    c.prompt_lengths_us["ivr/bad.wav"] = 1 * second;
    return c;
  }
};

} // namespace

// -- play_and_get_digits -----------------------------------------------------------------------

CAF_TEST(play_and_get_digits collects digits after the prompt and sets the variable) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.execute(uuid, "play_and_get_digits",
                            "1 4 3 5000 # ivr/menu.wav ivr/bad.wav choice \\d+ 2000", "pagd-1"),
                  "+OK");
  std::vector<std::string> started{"CHANNEL_EXECUTE", "PLAYBACK_START"};
  CAF_CHECK_EQUAL(h.names(), started);
  CAF_CHECK_EQUAL(h.header(h.events[0], "Application"), "play_and_get_digits");
  CAF_CHECK_EQUAL(h.header(h.events[0], "Application-UUID"), "pagd-1");
  CAF_CHECK_EQUAL(h.header(h.events[1], "Playback-File-Path"), "ivr/menu.wav");
  // The prompt lasts 2 s; then the digits.
  h.run_until(h.now + 2 * second);
  CAF_REQUIRE(h.last("PLAYBACK_STOP") != nullptr);
  CAF_CHECK_EQUAL(h.header(*h.last("PLAYBACK_STOP"), "Playback-Status"), "done");
  h.run_until(h.now + 1 * second);
  h.press(uuid, "12#");
  std::vector<std::string> expected{"CHANNEL_EXECUTE", "PLAYBACK_START", "PLAYBACK_STOP", "DTMF",
                                    "DTMF",            "DTMF",           "CHANNEL_EXECUTE_COMPLETE"};
  CAF_CHECK_EQUAL(h.names(), expected);
  const auto* complete = h.last("CHANNEL_EXECUTE_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Application"), "play_and_get_digits");
  CAF_CHECK_EQUAL(h.header(*complete, "Application-Response"), "_none_");
  CAF_CHECK_EQUAL(h.header(*complete, "Application-UUID"), "pagd-1");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_choice"), "12");
  CAF_CHECK_EQUAL(h.variable(uuid, "read_result"), "success");
  CAF_CHECK_EQUAL(h.variable(uuid, "read_terminator_used"), "#");
  // Still parked, nothing else pending.
  CAF_CHECK_EQUAL(h.count("CHANNEL_UNPARK"), 0u);
  h.run_until(h.now + 30 * second);
  CAF_CHECK_EQUAL(h.events.size(), expected.size());
}

CAF_TEST(a digit during the prompt breaks it and counts as the first digit) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "play_and_get_digits", "2 2 1 5000 # ivr/menu.wav ivr/bad.wav choice");
  h.events.clear();
  h.run_until(h.now + 500 * ms);
  h.press(uuid, "5");
  const auto* stop = h.last("PLAYBACK_STOP");
  CAF_REQUIRE(stop != nullptr);
  CAF_CHECK_EQUAL(h.header(*stop, "Playback-Status"), "break");
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 0u);
  h.run_until(h.now + 4 * second);
  h.press(uuid, "6");
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 1u);
  CAF_CHECK_EQUAL(h.variable(uuid, "choice"), "56");
  CAF_CHECK_EQUAL(h.variable(uuid, "read_result"), "success");
}

CAF_TEST(digits that fail the regexp go to the invalid variable and the invalid file plays) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  h.execute(uuid, "play_and_get_digits", "2 2 2 3000 # ivr/menu.wav ivr/bad.wav choice ^1");
  h.run_until(h.now + 2 * second);
  h.press(uuid, "34");
  CAF_CHECK_EQUAL(h.variable(uuid, "choice"), "<unset>");
  CAF_CHECK_EQUAL(h.variable(uuid, "choice_invalid"), "34");
  std::vector<std::string> files{"ivr/menu.wav", "ivr/bad.wav"};
  CAF_CHECK_EQUAL(h.prompts(), files);
  // The invalid file lasts 1 s, then the second try's prompt.
  h.run_until(h.now + 1 * second);
  files.push_back("ivr/menu.wav");
  CAF_CHECK_EQUAL(h.prompts(), files);
  h.run_until(h.now + 2 * second);
  h.press(uuid, "12");
  CAF_CHECK_EQUAL(h.variable(uuid, "choice"), "12");
  CAF_CHECK_EQUAL(h.variable(uuid, "choice_invalid"), "34");
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 1u);
}

CAF_TEST(silence uses up the tries and transfer_on_failure moves the call) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  auto started = h.now;
  h.execute(uuid, "play_and_get_digits",
            "1 1 2 2000 # ivr/menu.wav ivr/bad.wav choice \\d 1000 9197 XML default");
  // Per try: the prompt (2 s), the wait for a first digit (timeout 2 s), the invalid file (1 s).
  h.run_until(started + 10 * second - 1);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 0u);
  h.run_until(started + 10 * second);
  std::vector<std::string> files{"ivr/menu.wav", "ivr/bad.wav", "ivr/menu.wav", "ivr/bad.wav",
                                 "tone_stream://%(1000,0,440);loops=2"};
  CAF_CHECK_EQUAL(h.prompts(), files);
  CAF_CHECK_EQUAL(h.variable(uuid, "read_result"), "failure");
  // The application completes, the park ends, the call routes to 9197.
  std::vector<std::string> after;
  bool seen = false;
  for (const auto& ev : h.events) {
    if (ev.name == "CHANNEL_EXECUTE_COMPLETE" && h.header(ev, "Application") == "play_and_get_digits")
      seen = true;
    if (seen)
      after.push_back(ev.name + (ev.name == "CHANNEL_EXECUTE" || ev.name == "CHANNEL_EXECUTE_COMPLETE"
                                   ? " " + h.header(ev, "Application")
                                   : std::string{}));
  }
  std::vector<std::string> expected{"CHANNEL_EXECUTE_COMPLETE play_and_get_digits",
                                    "CHANNEL_UNPARK",
                                    "CHANNEL_EXECUTE_COMPLETE park",
                                    "CHANNEL_STATE",
                                    "CHANNEL_STATE",
                                    "CHANNEL_EXECUTE playback",
                                    "PLAYBACK_START"};
  CAF_CHECK_EQUAL(after, expected);
  const auto* playing = h.last("PLAYBACK_START");
  CAF_REQUIRE(playing != nullptr);
  CAF_CHECK_EQUAL(h.header(*playing, "Caller-Destination-Number"), "9197");
  // The tone ends the call.
  h.run_until(h.now + 3 * second);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(a timeout with enough digits is accepted with read_result timeout) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  h.execute(uuid, "play_and_get_digits", "1 4 1 3000 # silence ivr/bad.wav choice");
  // No prompt: the first-digit wait starts at once (3 s); then 3 s per digit.
  h.run_until(h.now + 2 * second);
  h.press(uuid, "4");
  h.run_until(h.now + 2 * second);
  h.press(uuid, "2");
  h.run_until(h.now + 3 * second - 1);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 0u);
  h.run_until(h.now + 1);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 1u);
  CAF_CHECK_EQUAL(h.variable(uuid, "choice"), "42");
  CAF_CHECK_EQUAL(h.variable(uuid, "read_result"), "timeout");
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 0u);
}

CAF_TEST(uuid_break cuts the prompt of play_and_get_digits and the digit wait begins) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "play_and_get_digits", "1 1 1 2000 # ivr/menu.wav ivr/bad.wav choice");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_break " + uuid, h.now), "+OK\n");
  h.collect();
  std::vector<std::string> broken{"PLAYBACK_STOP"};
  CAF_CHECK_EQUAL(h.names(), broken);
  h.press(uuid, "7");
  CAF_CHECK_EQUAL(h.variable(uuid, "choice"), "7");
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 1u);
}

CAF_TEST(a hangup during play_and_get_digits stops the prompt and completes the application) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "play_and_get_digits", "1 1 3 2000 # ivr/menu.wav ivr/bad.wav choice");
  h.events.clear();
  CAF_CHECK(h.core.remote_hang_up(uuid, "", h.now));
  h.collect();
  auto names = h.names();
  CAF_REQUIRE(names.size() >= 4u);
  std::vector<std::string> first{names.begin(), names.begin() + 4};
  std::vector<std::string> expected{"CHANNEL_HANGUP", "PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE",
                                    "CHANNEL_UNPARK"};
  CAF_CHECK_EQUAL(first, expected);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
  // Nothing of it is left to run.
  h.run_until(h.now + 10 * second);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 0u);
}

// -- the application queue ---------------------------------------------------------------------

CAF_TEST(applications sent while a playback runs wait for it and run in order) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.execute(uuid, "playback", "ivr/menu.wav", "first"), "+OK");
  CAF_CHECK_EQUAL(h.execute(uuid, "set", "step=two", "second"), "+OK");
  CAF_CHECK_EQUAL(h.execute(uuid, "playback", "tone_stream://%(500,0,440)", "third"), "+OK");
  std::vector<std::string> running{"CHANNEL_EXECUTE", "PLAYBACK_START"};
  CAF_CHECK_EQUAL(h.names(), running);
  CAF_CHECK_EQUAL(h.variable(uuid, "step"), "<unset>");
  h.run_until(h.now + 2 * second);
  std::vector<std::string> next{"CHANNEL_EXECUTE", "PLAYBACK_START", "PLAYBACK_STOP",
                                "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_EXECUTE",
                                "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_EXECUTE", "PLAYBACK_START"};
  CAF_CHECK_EQUAL(h.names(), next);
  CAF_CHECK_EQUAL(h.variable(uuid, "step"), "two");
  std::vector<std::string> ids;
  for (const auto& ev : h.events)
    if (ev.name == "CHANNEL_EXECUTE")
      ids.push_back(h.header(ev, "Application-UUID"));
  std::vector<std::string> order{"first", "second", "third"};
  CAF_CHECK_EQUAL(ids, order);
  h.run_until(h.now + 500 * ms);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_STOP"), 2u);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 3u);
}

CAF_TEST(uuid_break ends the running application and the next queued one starts) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "playback", "ivr/menu.wav");
  h.execute(uuid, "playback", "tone_stream://%(500,0,440)");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_break " + uuid, h.now), "+OK\n");
  h.collect();
  std::vector<std::string> expected{"PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_EXECUTE",
                                    "PLAYBACK_START"};
  CAF_CHECK_EQUAL(h.names(), expected);
  CAF_REQUIRE_EQUAL(h.events.size(), 4u);
  CAF_CHECK_EQUAL(h.header(h.events[0], "Playback-Status"), "break");
  CAF_CHECK_EQUAL(h.header(h.events[3], "Playback-File-Path"), "tone_stream://%(500,0,440)");
}

CAF_TEST(uuid_break all also drops the queued applications) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "playback", "ivr/menu.wav");
  h.execute(uuid, "playback", "tone_stream://%(500,0,440)");
  h.execute(uuid, "set", "never=run");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_break " + uuid + " all", h.now), "+OK\n");
  h.collect();
  std::vector<std::string> expected{"PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE"};
  CAF_CHECK_EQUAL(h.names(), expected);
  h.run_until(h.now + 5 * second);
  CAF_CHECK_EQUAL(h.names(), expected);
  CAF_CHECK_EQUAL(h.variable(uuid, "never"), "<unset>");
  // The channel is parked and takes new applications at once.
  h.execute(uuid, "set", "later=yes");
  CAF_CHECK_EQUAL(h.variable(uuid, "later"), "yes");
}

CAF_TEST(uuid_transfer interrupts a running playback instead of waiting) {
  harness h;
  auto uuid = h.call("1000");
  h.execute(uuid, "playback", "ivr/menu.wav");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_transfer " + uuid + " 9197", h.now), "+OK\n");
  h.collect();
  CAF_REQUIRE(!h.events.empty());
  CAF_CHECK_EQUAL(h.events[0].name, "PLAYBACK_STOP");
  CAF_CHECK_EQUAL(h.header(h.events[0], "Playback-Status"), "break");
  const auto* playing = h.last("PLAYBACK_START");
  CAF_REQUIRE(playing != nullptr);
  CAF_CHECK_EQUAL(h.header(*playing, "Caller-Destination-Number"), "9197");
}

// -- bridges -------------------------------------------------------------------------------------

CAF_TEST(uuid_bridge bridges two parked calls with the Other-Leg headers) {
  harness h;
  auto a = h.call("1000", {}, "5550001");
  auto b = h.call("1000", {}, "5550002");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " " + b, h.now), "+OK " + b + "\n");
  h.collect();
  // Both leave their park, go through CS_HIBERNATE, CS_RESET, CS_SOFT_EXECUTE, fire
  // CHANNEL_EXECUTE uuid_bridge, and the originator's CHANNEL_BRIDGE follows.
  std::vector<std::string> a_events{"CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE",
                                    "CHANNEL_STATE",  "CHANNEL_STATE",            "CHANNEL_EXECUTE",
                                    "CHANNEL_BRIDGE"};
  CAF_CHECK_EQUAL(h.names(a), a_events);
  std::vector<std::string> b_events{"CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE",
                                    "CHANNEL_STATE",  "CHANNEL_STATE",            "CHANNEL_EXECUTE",
                                    "CHANNEL_STATE",  "CHANNEL_STATE"};
  CAF_CHECK_EQUAL(h.names(b), b_events);
  const auto* execute = h.last("CHANNEL_EXECUTE", a);
  CAF_REQUIRE(execute != nullptr);
  CAF_CHECK_EQUAL(h.header(*execute, "Application"), "uuid_bridge");
  CAF_CHECK_EQUAL(h.header(*execute, "Application-Data"), b);
  const auto* bridged = h.last("CHANNEL_BRIDGE");
  CAF_REQUIRE(bridged != nullptr);
  CAF_CHECK_EQUAL(h.header(*bridged, "Bridge-A-Unique-ID"), a);
  CAF_CHECK_EQUAL(h.header(*bridged, "Bridge-B-Unique-ID"), b);
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Type"), "originatee");
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Leg-Unique-ID"), b);
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Leg-Caller-ID-Number"), "5550002");
  // The header order: Bridge-* before the channel data, Other-Leg-* after the caller profile.
  std::vector<std::string> order;
  for (const auto& header : h.core.renderer().headers(bridged->input()))
    order.push_back(header.name);
  auto at = [&](std::string_view name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  CAF_CHECK_LESS(at("Event-Sequence"), at("Bridge-A-Unique-ID"));
  CAF_CHECK_LESS(at("Bridge-B-Unique-ID"), at("Channel-State"));
  CAF_CHECK_LESS(at("Caller-Channel-Name"), at("Other-Type"));
  CAF_CHECK_LESS(at("Other-Type"), at("Other-Leg-Unique-ID"));
  const auto* state = h.last("CHANNEL_STATE", b);
  CAF_REQUIRE(state != nullptr);
  CAF_CHECK_EQUAL(h.header(*state, "Channel-State"), "CS_EXCHANGE_MEDIA");
  CAF_CHECK_EQUAL(h.variable(a, "bridge_to"), b);
  CAF_CHECK_EQUAL(h.variable(b, "bridge_to"), a);
  CAF_CHECK_EQUAL(h.variable(a, "signal_bond"), b);
  CAF_CHECK_EQUAL(h.variable(b, "call_uuid"), a);
  const auto* peer = h.core.channel(b);
  CAF_REQUIRE(peer != nullptr);
  CAF_REQUIRE(peer->other_leg.has_value());
  CAF_CHECK_EQUAL(peer->other_leg->type, "originator");
  CAF_CHECK_EQUAL(peer->other_leg->profile.unique_id, a);
}

CAF_TEST(uuid_bridge answers its usage and refuses unknown channels) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge", h.now), "-USAGE: <uuid> <other_uuid>\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a, h.now), "-USAGE: <uuid> <other_uuid>\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " 00000000-0000-0000-0000-000000000000", h.now),
                  "-ERR Invalid uuid\n");
  // The third uuid is tried when the second does not exist.
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " 00000000-0000-0000-0000-000000000000 " + b,
                             h.now),
                  "+OK " + b + "\n");
}

CAF_TEST(when the peer of a uuid_bridge hangs up the originator ends with NORMAL_CLEARING) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " " + b, h.now), "+OK " + b + "\n");
  h.collect();
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.sendmsg(b, "hangup", {}, "USER_BUSY", {}, h.now), "+OK");
  h.collect();
  const auto* unbridged = h.last("CHANNEL_UNBRIDGE");
  CAF_REQUIRE(unbridged != nullptr);
  CAF_CHECK_EQUAL(unbridged->channel->uuid, a);
  CAF_CHECK_EQUAL(h.header(*unbridged, "Bridge-B-Unique-ID"), b);
  CAF_CHECK_EQUAL(h.header(*unbridged, "variable_bridge_hangup_cause"), "USER_BUSY");
  // Without hangup_after_bridge the originator's extension has nothing left to run.
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE", a);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "NORMAL_CLEARING");
  CAF_CHECK(h.header(*done, "variable_bridge_epoch") != "0");
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(hangup_after_bridge hangs the originator up with the cause of its peer) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " " + b, h.now), "+OK " + b + "\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_setvar " + a + " hangup_after_bridge true", h.now), "+OK\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + b + " USER_BUSY", h.now), "+OK\n");
  h.collect();
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE", a);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "USER_BUSY");
}

CAF_TEST(park_after_bridge parks the originator again when its peer hangs up) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " " + b, h.now), "+OK " + b + "\n");
  // uuid_bridge clears park_after_bridge: set it afterwards.
  CAF_CHECK_EQUAL(h.core.api("uuid_setvar " + a + " park_after_bridge true", h.now), "+OK\n");
  h.collect();
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + b, h.now), "+OK\n");
  h.collect();
  CAF_CHECK(h.core.channel(a) != nullptr);
  CAF_CHECK_EQUAL(h.count("CHANNEL_PARK", a), 1u);
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
  // Parked by its state: the hangup ends the park without an application to complete.
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + a, h.now), "+OK\n");
  h.collect();
  CAF_CHECK_EQUAL(h.count("CHANNEL_UNPARK", a), 1u);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE", a), 0u);
}

CAF_TEST(when the originator hangs up its peer ends with NORMAL_CLEARING) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_bridge " + a + " " + b, h.now), "+OK " + b + "\n");
  h.collect();
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + a + " CALL_REJECTED", h.now), "+OK\n");
  h.collect();
  // The originator's CHANNEL_UNBRIDGE follows its CHANNEL_HANGUP.
  auto names = h.names(a);
  CAF_REQUIRE(names.size() >= 2u);
  CAF_CHECK_EQUAL(names[0], "CHANNEL_HANGUP");
  CAF_CHECK_EQUAL(names[1], "CHANNEL_UNBRIDGE");
  const auto* peer_done = h.last("CHANNEL_HANGUP_COMPLETE", b);
  CAF_REQUIRE(peer_done != nullptr);
  CAF_CHECK_EQUAL(h.header(*peer_done, "Hangup-Cause"), "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(h.header(*peer_done, "variable_bridge_hangup_cause"), "CALL_REJECTED");
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(the bridge application carries Other-Leg headers and honours hangup_after_bridge) {
  harness h;
  auto x = h.call("1000");
  h.execute(x, "set", "hangup_after_bridge=true");
  h.events.clear();
  CAF_CHECK_EQUAL(h.execute(x, "bridge", "loopback/1000"), "+OK");
  const auto* bridged = h.last("CHANNEL_BRIDGE");
  CAF_REQUIRE(bridged != nullptr);
  auto far_end = h.header(*bridged, "Bridge-B-Unique-ID");
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Type"), "originatee");
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Leg-Unique-ID"), far_end);
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Leg-Channel-Name"), "loopback/1000-a");
  CAF_CHECK_EQUAL(h.variable(x, "DIALSTATUS"), "SUCCESS");
  // Applications sent during the bridge wait for it.
  h.execute(x, "set", "queued=yes");
  CAF_CHECK_EQUAL(h.variable(x, "queued"), "<unset>");
  CAF_CHECK_EQUAL(h.core.session_count(), 3u);
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + far_end + " USER_BUSY", h.now), "+OK\n");
  h.collect();
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE", x);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "USER_BUSY");
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(a bridge dial string may start with variable blocks) {
  harness h;
  auto x = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.execute(x, "bridge", "{originate_timeout=60}[leg_timeout=20]loopback/1000"),
                  "+OK");
  const auto* bridged = h.last("CHANNEL_BRIDGE");
  CAF_REQUIRE(bridged != nullptr);
  CAF_CHECK_EQUAL(h.header(*bridged, "Other-Leg-Channel-Name"), "loopback/1000-a");
  CAF_CHECK_EQUAL(h.variable(x, "DIALSTATUS"), "SUCCESS");
}

CAF_TEST(without hangup_after_bridge the bridge application returns to the park) {
  harness h;
  auto x = h.call("1000");
  h.execute(x, "bridge", "loopback/1000");
  const auto* bridged = h.last("CHANNEL_BRIDGE");
  CAF_REQUIRE(bridged != nullptr);
  auto far_end = h.header(*bridged, "Bridge-B-Unique-ID");
  h.execute(x, "set", "queued=yes");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_kill " + far_end + " USER_BUSY", h.now), "+OK\n");
  h.collect();
  CAF_CHECK(h.core.channel(x) != nullptr);
  CAF_CHECK_EQUAL(h.variable(x, "bridge_hangup_cause"), "USER_BUSY");
  // The bridge completes and the queued application runs.
  CAF_CHECK_EQUAL(h.variable(x, "queued"), "yes");
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
}

// -- hupall with a variable ----------------------------------------------------------------------

CAF_TEST(hupall with a variable and a value hangs up only the matching calls) {
  harness h;
  auto a = h.call("1000");
  auto b = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_setvar " + a + " campaign 42", h.now), "+OK\n");
  CAF_CHECK_EQUAL(h.core.api("hupall USER_BUSY campaign 42", h.now),
                  "+OK hangup all channels matching [campaign]=[42] with cause USER_BUSY\n");
  h.collect();
  CAF_CHECK(h.core.channel(a) == nullptr);
  CAF_CHECK(h.core.channel(b) != nullptr);
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE", a);
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "USER_BUSY");
}

// -- originate to an extension ---------------------------------------------------------------

CAF_TEST(originate to an extension routes the A leg through the dialplan) {
  harness h;
  auto reply = h.core.api("originate loopback/1000 9197 XML default", h.now);
  CAF_REQUIRE_EQUAL(reply.size(), 41u);
  CAF_CHECK_EQUAL(reply.substr(0, 4), "+OK ");
  auto a_leg = reply.substr(4, 36);
  h.collect();
  // The B leg parks at 1000; the A leg is transferred to 9197 and plays its tone.
  const auto* playing = h.last("PLAYBACK_START", a_leg);
  CAF_REQUIRE(playing != nullptr);
  CAF_CHECK_EQUAL(h.header(*playing, "Caller-Destination-Number"), "9197");
  CAF_CHECK_EQUAL(h.header(*playing, "Channel-Name"), "loopback/1000-a");
  CAF_CHECK_EQUAL(h.core.session_count(), 2u);
  // The tone ends and hangs the A leg up; its loopback partner follows.
  h.run_until(h.now + 2 * second);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
  // An extension the dialplan does not have: originate succeeds, the A leg hangs up.
  auto lost = h.core.api("originate loopback/1000 4711", h.now);
  CAF_CHECK_EQUAL(lost.substr(0, 4), "+OK ");
  h.collect();
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE", lost.substr(4, 36));
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "NO_ROUTE_DESTINATION");
}

CAF_TEST(uuid_setvar keeps the spaces of its value as mod_commands splits it) {
  harness h;
  auto a = h.call("1000");
  CAF_CHECK_EQUAL(h.core.api("uuid_setvar " + a + " greeting hello big world", h.now), "+OK\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_getvar " + a + " greeting", h.now), "hello big world");
  CAF_CHECK_EQUAL(h.core.api("uuid_setvar " + a, h.now), "-USAGE: <uuid> <var> [value]\n");
}
