#define CAF_SUITE fsemu.calls

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "frame_comparison.hpp" // also esl frames, switch_core, <regex>, <string>, <vector>
#include "inbound_session.hpp"
#include "outbound_session.hpp"
#include "switch_harness.hpp"

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// Inbound (SIP-like) channels, sendmsg on them, DTMF, park_timeout, uuid_break / uuid_transfer
// / uuid_broadcast and HEARTBEAT, on a switch_core driven directly with explicit times.

constexpr std::int64_t second = 1'000'000;

struct harness : switch_harness {
  harness() : switch_harness(config_with_prompts()) {}
  static fsemu::switch_config config_with_prompts() {
    auto c = captured_switch_config(5);
    c.prompt_lengths_us["ivr/welcome.wav"] = 3 * second;
    return c;
  }
};

} // namespace

CAF_TEST(an inbound SIP call to 1000 is answered and parked like a sofia channel) {
  harness h;
  auto uuid = h.call("1000");
  CAF_REQUIRE(!uuid.empty());
  std::vector<std::string> expected{"CHANNEL_STATE",  "CHANNEL_CREATE",   "CHANNEL_CALLSTATE",
                                    "CHANNEL_STATE",  "CHANNEL_STATE",    "CHANNEL_EXECUTE",
                                    "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "CHANNEL_EXECUTE_COMPLETE",
                                    "CHANNEL_EXECUTE", "CHANNEL_PARK"};
  CAF_CHECK_EQUAL(h.names(), expected);
  const auto* park = h.last("CHANNEL_PARK");
  CAF_REQUIRE(park != nullptr);
  CAF_CHECK_EQUAL(h.header(*park, "Channel-Name"), "sofia/internal/5551234@127.0.0.1:5070");
  CAF_CHECK_EQUAL(h.header(*park, "Call-Direction"), "inbound");
  CAF_CHECK_EQUAL(h.header(*park, "Caller-Source"), "mod_sofia");
  CAF_CHECK_EQUAL(h.header(*park, "Caller-Caller-ID-Name"), "Alice");
  CAF_CHECK_EQUAL(h.header(*park, "Caller-Destination-Number"), "1000");
  CAF_CHECK_EQUAL(h.header(*park, "Channel-Read-Codec-Name"), "PCMU");
  CAF_CHECK_EQUAL(h.header(*park, "variable_DP_MATCH"), "ARRAY::1000|:1000");
  CAF_CHECK_EQUAL(h.header(*park, "variable_current_application"), "park");
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);

  // An inbound event socket subscribed to CHANNEL_PARK sees it.
  fsemu::inbound_session session{h.core};
  std::string out;
  send_commands("auth ClueCon\n\nevent plain CHANNEL_PARK\n\n", h.core, session, h.now, out);
  out.clear();
  CAF_CHECK(session.deliver(*park, out));
  CAF_CHECK(out.find("Channel-Name: sofia/internal/5551234%40127.0.0.1%3A5070\n")
            != std::string::npos);
}

CAF_TEST(an unrouted inbound call hangs up NO_ROUTE_DESTINATION unanswered as in capture 20) {
  harness h;
  auto uuid = h.call("4040");
  const auto* complete = h.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Hangup-Cause"), "NO_ROUTE_DESTINATION");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_hangup_cause_q850"), "3");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_endpoint_disposition"), "RECEIVED");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_sip_hangup_disposition"), "send_refuse");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_is_loopback"), "");
  CAF_CHECK_EQUAL(h.count("CHANNEL_ANSWER"), 0u);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(inbound calls are refused with 503 while paused or at the session limit) {
  harness h;
  CAF_CHECK_EQUAL(h.core.api("fsctl pause inbound", h.now), "+OK\n");
  fsemu::inbound_call_request request;
  request.destination = "1000";
  auto refused = h.core.place_inbound_call(request, h.now);
  CAF_CHECK(refused.uuid.empty());
  CAF_CHECK_EQUAL(refused.refusal, "503 Maximum Calls In Progress");
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
}

