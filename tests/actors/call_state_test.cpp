#define CAF_SUITE actors.call_state

#include "actors/call_state.hpp"

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "json_event.hpp"
#include "ivr/flow.hpp"

using namespace callgrid;
using namespace callgrid::actors;

namespace {

constexpr const char* uuid = "5f1c0a52-0000-4000-8000-000000000001";

/// A welcome menu: 1 plays a goodbye and hangs up, 0 is the agent; two no-inputs escalate.
constexpr const char* menu_flow = R"(
name: unit
version: 1
start: main
prompts:
  welcome: ivr/welcome.wav
  bye: ivr/bye.wav
globals:
  agent: agents
nodes:
  main:
    kind: menu
    prompt: welcome
    first_digit_timeout: 3s
    max_no_input: 2
    max_invalid: 2
    options:
      "1": bye
  bye:
    kind: play
    prompt: bye
    next: end
  end:
    kind: hangup
    cause: NORMAL_CLEARING
)";

/// A JSON event of the call under test (see json_event.hpp).
esl::frame event(const std::string& name,
                 const std::vector<std::pair<std::string, std::string>>& fields = {}) {
  return callgrid::test_support::json_event(uuid, name, fields);
}

esl::frame disconnect_notice(const char* disposition) {
  std::string wire = "Content-Type: text/disconnect-notice\nContent-Disposition: ";
  wire += disposition;
  wire += "\nContent-Length: 0\n\n";
  esl::frame_parser parser;
  parser.feed(wire);
  esl::frame out;
  auto got = parser.next(out);
  if (!got || !*got)
    CAF_FAIL("disconnect notice did not parse");
  return out;
}

std::shared_ptr<const ivr::flow> load(const char* text) {
  auto loaded = ivr::load_flow(text, "unit.yaml");
  for (const auto& d : loaded.problems)
    CAF_MESSAGE(ivr::render(d));
  CAF_REQUIRE(loaded.flow != nullptr);
  return loaded.flow;
}

call_setup make_setup(route_action action = route_action::flow) {
  call_setup setup;
  setup.uuid = uuid;
  setup.caller = "5551234";
  setup.callee = "1000";
  setup.node = "node-a";
  setup.created_us = 1'795'666'019'839'996;
  route r;
  r.id = 4;
  r.name = "main";
  r.action = action;
  r.flow_id = 9;
  r.bridge_target = "loopback/2000";
  r.hangup_cause = "CALL_REJECTED";
  setup.matched_route = std::make_shared<const actors::route>(r);
  if (action == route_action::flow)
    setup.flow = load(menu_flow);
  return setup;
}

template <class T>
const T* find_action(const std::vector<call_action>& actions) {
  for (const auto& a : actions)
    if (auto p = std::get_if<T>(&a))
      return p;
  return nullptr;
}

struct fixture {
  call_state call{make_setup()};
  std::vector<call_action> out;

  std::vector<call_action> take() {
    auto result = std::move(out);
    out.clear();
    return result;
  }

  void feed(esl::frame ev) {
    call.on_event(ev, out);
  }

