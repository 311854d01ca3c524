#define CAF_SUITE kamailio.edge_calls

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "edge_support.hpp"
#include "kamailio/rpc_client.hpp"

using namespace callgrid;
using namespace std::chrono_literals;
using kamailio::target_state;

namespace {

/// Three fsemu nodes behind a Kamailio running the edge config with `algorithm`.
struct three_nodes {
  std::vector<std::unique_ptr<edge_test::fsemu_node>> nodes;
  std::unique_ptr<edge_test::edge_instance> edge;
  std::unique_ptr<kamailio::rpc_client> rpc;

  explicit three_nodes(const std::string& algorithm, std::vector<int> weights = {1, 1, 1}) {
    std::vector<kamailio::dispatcher_target> targets;
    for (int i = 0; i < 3; ++i) {
      nodes.push_back(std::make_unique<edge_test::fsemu_node>());
      targets.push_back(nodes.back()->target(1, weights[static_cast<std::size_t>(i)]));
    }
    auto settings = edge_test::test_settings();
    settings.algorithm = algorithm;
    edge = std::make_unique<edge_test::edge_instance>(settings, targets);
    rpc = std::make_unique<kamailio::rpc_client>(
      kamailio::rpc_options{edge->server->rpc_socket_path(), 2000ms});
  }

  std::vector<int> calls() const {
    std::vector<int> out;
    for (const auto& n : nodes)
      out.push_back(n->calls());
    return out;
  }

  void place(int calls, int rate = 20) {
    edge_test::sipp_caller caller;
    caller.scenario = "invite_bye.xml";
    caller.target_port = edge->server->sip_port();
    caller.calls = calls;
    caller.rate = rate;
    auto result = edge_test::run_sipp(caller);
    if (!result.ok)
      CAF_MESSAGE("sipp: " << result.log);
    CAF_CHECK(result.ok);
  }
};

std::string show(const std::vector<int>& counts) {
  std::string out;
  for (auto c : counts)
    out += (out.empty() ? "" : " / ") + std::to_string(c);
  return out;
}

} // namespace

CAF_TEST(round robin spreads calls evenly over three nodes) {
  three_nodes f{"round_robin"};
  f.place(30);
  auto counts = f.calls();
  CAF_MESSAGE("calls per node: " << show(counts));
  CAF_CHECK_EQUAL(counts[0] + counts[1] + counts[2], 30);
  for (auto c : counts) {
    CAF_CHECK_GREATER_OR_EQUAL(c, 9);
    CAF_CHECK_LESS_OR_EQUAL(c, 11);
  }
}

CAF_TEST(the weight algorithm spreads calls by the weights in the list) {
  three_nodes f{"weight", {50, 30, 20}};
  f.place(100, 40);
  auto counts = f.calls();
  CAF_MESSAGE("calls per node: " << show(counts));
  CAF_CHECK_EQUAL(counts[0] + counts[1] + counts[2], 100);
  CAF_CHECK_GREATER_OR_EQUAL(counts[0], 45);
  CAF_CHECK_LESS_OR_EQUAL(counts[0], 55);
  CAF_CHECK_GREATER_OR_EQUAL(counts[1], 25);
  CAF_CHECK_LESS_OR_EQUAL(counts[1], 35);
  CAF_CHECK_GREATER_OR_EQUAL(counts[2], 15);
  CAF_CHECK_LESS_OR_EQUAL(counts[2], 25);
}

CAF_TEST(a node set to d receives no new calls and the others take them) {
  three_nodes f{"round_robin"};
  f.place(6);
  auto before = f.calls();
  CAF_CHECK(!f.rpc->set_state(target_state::disabled, 1, f.nodes[1]->uri()));
  f.place(20);
  auto after = f.calls();
  CAF_MESSAGE("before " << show(before) << ", after " << show(after));
  CAF_CHECK_EQUAL(after[1], before[1]);
  CAF_CHECK_EQUAL((after[0] - before[0]) + (after[2] - before[2]), 20);
  CAF_CHECK(!f.rpc->set_state(target_state::active, 1, f.nodes[1]->uri()));
  f.place(6);
  CAF_CHECK_GREATER(f.calls()[1], after[1]);
}

namespace {

/// A node that fails (sipp as UAS answering every INVITE with `failing_scenario`) at the
/// highest priority, and an fsemu node behind it, dispatched by priority.
struct failover_pair {
  edge_test::sipp_server failing;
  edge_test::fsemu_node healthy;
  std::unique_ptr<edge_test::edge_instance> edge;

  explicit failover_pair(const std::string& failing_scenario) : failing(failing_scenario) {
    kamailio::dispatcher_target first;
    first.uri = failing.uri();
    first.priority = 10;
    first.node_id = "failing";
    auto second = healthy.target();
    auto settings = edge_test::test_settings();
    settings.algorithm = "priority";
    // No probes during the test: the sipp UAS does not answer OPTIONS.
    settings.probe_interval_s = 3600;
    edge = std::make_unique<edge_test::edge_instance>(settings,
                                                      std::vector{first, second});
  }