CAF_TEST(a caller hanging up sends a BYE that ends the parked call with recv_bye) {
  harness h;
  auto uuid = h.call("1000");
  CAF_CHECK(h.core.remote_hang_up(uuid, "", h.now));
  h.collect();
  const auto* complete = h.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Hangup-Cause"), "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_sip_hangup_disposition"), "recv_bye");
  CAF_CHECK_EQUAL(h.count("CHANNEL_UNPARK"), 1u);
  CAF_CHECK(!h.core.remote_hang_up(uuid, "", h.now));
}

CAF_TEST(park_timeout hangs a parked call up after its seconds with the given cause) {
  harness h;
  // Parked on the whole second so that FreeSWITCH's epoch-second arithmetic is exact.
  auto uuid = h.call("1000", {{"park_timeout", "3"}});
  const auto* park = h.last("CHANNEL_PARK");
  CAF_REQUIRE(park != nullptr);
  // switch_ivr_park unsets the variable when it reads it.
  CAF_CHECK_EQUAL(h.header(*park, "variable_park_timeout"), "");
  h.run_until(h.now + 3 * second - 1);
  CAF_CHECK_EQUAL(h.count("CHANNEL_HANGUP"), 0u);
  h.run_until(h.now + 1);
  const auto* complete = h.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Hangup-Cause"), "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);

  harness k;
  auto other = k.call("1000", {{"park_timeout", "2:USER_BUSY"}});
  k.run_until(k.now + 2 * second);
  const auto* busy = k.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(busy != nullptr);
  CAF_CHECK_EQUAL(k.header(*busy, "Hangup-Cause"), "USER_BUSY");
  CAF_CHECK_EQUAL(busy->channel->uuid, other);
}

CAF_TEST(park_timeout given to originate ends the loopback call) {
  harness h;
  auto reply = h.core.api("originate {park_timeout=1}loopback/1000 &park()", h.now);
  CAF_REQUIRE(starts_with(reply, "+OK "));
  h.collect();
  CAF_CHECK_EQUAL(h.core.session_count(), 2u);
  h.run_until(h.now + 1 * second);
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
  CAF_CHECK_EQUAL(h.count("CHANNEL_HANGUP_COMPLETE"), 2u);
}

CAF_TEST(sendmsg playback on a parked SIP call lasts the prompt length and returns to the park) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "playback", "ivr/welcome.wav", "app-1", h.now),
                  "+OK");
  h.collect();
  const auto* start = h.last("PLAYBACK_START");
  CAF_REQUIRE(start != nullptr);
  CAF_CHECK_EQUAL(h.header(*start, "Playback-File-Path"), "ivr/welcome.wav");
  // switch_ivr_play_file names a type only for tone_stream and local_stream.
  CAF_CHECK_EQUAL(h.header(*start, "Playback-File-Type"), "");
  auto started = h.now;
  h.run_until(started + 3 * second - 1);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_STOP"), 0u);
  h.run_until(started + 3 * second);
  const auto* stop = h.last("PLAYBACK_STOP");
  CAF_REQUIRE(stop != nullptr);
  CAF_CHECK_EQUAL(h.header(*stop, "Playback-Status"), "done");
  const auto* complete = h.last("CHANNEL_EXECUTE_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Application-UUID"), "app-1");
  CAF_CHECK_EQUAL(h.header(*complete, "Application-Response"), "FILE PLAYED");
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
  // Still parked: hanging up ends the park (CHANNEL_UNPARK).
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "hangup", {}, "USER_BUSY", {}, h.now), "+OK");
  h.collect();
  CAF_CHECK_EQUAL(h.count("CHANNEL_UNPARK"), 1u);
  const auto* done = h.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(done != nullptr);
  CAF_CHECK_EQUAL(h.header(*done, "Hangup-Cause"), "USER_BUSY");
  CAF_CHECK_EQUAL(h.header(*done, "variable_sip_hangup_disposition"), "send_bye");
}

