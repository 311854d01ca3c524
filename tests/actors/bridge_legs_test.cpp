#define CAF_SUITE actors.bridge_legs

#include "actors/bridge_legs.hpp"

#include <caf/test/unit_test.hpp>

#include "json_event.hpp"

using namespace callgrid;
using namespace callgrid::actors;

namespace {

constexpr const char* call = "5f1c0a52-0000-4000-8000-000000000001";
constexpr const char* far = "9d3e7b10-0000-4000-8000-0000000000b1";
constexpr auto ring = std::chrono::seconds{25};

/// `name_far_legs(dial, call, first, 25 s)`'s text, and its leg count in `legs`.
std::string named(std::string_view dial, int32_t first = 1, int32_t* legs = nullptr) {
  auto out = name_far_legs(dial, call, first, ring);
  if (legs != nullptr)
    *legs = out.legs;
  return out.text;
}

/// The block every named dial string starts with, `extra` variables after it.
std::string block(std::string_view extra = "") {
  std::string out = "{originate_timeout=25";
  if (!extra.empty()) {
    out += ',';
    out += extra;
  }
  return out + ",callgrid_call=" + call + "}";
}

/// The final event of a far leg: outbound, tagged, answered at 2 s, ended at 5 s.
std::vector<std::pair<std::string, std::string>> far_leg_fields() {
  return {{"Call-Direction", "outbound"},
          {"Caller-Caller-ID-Number", "5550300"},
          {"Caller-Destination-Number", "8500"},
          {"Caller-Channel-Created-Time", "1000000000"},
          {"Caller-Channel-Answered-Time", "1002000000"},
          {"Caller-Channel-Hangup-Time", "1005000000"},
          {"Hangup-Cause", "NORMAL_CLEARING"},
          {"variable_mduration", "5000"},
          {"variable_billmsec", "3000"},
          {"variable_sip_term_status", "200"},
          {"variable_callgrid_call", call},
          {"variable_callgrid_leg", "2"}};
}

esl::frame final_event(std::vector<std::pair<std::string, std::string>> fields) {
  return test_support::json_event(far, "CHANNEL_HANGUP_COMPLETE", fields);
}

/// `fields` with `name` set to `value` ("" removes it).
std::vector<std::pair<std::string, std::string>>
with(std::vector<std::pair<std::string, std::string>> fields, const std::string& name,
     const std::string& value) {
  std::erase_if(fields, [&](const auto& f) { return f.first == name; });
  if (!value.empty())
    fields.emplace_back(name, value);
  return fields;
}

} // namespace

CAF_TEST(a bridge rings for the answer timeout unless its dial string says otherwise) {
  CAF_CHECK_EQUAL(with_originate_timeout("sofia/gateway/gw/4930123", ring),
                  "{originate_timeout=25}sofia/gateway/gw/4930123");
  CAF_CHECK_EQUAL(with_originate_timeout("{ignore_early_media=true}user/1000", ring),
                  "{originate_timeout=25,ignore_early_media=true}user/1000");
  CAF_CHECK_EQUAL(with_originate_timeout("{}user/1000", ring), "{originate_timeout=25}user/1000");
  CAF_CHECK_EQUAL(with_originate_timeout("{a=1,originate_timeout=90}user/1000", ring),
                  "{a=1,originate_timeout=90}user/1000");
  CAF_CHECK_EQUAL(with_originate_timeout("{my_originate_timeout=9}user/1000", ring),
                  "{originate_timeout=25,my_originate_timeout=9}user/1000");
  CAF_CHECK_EQUAL(with_originate_timeout("[leg_timeout=10]user/1000", ring),
                  "{originate_timeout=25}[leg_timeout=10]user/1000");
  CAF_CHECK_EQUAL(with_originate_timeout("${group_call(sales)}", ring), "${group_call(sales)}");
  CAF_CHECK_EQUAL(with_originate_timeout("<ignore_early_media=true>user/1000", ring),
                  "<ignore_early_media=true>user/1000");
}

CAF_TEST(every endpoint of a dial string gets a leg number and the block the call) {
  int32_t legs = 0;
  CAF_CHECK_EQUAL(named("loopback/8500", 1, &legs), block() + "[callgrid_leg=1]loopback/8500");
  CAF_CHECK_EQUAL(legs, 1);
  // Rung at once, then one after the other; numbering goes on from `first_leg`.
  CAF_CHECK_EQUAL(named("user/1000,user/1001|sofia/gateway/gw/4930123", 3, &legs),
                  block() + "[callgrid_leg=3]user/1000,[callgrid_leg=4]user/1001|"
                              "[callgrid_leg=5]sofia/gateway/gw/4930123");
  CAF_CHECK_EQUAL(legs, 3);
  // An endpoint's own block gets the number first; an empty one just the number.
  CAF_CHECK_EQUAL(named("[leg_timeout=10,a=1]user/1000,[]user/1001", 1, &legs),
                  block() + "[callgrid_leg=1,leg_timeout=10,a=1]user/1000,"
                              "[callgrid_leg=2]user/1001");
  CAF_CHECK_EQUAL(legs, 2);
  // The dial string's block keeps its variables and its own timeout.
  CAF_CHECK_EQUAL(named("{ignore_early_media=true,originate_timeout=90}user/1000"),
                  std::string{"{ignore_early_media=true,originate_timeout=90,callgrid_call="} + call
                    + "}[callgrid_leg=1]user/1000");
  // Separators inside brackets and escaped ones separate nothing.
  CAF_CHECK_EQUAL(named("[sip_h_X-Tags=a\\,b|c]user/1000", 1, &legs),
                  block() + "[callgrid_leg=1,sip_h_X-Tags=a\\,b|c]user/1000");
  CAF_CHECK_EQUAL(legs, 1);
  CAF_CHECK_EQUAL(named("sofia/gw/x/49\\,30", 1, &legs),
                  block() + "[callgrid_leg=1]sofia/gw/x/49\\,30");
  CAF_CHECK_EQUAL(legs, 1);
  // A trailing separator announces no endpoint.
  CAF_CHECK_EQUAL(named("user/1000,", 1, &legs), block() + "[callgrid_leg=1]user/1000,");
  CAF_CHECK_EQUAL(legs, 1);
}