  edge_test::sipp_result call(const std::string& scenario) {
    edge_test::sipp_caller caller;
    caller.scenario = scenario;
    caller.target_port = edge->server->sip_port();
    caller.limit = 15s;
    return edge_test::run_sipp(caller);
  }
};

} // namespace

CAF_TEST(a 500 from a node fails over to the next node) {
  failover_pair f{"uas_500.xml"};
  auto result = f.call("invite_bye.xml");
  if (!result.ok)
    CAF_MESSAGE("sipp: " << result.log);
  CAF_CHECK(result.ok);
  CAF_CHECK_EQUAL(f.failing.invites(), 1);
  CAF_CHECK_EQUAL(f.healthy.calls(), 1);
}

CAF_TEST(a 486 from a node goes back to the caller without failover) {
  failover_pair f{"uas_486.xml"};
  auto result = f.call("invite_busy.xml");
  if (!result.ok)
    CAF_MESSAGE("sipp: " << result.log);
  CAF_CHECK(result.ok);
  CAF_CHECK_EQUAL(f.failing.invites(), 1);
  CAF_CHECK_EQUAL(f.healthy.calls(), 0);
}

CAF_TEST(a node that does not answer at all is skipped after the failover timeout) {
  edge_test::fsemu_node healthy;
  kamailio::dispatcher_target silent;
  silent.uri = "sip:127.0.0.1:" + std::to_string(test_support::pick_free_port());
  silent.priority = 10;
  auto settings = edge_test::test_settings();
  settings.algorithm = "priority";
  settings.probe_interval_s = 3600;
  edge_test::edge_instance edge{settings, {silent, healthy.target()}};
  edge_test::sipp_caller caller;
  caller.scenario = "invite_bye.xml";
  caller.target_port = edge.server->sip_port();
  caller.limit = 15s;
  auto start = std::chrono::steady_clock::now();
  auto result = edge_test::run_sipp(caller);
  auto took = std::chrono::steady_clock::now() - start;
  if (!result.ok)
    CAF_MESSAGE("sipp: " << result.log);
  CAF_CHECK(result.ok);
  CAF_CHECK_EQUAL(healthy.calls(), 1);
  CAF_CHECK(took >= 1s);
  CAF_CHECK(took < 10s);
  // The silent node is marked inactive: the next call goes straight to the healthy one.
  kamailio::rpc_client rpc{{edge.server->rpc_socket_path(), 2000ms}};
  auto listed = rpc.list();
  CAF_REQUIRE(listed);
  for (const auto& l : *listed)
    if (l.target.uri == silent.uri)
      CAF_CHECK_EQUAL(l.target.state, target_state::inactive);
}

CAF_TEST(a node hangs up through the edge and the caller answers its BYE) {
  three_nodes f{"round_robin"};
  edge_test::sipp_caller caller;
  caller.scenario = "invite_switch_bye.xml";
  caller.target_port = f.edge->server->sip_port();
  caller.service = "9197";
  caller.calls = 3;
  caller.limit = 20s;
  auto result = edge_test::run_sipp(caller);
  if (!result.ok)
    CAF_MESSAGE("sipp: " << result.log);
  CAF_CHECK(result.ok);
  auto counts = f.calls();
  CAF_CHECK_EQUAL(counts[0] + counts[1] + counts[2], 3);
}

CAF_TEST(a paused node is found by OPTIONS probing and gets calls again after resuming) {
  three_nodes f{"round_robin"};
  auto state_of = [&](const std::string& uri) {
    auto listed = f.rpc->list();
    if (listed)
      for (const auto& l : *listed)
        if (l.target.uri == uri)
          return l.target.state;
    return target_state::disabled;
  };
  auto paused = f.nodes[1]->api("fsctl pause inbound");
  CAF_CHECK_EQUAL(paused, "+OK\n");
  // fsemu answers OPTIONS with 503 while paused: one failed probe (threshold 1, every second).
  CAF_CHECK(edge_test::eventually(
    [&] { return state_of(f.nodes[1]->uri()) == target_state::inactive; }, 5s));
  auto before = f.calls();
  f.place(10);
  auto after = f.calls();
  CAF_MESSAGE("while paused: before " << show(before) << ", after " << show(after));
  CAF_CHECK_EQUAL(after[1], before[1]);
  auto resumed = f.nodes[1]->api("fsctl resume inbound");
  CAF_CHECK_EQUAL(resumed, "+OK\n");
  CAF_CHECK(edge_test::eventually(
    [&] { return state_of(f.nodes[1]->uri()) != target_state::inactive; }, 5s));
  f.place(6);
  auto last = f.calls();
  CAF_CHECK_GREATER(last[1], after[1]);
}
