#define CAF_SUITE actors.adopted_call

// The call logic of originated calls whose origination failed, and of channels re-adopted while
// bridged or transferred (node_supervisor.cpp's originate and recovery paths use these).

#include "actors/call_state.hpp"

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "json_event.hpp"

using namespace callgrid;
using namespace callgrid::actors;

namespace {

constexpr const char* uuid = "5f1c0a52-0000-4000-8000-0000000000a1";

/// A JSON event of the call under test (see json_event.hpp).
esl::frame event(const std::string& name,
                 const std::vector<std::pair<std::string, std::string>>& fields = {}) {
  return callgrid::test_support::json_event(uuid, name, fields);
}

call_setup bridged_setup() {
  call_setup setup;
  setup.uuid = uuid;
  setup.caller = "5550300";
  setup.callee = "3000";
  setup.node = "node-a";
  setup.created_us = 1'700'000'000'000'000;
  setup.already_answered = true;
  route r;
  r.id = 7;
  r.action = route_action::bridge;
  r.bridge_target = "loopback/agents";
  setup.matched_route = std::make_shared<const actors::route>(r);
  setup.watch_only_as = "bridged";
  return setup;
}

call_setup failed_origination_setup(std::string campaign) {
  call_setup setup;
  setup.uuid = uuid;
  setup.caller = "4930999";
  setup.callee = "4930123";
  setup.direction = persistence::call_direction::outbound;
  setup.node = "node-a";
  setup.created_us = 1'700'000'000'000'000;
  setup.campaign = std::move(campaign);
  return setup;
}

} // namespace

CAF_TEST(a re-adopted bridged leg sends nothing and only waits for its hangup) {
  call_state call{bridged_setup()};
  std::vector<call_action> out;
  call.start(std::chrono::system_clock::now(), out);
  CAF_CHECK(out.empty());
  CAF_CHECK_EQUAL(call.phase(), call_phase::running);
  call.on_event(event("DTMF", {{"DTMF-Digit", "1"}}), out);
  call.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application-UUID", "x"}}), out);
  CAF_CHECK(out.empty());
  CAF_CHECK(!call.ended());
  call.on_event(event("CHANNEL_HANGUP", {{"Hangup-Cause", "NORMAL_CLEARING"}}), out);
  call.on_event(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "NORMAL_CLEARING"},
                                                  {"Caller-Channel-Answered-Time",
                                                   "1700000001000000"},
                                                  {"Caller-Channel-Hangup-Time",
                                                   "1700000031000000"},
                                                  {"variable_billmsec", "30000"}}),
                out);
  CAF_CHECK(out.empty());
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.disposition, "bridged");
  CAF_CHECK_EQUAL(record.hangup_cause, "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(record.reason, persistence::end_reason::normal);
  CAF_CHECK_EQUAL(record.route_id, std::optional<int64_t>{7});
  CAF_CHECK_EQUAL(record.billsec_ms, 30'000);
}

CAF_TEST(a re-adopted bridged leg ends when its bridge returns without having connected) {
  call_state call{bridged_setup()};
  std::vector<call_action> out;
  call.start(std::chrono::system_clock::now(), out);
  call.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "playback"},
                                                   {"Application-UUID", "x"},
                                                   {"Answer-State", "answered"}}),
                out);
  CAF_CHECK(out.empty());
  call.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "bridge"},
                                                   {"Application-UUID", "sent-before-restart"},
                                                   {"Answer-State", "answered"},
                                                   {"variable_DIALSTATUS", "NOANSWER"},
                                                   {"variable_originate_failed_cause",
                                                    "NO_ANSWER"}}),
                out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  auto hangup = std::get_if<hangup_channel>(&out[0]);
  CAF_REQUIRE(hangup != nullptr);
  CAF_CHECK_EQUAL(hangup->cause, "NO_ANSWER");
  CAF_CHECK_EQUAL(call.disposition(), "bridge_failed");
}

CAF_TEST(a re-adopted transferred leg ignores the bridges of its new extension) {
  auto setup = bridged_setup();
  setup.watch_only_as = "transferred";
  call_state call{std::move(setup)};
  std::vector<call_action> out;
  call.start(std::chrono::system_clock::now(), out);
  call.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "bridge"},
                                                   {"Answer-State", "answered"}}),
                out);
  CAF_CHECK(out.empty());
}

CAF_TEST(a re-adopted transferred leg is recorded as transferred) {
  auto setup = bridged_setup();
  setup.watch_only_as = "transferred";
  call_state call{std::move(setup)};
  std::vector<call_action> out;
  call.start(std::chrono::system_clock::now(), out);
  call.on_event(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "USER_BUSY"}}), out);
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.disposition, "transferred");
  CAF_CHECK_EQUAL(record.hangup_cause, "USER_BUSY");
}

CAF_TEST(the drain deadline still ends a watched leg with its own record) {
  call_state call{bridged_setup()};
  std::vector<call_action> out;
  call.start(std::chrono::system_clock::now(), out);
  call.end_untracked(persistence::end_reason::node_drain, "SYSTEM_SHUTDOWN",
                     1'700'000'010'000'000);
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.reason, persistence::end_reason::node_drain);
  CAF_CHECK_EQUAL(record.hangup_cause, "SYSTEM_SHUTDOWN");
  CAF_CHECK_EQUAL(record.disposition, "bridged");
}

CAF_TEST(a busy callee gives an outbound record with disposition busy) {
  call_state call{failed_origination_setup("")};
  call.fail_origination("USER_BUSY", 1'700'000'002'000'000);
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.direction, persistence::call_direction::outbound);
  CAF_CHECK_EQUAL(record.hangup_cause, "USER_BUSY");
  CAF_CHECK_EQUAL(record.disposition, "busy");
  CAF_CHECK_EQUAL(record.reason, persistence::end_reason::normal);
  CAF_CHECK_EQUAL(record.duration_ms, 2000);
  CAF_CHECK_EQUAL(record.billsec_ms, 0);
  CAF_CHECK(!record.answered_us);
  CAF_CHECK(!record.campaign_id);
}

CAF_TEST(no answer and other causes get their own dispositions) {
  for (auto [cause, expected] : {std::pair{"NO_ANSWER", "no_answer"},
                                 std::pair{"NO_USER_RESPONSE", "no_answer"},
                                 std::pair{"CHAN_NOT_IMPLEMENTED", "failed"},
                                 std::pair{"NO_ROUTE_DESTINATION", "failed"}}) {
    call_state call{failed_origination_setup("")};
    call.fail_origination(cause, 1'700'000'001'000'000);
    auto record = call.make_record();
    CAF_CHECK_EQUAL(record.disposition, expected);
    CAF_CHECK_EQUAL(record.hangup_cause, cause);
  }
}

CAF_TEST(a numeric campaign becomes the campaign id of the record) {
  call_state numeric{failed_origination_setup("17")};
  numeric.fail_origination("NO_ANSWER", 1'700'000'001'000'000);
  auto with_id = numeric.make_record();
  CAF_CHECK_EQUAL(with_id.campaign_id, std::optional<int64_t>{17});
  call_state named{failed_origination_setup("spring-sale")};
  named.fail_origination("NO_ANSWER", 1'700'000'001'000'000);
  auto without_id = named.make_record();
  CAF_CHECK(!without_id.campaign_id);
}