CAF_TEST(uuid_break stops a playback with PLAYBACK_STOP break and FILE PLAYED) {
  harness h;
  auto uuid = h.call("1000");
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "playback", "ivr/welcome.wav", {}, h.now), "+OK");
  h.collect();
  h.run_until(h.now + second);
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_break " + uuid, h.now), "+OK\n");
  h.collect();
  std::vector<std::string> expected{"PLAYBACK_STOP", "CHANNEL_EXECUTE_COMPLETE"};
  CAF_CHECK_EQUAL(h.names(), expected);
  CAF_REQUIRE_EQUAL(h.events.size(), 2u);
  CAF_CHECK_EQUAL(h.header(h.events[0], "Playback-Status"), "break");
  CAF_CHECK_EQUAL(h.header(h.events[0], "variable_playback_ms"), "1000");
  CAF_CHECK_EQUAL(h.header(h.events[1], "Application-Response"), "FILE PLAYED");
  // The playback's end, once due, is stale: nothing more happens.
  h.run_until(h.now + 5 * second);
  CAF_CHECK_EQUAL(h.events.size(), 2u);
  CAF_CHECK_EQUAL(h.core.api("uuid_break", h.now), "-USAGE: <uuid> [all]\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_break 00000000-0000-0000-0000-000000000000", h.now),
                  "-ERR No such channel!\n");
}

CAF_TEST(sleep lasts its milliseconds and set changes a variable) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "set", "menu=main", {}, h.now), "+OK");
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "sleep", "1500", {}, h.now), "+OK");
  h.collect();
  CAF_CHECK_EQUAL(h.core.api("uuid_getvar " + uuid + " menu", h.now), "main");
  auto started = h.now;
  h.run_until(started + 1'499'999);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 1u);
  h.run_until(started + 1'500'000);
  CAF_CHECK_EQUAL(h.count("CHANNEL_EXECUTE_COMPLETE"), 2u);
  CAF_CHECK_EQUAL(h.header(*h.last("CHANNEL_EXECUTE_COMPLETE"), "Application"), "sleep");
}

CAF_TEST(uuid_transfer moves a parked call to the tone extension which plays and hangs up) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_transfer " + uuid + " 9197", h.now), "+OK\n");
  h.collect();
  CAF_CHECK_EQUAL(h.count("CHANNEL_UNPARK"), 1u);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 1u);
  h.run_until(h.now + 2 * second);
  const auto* complete = h.last("CHANNEL_HANGUP_COMPLETE");
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Caller-Destination-Number"), "9197");
  CAF_CHECK_EQUAL(h.header(*complete, "Hangup-Cause"), "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(h.core.api("uuid_transfer " + uuid + " 9197", h.now), "-ERR No such channel!\n");
}