CAF_TEST(dial strings FreeSWITCH expands later are left unnamed) {
  int32_t legs = 7;
  CAF_CHECK_EQUAL(named("${group_call(sales)}", 1, &legs), "${group_call(sales)}");
  CAF_CHECK_EQUAL(legs, 0);
  CAF_CHECK_EQUAL(named("<ignore_early_media=true>user/1000", 1, &legs),
                  "<ignore_early_media=true>user/1000");
  CAF_CHECK_EQUAL(legs, 0);
  CAF_CHECK_EQUAL(named("{unclosed=1 user/1000", 1, &legs), "{unclosed=1 user/1000");
  CAF_CHECK_EQUAL(legs, 0);
}

CAF_TEST(the final event of a far leg becomes its record) {
  auto record = far_leg_record(final_event(far_leg_fields()), "node-a");
  CAF_REQUIRE(record.has_value());
  CAF_CHECK_EQUAL(record->call_uuid, call);
  CAF_CHECK_EQUAL(record->leg_uuid, far);
  CAF_CHECK_EQUAL(record->leg, 2);
  CAF_CHECK(record->direction == persistence::call_direction::outbound);
  CAF_CHECK_EQUAL(record->caller, "5550300");
  CAF_CHECK_EQUAL(record->callee, "8500");
  CAF_CHECK_EQUAL(record->node, "node-a");
  CAF_CHECK_EQUAL(record->created_us, 1000000000);
  CAF_CHECK(record->answered_us == std::optional<int64_t>{1002000000});
  CAF_CHECK_EQUAL(record->ended_us, 1005000000);
  CAF_CHECK_EQUAL(record->duration_ms, 5000);
  CAF_CHECK_EQUAL(record->billsec_ms, 3000);
  CAF_CHECK_EQUAL(record->hangup_cause, "NORMAL_CLEARING");
  CAF_CHECK(record->sip_code == std::optional<int32_t>{200});
  CAF_CHECK_EQUAL(record->disposition, "answered");
  CAF_CHECK(record->ivr_path.empty());
  CAF_CHECK(!record->route_id && !record->flow_id);
  CAF_CHECK(record->reason == persistence::end_reason::normal);
}

CAF_TEST(an unanswered far leg says why by its disposition) {
  auto unanswered = with(far_leg_fields(), "Caller-Channel-Answered-Time", "0");
  for (auto [cause, disposition] : std::vector<std::pair<std::string, std::string>>{
         {"USER_BUSY", "busy"},
         {"NO_ANSWER", "no_answer"},
         {"LOSE_RACE", "no_answer"},
         {"ORIGINATOR_CANCEL", "no_answer"},
         {"CALL_REJECTED", "failed"}}) {
    auto record = far_leg_record(final_event(with(unanswered, "Hangup-Cause", cause)), "n");
    CAF_REQUIRE(record.has_value());
    CAF_CHECK(!record->answered_us);
    CAF_CHECK_EQUAL(record->hangup_cause, cause);
    CAF_CHECK_EQUAL(record->disposition, disposition);
  }
}

CAF_TEST(only the final event of a named outbound leg makes a record) {
  auto fields = far_leg_fields();
  CAF_CHECK(!far_leg_record(test_support::json_event(far, "CHANNEL_ANSWER", fields), "n"));
  // Not ours: no call, no leg, a leg number that is none, an inbound leg (the far end of a
  // loopback pair carries the variables it was originated with, and parks as a call of its own).
  CAF_CHECK(!far_leg_record(final_event(with(fields, "variable_callgrid_call", "")), "n"));
  CAF_CHECK(!far_leg_record(final_event(with(fields, "variable_callgrid_leg", "")), "n"));
  for (const char* bad : {"0", "-1", "two", "2x"})
    CAF_CHECK(!far_leg_record(final_event(with(fields, "variable_callgrid_leg", bad)), "n"));
  CAF_CHECK(!far_leg_record(final_event(with(fields, "Call-Direction", "inbound")), "n"));
  CAF_CHECK(!far_leg_record(final_event(with(fields, "Call-Direction", "")), "n"));
}
