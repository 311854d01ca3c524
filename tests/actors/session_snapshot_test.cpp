#define CAF_SUITE actors.session_snapshot

// The journal entry a call start writes (node_supervisor.hpp): read back by the recovery with
// a JSON parser, so it must be valid JSON whatever the caller's number holds.

#include <string>

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "actors/node_supervisor.hpp"

using namespace callgrid;
using namespace callgrid::actors;

namespace {

call_setup routed_call() {
  call_setup setup;
  setup.uuid = "5f1c0a52-0000-4000-8000-0000000000c1";
  setup.caller = "5551234";
  setup.callee = "1000";
  setup.node = "node-a";
  setup.mode = persistence::esl_mode::outbound;
  setup.created_us = 1'795'666'019'839'996;
  route r;
  r.id = 4;
  r.flow_id = 9;
  setup.matched_route = std::make_shared<const actors::route>(r);
  return setup;
}

} // namespace

CAF_TEST(a snapshot holds what the recovery reads back) {
  auto doc = nlohmann::json::parse(session_snapshot(routed_call()));
  CAF_CHECK_EQUAL(doc.at("caller").get<std::string>(), "5551234");
  CAF_CHECK_EQUAL(doc.at("callee").get<std::string>(), "1000");
  CAF_CHECK_EQUAL(doc.at("mode").get<std::string>(), "outbound");
  CAF_CHECK_EQUAL(doc.at("created_us").get<int64_t>(), 1'795'666'019'839'996);
  CAF_CHECK_EQUAL(doc.at("node").get<std::string>(), "node-a");
  CAF_CHECK_EQUAL(doc.at("route_id").get<int64_t>(), 4);
  CAF_CHECK_EQUAL(doc.at("flow_id").get<int64_t>(), 9);
}

CAF_TEST(a call without a route has no route or flow in its snapshot) {
  auto setup = routed_call();
  setup.matched_route.reset();
  auto doc = nlohmann::json::parse(session_snapshot(setup));
  CAF_CHECK(!doc.contains("route_id"));
  CAF_CHECK(!doc.contains("flow_id"));
}

CAF_TEST(quotes controls and stray bytes in a caller still give valid JSON) {
  auto setup = routed_call();
  setup.caller = "\"Bob\" \\ \x01\xff";
  auto text = session_snapshot(setup);
  auto doc = nlohmann::json::parse(text, nullptr, false);
  CAF_REQUIRE(!doc.is_discarded());
  CAF_CHECK_EQUAL(doc.at("caller").get<std::string>(), "\"Bob\" \\ \x01\xef\xbf\xbd");
}