CAF_TEST(DTMF a caller presses reaches event subscribers and the myevents socket) {
  harness h;
  h.config.dialplan.push_back([] {
    fsemu::dialplan_extension e;
    e.destination = "7000";
    e.action = fsemu::extension_action::socket;
    e.socket_address = "127.0.0.1:8084";
    return e;
  }());
  fsemu::switch_core core{h.config, capture_day_us};
  core.set_socket_connector([](std::string_view, std::string_view) { return true; });
  fsemu::inbound_call_request request;
  request.destination = "7000";
  request.caller_id_number = "5551234";
  auto uuid = core.place_inbound_call(request, h.now).uuid;
  CAF_REQUIRE(!uuid.empty());
  fsemu::inbound_session subscriber{core};
  fsemu::outbound_session_logic socket{core, uuid};
  std::string sub_out;
  std::string sock_out;
  send_commands("auth ClueCon\n\nevent plain DTMF\n\n", core, subscriber, h.now, sub_out);
  send_commands("connect\n\nmyevents\n\n", core, socket, h.now, sock_out);
  send_commands("sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n", core, socket,
                h.now, sock_out);
  sub_out.clear();
  sock_out.clear();
  CAF_CHECK(core.receive_dtmf(uuid, '5', 2000, "RTP", h.now));
  CAF_CHECK(!core.receive_dtmf(uuid, 'x', 2000, "RTP", h.now));
  for (const auto& ev : core.take_events(h.now)) {
    subscriber.deliver(ev, sub_out);
    socket.deliver(ev, sock_out);
  }
  for (const auto* out : {&sub_out, &sock_out}) {
    auto frames = split_frames(*out);
    CAF_REQUIRE_EQUAL(frames.size(), 1u);
    std::string_view rest;
    parse_block(frames[0], &rest);
    auto headers = parse_block(rest);
    // Capture 04's DTMF layout: the channel's headers, no variables, then the three DTMF ones.
    CAF_REQUIRE(headers.size() > 3);
    CAF_CHECK_EQUAL(headers[headers.size() - 4].first, "Caller-Privacy-Hide-Number");
    CAF_CHECK_EQUAL(headers[headers.size() - 3].first, "DTMF-Digit");
    CAF_CHECK_EQUAL(headers[headers.size() - 3].second, "5");
    CAF_CHECK_EQUAL(headers[headers.size() - 2].first, "DTMF-Duration");
    CAF_CHECK_EQUAL(headers[headers.size() - 2].second, "2000");
    CAF_CHECK_EQUAL(headers[headers.size() - 1].first, "DTMF-Source");
    CAF_CHECK_EQUAL(headers[headers.size() - 1].second, "RTP");
  }
  CAF_CHECK(core.remote_hang_up(uuid, "", h.now));
  auto ended = core.take_events(h.now);
  const fsemu::switch_event* complete = nullptr;
  for (const auto& ev : ended)
    if (ev.name == "CHANNEL_HANGUP_COMPLETE")
      complete = &ev;
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "variable_digits_dialed"), "5");
}

CAF_TEST(uuid_broadcast runs playback or an app on the leg and answers Message sent) {
  harness h;
  auto uuid = h.call("1000");
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.api("uuid_broadcast " + uuid + " tone_stream://%(500,0,440) aleg", h.now),
                  "+OK Message sent\n");
  CAF_CHECK_EQUAL(h.core.api("uuid_broadcast " + uuid + " sleep::100", h.now),
                  "+OK Message sent\n");
  h.collect();
  // The second application waits for the first, as FreeSWITCH queues it.
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 1u);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_STOP"), 0u);
  CAF_CHECK_EQUAL(h.header(*h.last("CHANNEL_EXECUTE"), "Application"), "playback");
  h.run_until(h.now + 500'000);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_STOP"), 1u);
  CAF_CHECK_EQUAL(h.header(*h.last("CHANNEL_EXECUTE"), "Application"), "sleep");
  CAF_CHECK_EQUAL(h.core.api("uuid_broadcast " + uuid, h.now),
                  "-USAGE: <uuid> <path> [aleg|bleg|both]\n");
}