  /// Starts the call and returns the Application-UUID of the first prompt, which leaves with
  /// the answer; the answer's completion changes nothing.
  std::string answer_and_get_prompt() {
    call.start(std::chrono::system_clock::now(), out);
    auto actions = take();
    CAF_REQUIRE(actions.size() >= 2u);
    auto answer = std::get_if<execute_app>(&actions[0]);
    CAF_REQUIRE(answer != nullptr);
    CAF_CHECK_EQUAL(answer->app, "answer");
    auto play = std::get_if<execute_app>(&actions[1]);
    CAF_REQUIRE(play != nullptr);
    CAF_CHECK_EQUAL(play->app, "playback");
    CAF_CHECK_EQUAL(play->arg, "ivr/welcome.wav");
    feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "answer"},
                                            {"Application-UUID", answer->event_uuid},
                                            {"Answer-State", "answered"},
                                            {"Caller-Channel-Answered-Time", "1795666020000000"}}));
    CAF_CHECK(take().empty());
    return play->event_uuid;
  }

  void hang_up_complete(const char* cause) {
    feed(event("CHANNEL_HANGUP", {{"Hangup-Cause", cause}}));
    feed(event("CHANNEL_HANGUP_COMPLETE",
               {{"Hangup-Cause", cause},
                {"Caller-Channel-Created-Time", "1795666019839996"},
                {"Caller-Channel-Answered-Time", "1795666020000000"},
                {"Caller-Channel-Hangup-Time", "1795666025059998"},
                {"variable_mduration", "5220"},
                {"variable_billmsec", "5060"},
                {"variable_sip_term_status", "200"}}));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(call_state_tests, fixture)

CAF_TEST(a flow route answers and plays the menu prompt in the same actions) {
  auto prompt = answer_and_get_prompt();
  CAF_CHECK(!prompt.empty());
  CAF_CHECK_EQUAL(call.phase(), call_phase::running);
}

CAF_TEST(a digit after the prompt walks the menu and the record holds the path) {
  auto prompt = answer_and_get_prompt();
  feed(event("CHANNEL_EXECUTE_COMPLETE",
             {{"Application", "playback"}, {"Application-UUID", prompt}}));
  auto actions = take();
  CAF_CHECK(find_action<arm_timer>(actions) != nullptr);
  feed(event("DTMF", {{"DTMF-Digit", "1"}}));
  actions = take();
  auto bye = find_action<execute_app>(actions);
  CAF_REQUIRE(bye != nullptr);
  CAF_CHECK_EQUAL(bye->arg, "ivr/bye.wav");
  feed(event("CHANNEL_EXECUTE_COMPLETE",
             {{"Application", "playback"}, {"Application-UUID", bye->event_uuid}}));
  actions = take();
  auto hangup = find_action<hangup_channel>(actions);
  CAF_REQUIRE(hangup != nullptr);
  CAF_CHECK_EQUAL(hangup->cause, "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(call.phase(), call_phase::hanging_up);
  hang_up_complete("NORMAL_CLEARING");
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.call_uuid, uuid);
  CAF_CHECK_EQUAL(record.caller, "5551234");
  CAF_CHECK_EQUAL(record.callee, "1000");
  CAF_CHECK_EQUAL(record.node, "node-a");
  CAF_CHECK_EQUAL(record.route_id, std::optional<int64_t>{4});
  CAF_CHECK_EQUAL(record.flow_id, std::optional<int64_t>{9});
  CAF_CHECK_EQUAL(record.hangup_cause, "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(record.sip_code, std::optional<int32_t>{200});
  CAF_CHECK_EQUAL(record.duration_ms, 5220);
  CAF_CHECK_EQUAL(record.billsec_ms, 5060);
  CAF_CHECK_EQUAL(record.answered_us, std::optional<int64_t>{1'795'666'020'000'000});
  CAF_CHECK_EQUAL(record.ended_us, 1'795'666'025'059'998);
  CAF_CHECK_EQUAL(record.disposition, "ivr_completed");
  CAF_REQUIRE_EQUAL(record.ivr_path.size(), 1u);
  CAF_CHECK_EQUAL(record.ivr_path[0].menu, "main");
  CAF_CHECK_EQUAL(record.ivr_path[0].choice, "1");
  CAF_CHECK(record.reason == persistence::end_reason::normal);
}

CAF_TEST(a prompt cut short by the caller hanging up does not walk the menu) {
  // The inbound link has no CHANNEL_HANGUP: the prompt's completion says Answer-State: hangup.
  auto prompt = answer_and_get_prompt();
  feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "playback"},
                                          {"Application-UUID", prompt},
                                          {"Answer-State", "hangup"},
                                          {"Hangup-Cause", "ORIGINATOR_CANCEL"}}));
  auto actions = take();
  CAF_CHECK(find_action<execute_app>(actions) == nullptr);
  CAF_CHECK(find_action<arm_timer>(actions) == nullptr);
  CAF_CHECK_EQUAL(call.phase(), call_phase::hanging_up);
  feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "park"},
                                          {"Application-UUID", "park-uuid"},
                                          {"Answer-State", "hangup"}}));
  CAF_CHECK(take().empty());
  feed(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "ORIGINATOR_CANCEL"},
                                         {"Answer-State", "hangup"},
                                         {"Caller-Channel-Hangup-Time", "1795666025059998"}}));
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.disposition, "abandoned");
  CAF_CHECK_EQUAL(record.hangup_cause, "ORIGINATOR_CANCEL");
  CAF_REQUIRE_EQUAL(record.ivr_path.size(), 1u);
  CAF_CHECK_EQUAL(record.ivr_path[0].menu, "main");
  CAF_CHECK_EQUAL(record.ivr_path[0].choice, "hangup");
}

