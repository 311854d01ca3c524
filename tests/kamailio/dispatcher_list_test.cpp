#define CAF_SUITE kamailio.dispatcher_list

#include <caf/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include "kamailio/dispatcher_list.hpp"

using namespace callgrid;
using kamailio::dispatcher_target;
using kamailio::target_state;

namespace {

dispatcher_target target(int set, std::string uri, target_state state = target_state::active,
                         int weight = 1) {
  dispatcher_target t;
  t.set = set;
  t.uri = std::move(uri);
  t.state = state;
  t.weight = weight;
  return t;
}

std::vector<dispatcher_target> three_nodes() {
  return {
    {.set = 1, .uri = "sip:10.0.0.11:5060", .state = target_state::active, .weight = 50,
     .priority = 0, .node_id = "fs-a"},
    {.set = 1, .uri = "sip:10.0.0.12:5060", .state = target_state::disabled, .weight = 30,
     .priority = 5, .node_id = "fs-b"},
    {.set = 2, .uri = "sip:10.0.0.13:5080;transport=udp", .state = target_state::inactive,
     .weight = 20, .priority = 1, .node_id = ""},
    {.set = 2, .uri = "sips:gw.example.net", .state = target_state::probing, .weight = 100,
     .priority = 0, .node_id = "gw"},
  };
}

} // namespace

CAF_TEST(a rendered list parses back to the same targets) {
  auto targets = three_nodes();
  auto text = kamailio::render_dispatcher_list(targets);
  auto parsed = kamailio::parse_dispatcher_list(text);
  CAF_CHECK(parsed.problems.empty());
  CAF_REQUIRE_EQUAL(parsed.targets.size(), targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& got = parsed.targets[i];
    const auto& want = targets[i];
    CAF_CHECK(got == want);
  }
}

CAF_TEST(the flags column carries the state as Kamailio reads it) {
  auto text = kamailio::render_dispatcher_list(three_nodes());
  CAF_CHECK_NOT_EQUAL(text.find("1 sip:10.0.0.11:5060 0 0 weight=50;duid=fs-a\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("1 sip:10.0.0.12:5060 4 5 weight=30;duid=fs-b\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("2 sip:10.0.0.13:5080;transport=udp 1 1 weight=20\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("2 sips:gw.example.net 8 0 weight=100;duid=gw\n"),
                      std::string::npos);
  CAF_CHECK_EQUAL(kamailio::state_from_flags(4 | 8), target_state::disabled);
  CAF_CHECK_EQUAL(kamailio::state_from_flags(1 | 8), target_state::inactive);
  CAF_CHECK_EQUAL(kamailio::state_from_flags(2), target_state::active);
  CAF_CHECK_EQUAL(std::string{kamailio::rpc_state_letters(target_state::disabled)}, "d");
  CAF_CHECK_EQUAL(std::string{kamailio::rpc_state_letters(target_state::probing)}, "ap");
}

CAF_TEST(a hand written list with comments and optional columns parses) {
  auto parsed = kamailio::parse_dispatcher_list("# gateways\n"
                                                "\n"
                                                "1 sip:127.0.0.1:7070 0 0 duid=xyz;maxload=20\n"
                                                "1 sip:127.0.0.1:7072 0 5   # trailing\n"
                                                "1 sip:127.0.0.1:7074\r\n");
  CAF_CHECK(parsed.problems.empty());
  CAF_REQUIRE_EQUAL(parsed.targets.size(), 3u);
  CAF_CHECK_EQUAL(parsed.targets[0].node_id, "xyz");
  CAF_CHECK_EQUAL(parsed.targets[1].priority, 5);
  CAF_CHECK_EQUAL(parsed.targets[2].uri, "sip:127.0.0.1:7074");
  CAF_CHECK_EQUAL(parsed.targets[2].state, target_state::active);
}

CAF_TEST(every bad line is reported with its line and column and left out) {
  auto parsed = kamailio::parse_dispatcher_list("1 sip:10.0.0.1 0 0 weight=10\n"
                                                "x sip:10.0.0.2\n"
                                                "1 http://10.0.0.3\n"
                                                "1  sip:10.0.0.4 99\n"
                                                "1 sip:10.0.0.5 0 high\n"
                                                "1 sip:10.0.0.6 0 0 weight=lots\n"
                                                "  7\n"
                                                "1 sip:10.0.0.7 0 0 a b\n");
  CAF_CHECK_EQUAL(parsed.targets.size(), 1u);
  CAF_REQUIRE_EQUAL(parsed.problems.size(), 7u);
  auto text = kamailio::render_problems(parsed.problems, "d.list");
  CAF_MESSAGE(text);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:2:1: the set id"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:3:3: not a sip: or sips: URI"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:4:17: the flags are not a number from 0 to 31"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:5:18: the priority"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:6:20: attribute weight"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:7:3: a target needs"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("d.list:8:22: more than five fields"), std::string::npos);
}

CAF_TEST(a list that leaves a required set without a usable node is refused) {
  std::vector<dispatcher_target> targets{
    target(1, "sip:10.0.0.11", target_state::disabled),
    target(1, "sip:10.0.0.12", target_state::inactive),
  };
  auto problems = kamailio::validate_dispatcher_list(targets, {.required_sets = {1, 2}});
  CAF_REQUIRE_EQUAL(problems.size(), 2u);
  CAF_CHECK_NOT_EQUAL(problems[0].message.find("set 1 has no active or probing target"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(problems[1].message.find("set 2 has no target"), std::string::npos);
  auto rendered = kamailio::render_valid_dispatcher_list(targets, {.required_sets = {1}});
  CAF_REQUIRE(!rendered);
  CAF_CHECK_EQUAL(rendered.error().code, kamailio::errc::invalid_list);
  // Without the rule an all-disabled set is a legitimate list (everything drained).
  CAF_CHECK(kamailio::validate_dispatcher_list(targets).empty());
  targets[1].state = target_state::probing;
  CAF_CHECK(kamailio::validate_dispatcher_list(targets, {.required_sets = {1}}).empty());
}

CAF_TEST(targets Kamailio would misread are refused before writing) {
  std::vector<dispatcher_target> targets{
    target(1, "sip:10.0.0.11", target_state::active, 0),
    target(1, "sip:10.0.0.12", target_state::active, 101),
    target(1, "sip:10.0.0.13 x", target_state::active, 10),
    target(1, "sip:10.0.0.14", target_state::active, 10),
    target(1, "sip:10.0.0.14", target_state::active, 10),
    target(-1, "sip:10.0.0.15", target_state::active, 10),
    target(1, "sip:10.0.0.16", target_state::active, 10),
  };
  targets[3].node_id = "a;b";
  targets[6].priority = -2;
  auto problems = kamailio::validate_dispatcher_list(targets);
  CAF_CHECK_EQUAL(problems.size(), 7u);
  auto text = kamailio::render_problems(problems, "list");
  CAF_CHECK_NOT_EQUAL(text.find("weight 0 is outside 1 to 100"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("weight 101"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("without blanks"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("node id 'a;b'"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("listed twice in set 1"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("set id -1 is negative"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("priority -2 is negative"), std::string::npos);
}