CAF_TEST(HEARTBEAT fires every interval with the headers of send_heartbeat) {
  auto config = captured_switch_config(3);
  config.heartbeat_interval_us = 20 * second;
  config.max_sessions = 500;
  fsemu::switch_core core{config, capture_day_us};
  auto first_due = core.next_due();
  CAF_REQUIRE(first_due.has_value());
  std::int64_t due_at = first_due.value_or(0);
  CAF_CHECK_EQUAL(due_at, capture_day_us + 20 * second);
  core.advance(capture_day_us + 19 * second);
  CAF_CHECK(core.take_events(capture_day_us + 19 * second).empty());
  core.advance(capture_day_us + 41 * second);
  auto events = core.take_events(capture_day_us + 41 * second);
  CAF_REQUIRE_EQUAL(events.size(), 2u);
  CAF_CHECK_EQUAL(events[0].name, "HEARTBEAT");
  CAF_CHECK_EQUAL(events[0].timestamp_us, capture_day_us + 20 * second);
  CAF_CHECK_EQUAL(events[1].timestamp_us, capture_day_us + 40 * second);
  std::vector<std::string> names;
  std::vector<std::string> values;
  for (const auto& h : core.renderer().headers(events[1].input())) {
    names.push_back(h.name);
    values.push_back(h.value);
  }
  std::vector<std::string> expected{
    "Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname", "FreeSWITCH-IPv4",
    "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp",
    "Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number", "Event-Sequence",
    "Event-Info", "Up-Time", "FreeSWITCH-Version", "Uptime-msec", "Session-Count",
    "Max-Sessions", "Session-Per-Sec", "Session-Per-Sec-Last", "Session-Per-Sec-Max",
    "Session-Per-Sec-FiveMin", "Session-Since-Startup", "Session-Peak-Max",
    "Session-Peak-FiveMin", "Idle-CPU"};
  CAF_CHECK_EQUAL(names, expected);
  if (names == expected) {
    CAF_CHECK_EQUAL(values[10], "send_heartbeat");
    CAF_CHECK_EQUAL(values[13], "System Ready");
    CAF_CHECK_EQUAL(values[14], "0 years, 0 days, 0 hours, 0 minutes, 40 seconds, 0 milliseconds, "
                                "0 microseconds");
    CAF_CHECK_EQUAL(values[15], "1.10.12-release~64bit");
    CAF_CHECK_EQUAL(values[16], "40000");
    CAF_CHECK_EQUAL(values[17], "0");
    CAF_CHECK_EQUAL(values[18], "500");
    CAF_CHECK_EQUAL(values[26], "100.000000");
  }
}

CAF_TEST(bridge to a loopback endpoint bridges and unbridges when the far end hangs up) {
  harness h;
  auto uuid = h.call("1000");
  CAF_REQUIRE(!uuid.empty());
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "bridge", "loopback/9197", {}, h.now), "+OK");
  h.collect();
  const auto* bridged = h.last("CHANNEL_BRIDGE");
  CAF_REQUIRE(bridged != nullptr);
  CAF_REQUIRE(bridged->channel.has_value());
  CAF_CHECK_EQUAL(bridged->channel->uuid, uuid);
  CAF_CHECK_EQUAL(h.header(*bridged, "Bridge-A-Unique-ID"), uuid);
  auto far_end = h.header(*bridged, "Bridge-B-Unique-ID");
  CAF_CHECK_EQUAL(far_end.size(), 36u);
  CAF_CHECK_EQUAL(h.core.session_count(), 3u);
  // 9197 plays 2 s and hangs up: the bridge ends and the caller is parked again.
  h.run_until(h.now + 3 * second);
  const auto* unbridged = h.last("CHANNEL_UNBRIDGE");
  CAF_REQUIRE(unbridged != nullptr);
  CAF_CHECK_EQUAL(h.header(*unbridged, "Bridge-B-Unique-ID"), far_end);
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
  CAF_CHECK(h.core.channel(uuid) != nullptr);
}

CAF_TEST(a caller hanging up in a bridge takes the loopback legs down) {
  harness h;
  auto uuid = h.call("1000");
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "bridge", "loopback/1000", {}, h.now), "+OK");
  CAF_CHECK_EQUAL(h.core.session_count(), 3u);
  CAF_CHECK(h.core.remote_hang_up(uuid, "", h.now));
  h.collect();
  CAF_CHECK_EQUAL(h.core.session_count(), 0u);
  CAF_CHECK_EQUAL(h.count("CHANNEL_HANGUP_COMPLETE"), 3u);
}

CAF_TEST(bridge to a destination that does not exist leaves the caller parked) {
  harness h;
  auto uuid = h.call("1000");
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "bridge", "loopback/4711", {}, h.now), "+OK");
  h.collect();
  CAF_CHECK_EQUAL(h.count("CHANNEL_BRIDGE"), 0u);
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
  const auto* channel = h.core.channel(uuid);
  CAF_REQUIRE(channel != nullptr);
  const auto* disposition = channel->find_variable("originate_disposition");
  CAF_REQUIRE(disposition != nullptr);
  CAF_CHECK_EQUAL(*disposition, "NO_ROUTE_DESTINATION");
}