CAF_TEST(a caller who hangs up during the goodbye prompt abandoned the call) {
  // The farewell prompt's completion would end the flow (ivr_completed); with Answer-State:
  // hangup on it, the hangup counts first, as CHANNEL_HANGUP did when it came before it.
  auto prompt = answer_and_get_prompt();
  feed(event("CHANNEL_EXECUTE_COMPLETE",
             {{"Application", "playback"}, {"Application-UUID", prompt}}));
  take();
  feed(event("DTMF", {{"DTMF-Digit", "1"}}));
  auto actions = take();
  auto bye = find_action<execute_app>(actions);
  CAF_REQUIRE(bye != nullptr);
  CAF_CHECK_EQUAL(bye->arg, "ivr/bye.wav");
  feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "playback"},
                                          {"Application-UUID", bye->event_uuid},
                                          {"Answer-State", "hangup"},
                                          {"Hangup-Cause", "NORMAL_CLEARING"}}));
  CAF_CHECK(find_action<hangup_channel>(take()) == nullptr);
  feed(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "NORMAL_CLEARING"},
                                         {"Caller-Channel-Hangup-Time", "1795666025059998"}}));
  CAF_REQUIRE(call.ended());
  CAF_CHECK_EQUAL(call.make_record().disposition, "abandoned");
}

CAF_TEST(CHANNEL_HANGUP_COMPLETE alone ends a call whose IVR still waits) {
  auto prompt = answer_and_get_prompt();
  feed(event("CHANNEL_EXECUTE_COMPLETE",
             {{"Application", "playback"}, {"Application-UUID", prompt}}));
  CAF_CHECK(find_action<arm_timer>(take()) != nullptr);
  feed(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "NORMAL_CLEARING"},
                                         {"Caller-Channel-Hangup-Time", "1795666025059998"}}));
  CAF_REQUIRE(call.ended());
  CAF_CHECK(find_action<execute_app>(take()) == nullptr);
  CAF_CHECK_EQUAL(call.make_record().disposition, "abandoned");
}

CAF_TEST(a completion of another application does not end the prompt) {
  answer_and_get_prompt();
  feed(event("CHANNEL_EXECUTE_COMPLETE",
             {{"Application", "playback"}, {"Application-UUID", "someone-else"}}));
  CAF_CHECK(find_action<arm_timer>(take()) == nullptr);
}

CAF_TEST(a digit during the prompt breaks it) {
  answer_and_get_prompt();
  feed(event("DTMF", {{"DTMF-Digit", "1"}}));
  auto actions = take();
  auto brk = find_action<run_api>(actions);
  CAF_REQUIRE(brk != nullptr);
  CAF_CHECK_EQUAL(brk->command, std::string{"uuid_break "} + uuid);
}

CAF_TEST(a caller hanging up in the menu is recorded as abandoned) {
  answer_and_get_prompt();
  hang_up_complete("NORMAL_CLEARING");
  auto actions = take();
  CAF_CHECK(find_action<execute_app>(actions) == nullptr);
  CAF_CHECK(find_action<hangup_channel>(actions) == nullptr);
  CAF_REQUIRE(call.ended());
  CAF_CHECK_EQUAL(call.make_record().disposition, "abandoned");
}

CAF_TEST(silence up to the cap escalates to the agent target) {
  auto prompt = answer_and_get_prompt();
  std::string playing = prompt;
  for (int round = 0; round < 2; ++round) {
    feed(event("CHANNEL_EXECUTE_COMPLETE",
               {{"Application", "playback"}, {"Application-UUID", playing}}));
    auto actions = take();
    auto timer = find_action<arm_timer>(actions);
    CAF_REQUIRE(timer != nullptr);
    call.on_timer(timer->id, out);
    actions = take();
    if (round == 0) {
      auto again = find_action<execute_app>(actions);
      CAF_REQUIRE(again != nullptr);
      CAF_CHECK_EQUAL(again->app, "playback");
      playing = again->event_uuid;
    } else {
      auto transfer = find_action<execute_app>(actions);
      CAF_REQUIRE(transfer != nullptr);
      CAF_CHECK_EQUAL(transfer->app, "transfer");
      CAF_CHECK_EQUAL(transfer->arg, "agents");
    }
  }
  CAF_CHECK_EQUAL(call.disposition(), "escalated");
}

CAF_TEST(a call without a route is rejected with NO_ROUTE_DESTINATION) {
  auto setup = make_setup();
  setup.matched_route.reset();
  call_state unrouted{std::move(setup)};
  unrouted.start(std::chrono::system_clock::now(), out);
  auto hangup = find_action<hangup_channel>(out);
  CAF_REQUIRE(hangup != nullptr);
  CAF_CHECK_EQUAL(hangup->cause, "NO_ROUTE_DESTINATION");
  CAF_CHECK_EQUAL(unrouted.disposition(), "no_route");
}

CAF_TEST(a hangup route rejects without answering) {
  call_state rejecting{make_setup(route_action::hangup)};
  rejecting.start(std::chrono::system_clock::now(), out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  auto hangup = find_action<hangup_channel>(out);
  CAF_REQUIRE(hangup != nullptr);
  CAF_CHECK_EQUAL(hangup->cause, "CALL_REJECTED");
}

CAF_TEST(a bridge route answers then bridges) {
  call_state bridging{make_setup(route_action::bridge)};
  bridging.start(std::chrono::system_clock::now(), out);
  bridging.on_event(event("CHANNEL_ANSWER"), out);
  CAF_REQUIRE_EQUAL(out.size(), 3u);
  auto set = std::get_if<execute_app>(&out[1]);
  CAF_REQUIRE(set != nullptr);
  CAF_CHECK_EQUAL(set->app, "set");
  CAF_CHECK_EQUAL(set->arg, "hangup_after_bridge=true");
  auto bridge = std::get_if<execute_app>(&out[2]);
  CAF_REQUIRE(bridge != nullptr);
  CAF_CHECK_EQUAL(bridge->app, "bridge");
  CAF_CHECK_EQUAL(bridge->arg,
                  std::string{"{originate_timeout=60,callgrid_call="} + uuid
                    + "}[callgrid_leg=1]loopback/2000");
}

/// Starts a bridge route's call and returns its bridge's Application-UUID.
std::string start_bridging(call_state& bridging, std::vector<call_action>& out) {
  bridging.start(std::chrono::system_clock::now(), out);
  CAF_REQUIRE(!out.empty());
  auto bridge = std::get_if<execute_app>(&out.back());
  CAF_REQUIRE(bridge != nullptr);
  CAF_REQUIRE_EQUAL(bridge->app, "bridge");
  auto app_uuid = bridge->event_uuid;
  out.clear();
  return app_uuid;
}

CAF_TEST(a bridge that connected and returns with the caller up leaves the caller alone) {
  call_state bridging{make_setup(route_action::bridge)};
  auto app_uuid = start_bridging(bridging, out);
  // Other applications' completions are not the bridge's (the answer's, one whose number
  // starts like the bridge's, one of another tag).
  for (auto other : {std::string{uuid} + "-1", app_uuid + "2", std::string{"other"}})
    bridging.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "set"},
                                                        {"Application-UUID", other},
                                                        {"Answer-State", "answered"}}),
                      out);
  CAF_CHECK(out.empty());
  // hangup_after_bridge hangs a caller up when the far end leaves; a caller still up was
  // transferred during the bridge and goes on elsewhere: nothing is sent, the call waits for
  // its hangup.
  bridging.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "bridge"},
                                                      {"Application-UUID", app_uuid},
                                                      {"Answer-State", "answered"},
                                                      {"variable_DIALSTATUS", "SUCCESS"},
                                                      {"variable_originate_disposition",
                                                       "call accepted"}}),
                    out);
  CAF_CHECK(out.empty());
  CAF_CHECK_EQUAL(bridging.disposition(), "bridged");
  CAF_CHECK_EQUAL(bridging.phase(), call_phase::running);
  // A later failure-looking completion is no bridge's any more.
  bridging.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "bridge"},
                                                      {"Application-UUID", app_uuid},
                                                      {"Answer-State", "answered"}}),
                    out);
  CAF_CHECK(out.empty());
}

CAF_TEST(a bridge that failed ends the call with the far end cause) {
  // FreeSWITCH 1.10 names the cause in originate_failed_cause (and originate_disposition);
  // fsemu sets originate_disposition only; a DIALSTATUS alone says too little.
  for (auto [fields, cause] :
       std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>{
         {{{"variable_DIALSTATUS", "NOANSWER"},
           {"variable_originate_failed_cause", "NO_ANSWER"},
           {"variable_originate_disposition", "NO_ANSWER"}},
          "NO_ANSWER"},
         {{{"variable_DIALSTATUS", "USER_BUSY"}, {"variable_originate_disposition", "USER_BUSY"}},
          "USER_BUSY"},
         {{{"variable_DIALSTATUS", "BUSY"}, {"variable_originate_disposition", "failure"}},
          "NORMAL_TEMPORARY_FAILURE"},
         {{}, "NORMAL_TEMPORARY_FAILURE"}}) {
    call_state bridging{make_setup(route_action::bridge)};
    auto app_uuid = start_bridging(bridging, out);
    fields.emplace_back("Application-UUID", app_uuid);
    fields.emplace_back("Answer-State", "answered");
    bridging.on_event(event("CHANNEL_EXECUTE_COMPLETE", fields), out);
    auto hangup = find_action<hangup_channel>(out);
    CAF_REQUIRE(hangup != nullptr);
    CAF_CHECK_EQUAL(hangup->cause, cause);
    CAF_CHECK_EQUAL(bridging.disposition(), "bridge_failed");
    out.clear();
  }
}

CAF_TEST(a bridge that returns with the channel gone sends nothing) {
  call_state bridging{make_setup(route_action::bridge)};
  auto app_uuid = start_bridging(bridging, out);
  bridging.on_event(event("CHANNEL_EXECUTE_COMPLETE", {{"Application-UUID", app_uuid},
                                                      {"Answer-State", "hangup"},
                                                      {"Hangup-Cause", "USER_BUSY"},
                                                      {"variable_originate_disposition",
                                                       "USER_BUSY"}}),
                    out);
  CAF_CHECK(find_action<hangup_channel>(out) == nullptr);
  CAF_CHECK_EQUAL(bridging.disposition(), "bridged");
  CAF_CHECK_EQUAL(bridging.phase(), call_phase::hanging_up);
}

CAF_TEST(an answer that fails ends the IVR that started with it) {
  call.start(std::chrono::system_clock::now(), out);
  auto actions = take();
  auto answer = find_action<execute_app>(actions);
  CAF_REQUIRE(answer != nullptr);
  CAF_CHECK_EQUAL(call.phase(), call_phase::running);
  // Another application's completion changes nothing.
  feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "set"},
                                          {"Application-UUID", "someone-else"},
                                          {"Answer-State", "answered"}}));
  CAF_CHECK(take().empty());
  // The answer's own completion with the channel gone (the caller left): the IVR learns it.
  feed(event("CHANNEL_EXECUTE_COMPLETE", {{"Application", "answer"},
                                          {"Application-UUID", answer->event_uuid},
                                          {"Answer-State", "hangup"},
                                          {"Hangup-Cause", "ORIGINATOR_CANCEL"}}));
  CAF_CHECK(take().empty());
  CAF_CHECK_EQUAL(call.phase(), call_phase::hanging_up);
  feed(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "ORIGINATOR_CANCEL"}}));
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.disposition, "abandoned");
  CAF_CHECK_EQUAL(record.answered_us, std::nullopt);
}

CAF_TEST(CHANNEL_ANSWER only notes the answer time) {
  call.start(std::chrono::system_clock::now(), out);
  CAF_CHECK_EQUAL(take().size(), 2u); // answer, playback
  feed(event("CHANNEL_ANSWER", {{"Caller-Channel-Answered-Time", "1795666020000000"}}));
  CAF_CHECK(take().empty());
  feed(event("CHANNEL_HANGUP_COMPLETE", {{"Hangup-Cause", "NORMAL_CLEARING"}}));
  CAF_REQUIRE(call.ended());
  CAF_CHECK_EQUAL(call.make_record().answered_us, std::optional<int64_t>{1'795'666'020'000'000});
}

CAF_TEST(a missing flow hangs up with SERVICE_UNAVAILABLE) {
  auto setup = make_setup();
  setup.flow.reset();
  call_state flowless{std::move(setup)};
  flowless.start(std::chrono::system_clock::now(), out);
  auto hangup = find_action<hangup_channel>(out);
  CAF_REQUIRE(hangup != nullptr);
  CAF_CHECK_EQUAL(hangup->cause, "SERVICE_UNAVAILABLE");
  CAF_CHECK_EQUAL(flowless.disposition(), "flow_missing");
}

CAF_TEST(an outbound socket closing without linger ends the record) {
  answer_and_get_prompt();
  feed(event("CHANNEL_HANGUP", {{"Hangup-Cause", "NORMAL_CLEARING"}}));
  CAF_CHECK(!call.ended());
  feed(disconnect_notice("disconnect"));
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK_EQUAL(record.hangup_cause, "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(record.disposition, "abandoned");
}

CAF_TEST(a lost link counts the playing prompt as finished) {
  answer_and_get_prompt();
  call.on_link_restored(out);
  CAF_CHECK(find_action<arm_timer>(take()) != nullptr);
}

CAF_TEST(an untracked end closes the record with its reason) {
  answer_and_get_prompt();
  call.end_untracked(persistence::end_reason::node_lost, "LOSE_RACE", 1'795'666'030'000'000);
  CAF_REQUIRE(call.ended());
  auto record = call.make_record();
  CAF_CHECK(record.reason == persistence::end_reason::node_lost);
  CAF_CHECK_EQUAL(record.hangup_cause, "LOSE_RACE");
  CAF_CHECK_EQUAL(record.disposition, "node_lost");
}

CAF_TEST_FIXTURE_SCOPE_END()
