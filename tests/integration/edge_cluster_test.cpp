#define CAF_SUITE integration.edge_cluster

#include <caf/test/unit_test.hpp>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "../kamailio/edge_support.hpp"
#include "kamailio/rpc_client.hpp"
#include "coordinator_process.hpp"
#include "platform.hpp"

// The whole platform with its edge: a real Kamailio running the rendered edge config, three
// media nodes (fsemu with its SIP side + callgridd role node), a coordinator callgridd writing the
// dispatcher list and calling Kamailio's RPC, sipp calling through Kamailio, callgridctl draining.

using namespace callgrid;
using namespace callgrid::test_support;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

/// Whether Kamailio's `dispatcher.list` has every node in `nodes` active.
bool kamailio_lists_active(kamailio::rpc_client& rpc,
                           std::initializer_list<const media_node*> nodes) {
  auto listed = rpc.list();
  if (!listed)
    return false;
  for (const auto* node : nodes) {
    bool active = false;
    for (const auto& l : *listed)
      active = active
               || (l.target.uri == node->sip_uri()
                   && l.target.state == kamailio::target_state::active);
    if (!active)
      return false;
  }
  return true;
}

const std::string binary_dir = CALLGRID_BINARY_DIR;
const std::string sipp_dir = std::string{CALLGRID_TEST_DATA_DIR} + "/sipp/";

/// sipp calling 1000 through the edge: `calls` calls at `rate` per second, each held `hold`
/// and then hung up by the caller. Blocking; exit code 0 means every call went through.
command_result sipp_calls(std::uint16_t edge_port, int calls, int rate,
                          std::chrono::milliseconds hold, const std::filesystem::path& dir) {
  std::ostringstream line;
  line << "/usr/bin/sipp 127.0.0.1:" << edge_port << " -sf " << sipp_dir
       << "invite_hold_bye.xml -s 1000 -i 127.0.0.1 -p " << pick_free_port() << " -m " << calls
       << " -r " << rate << " -l " << calls << " -d " << hold.count()
       << " -timeout 90s -timeout_error -nostdin -nd -trace_err -error_file "
       << (dir / ("sipp-errors-" + std::to_string(pick_free_port()) + ".log")).string();
  return run_command(line.str());
}

} // namespace

CAF_TEST(calls spread over three nodes and a node drained with 100 calls up keeps them but gets no new ones) {
  platform p;
  media_node a{p, "node-a"};
  media_node b{p, "node-b"};
  media_node c{p, "node-c"};
  // Kamailio starts with the three nodes admin-disabled: only the coordinator enables them.
  auto settings = edge_test::test_settings();
  std::vector<kamailio::dispatcher_target> targets;
  for (auto* n : {&a, &b, &c})
    targets.push_back({.set = 1, .uri = n->sip_uri(), .state = kamailio::target_state::disabled,
                       .weight = 1, .priority = 0, .node_id = n->name});
  edge_test::edge_instance edge{settings, targets};
  coordinator_process coordinator{p, edge.list_file(), edge.server->rpc_socket_path()};
  for (auto* n : {&a, &b, &c})
    n->start(coordinator.node_cluster_section("60s"));

  bool all_active = eventually(
    [&] {
      auto members = coordinator.members();
      int active = 0;
      for (auto& m : members)
        active += m.value("state", "") == "active" ? 1 : 0;
      return active == 3;
    },
    40s);
  if (!all_active)
    CAF_MESSAGE("coordinator:\n" << coordinator.log() << a.logs());
  CAF_REQUIRE(all_active);
  // Kamailio has them active too: at once by set_state for a target it already holds, at its
  // next reload (spaced by the coordinator) for one its last reload did not include.
  kamailio::rpc_client rpc{{.socket_path = edge.server->rpc_socket_path()}};
  CAF_REQUIRE(eventually([&] { return kamailio_lists_active(rpc, {&a, &b, &c}); }, 20s));

  // 300 calls held 15 s: round robin puts 100 on each node.
  constexpr int first_batch = 300;
  constexpr int second_batch = 20;
  command_result first;
  std::thread caller{
    [&] { first = sipp_calls(edge.server->sip_port(), first_batch, 50, 15s, p.dir()); }};
  // Drain once every call of the batch is up (placing them takes 6 s at 50 calls/s; more on a
  // loaded machine, which a fixed sleep made this test fail on).
  auto calls_up = [&] {
    return a.calls_since_start() + b.calls_since_start() + c.calls_since_start();
  };
  CAF_REQUIRE(eventually([&] { return calls_up() == first_batch; }, 14s));
  auto drain_started = std::chrono::steady_clock::now();
  auto drain = coordinator.ctl("drain node-a --no-deadline --yes --detach -m 'edge test'");
  auto drain_returned = std::chrono::steady_clock::now();
  CAF_MESSAGE("node drain said (in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(drain_returned
                                                                       - drain_started)
                   .count()
              << " ms):\n"
              << drain.output);
  CAF_CHECK_EQUAL(drain.exit_code, 0);
  int a_at_drain = a.calls_since_start();
  int b_at_drain = b.calls_since_start();
  int c_at_drain = c.calls_since_start();
  CAF_MESSAGE("calls per node at the drain: a " << a_at_drain << ", b " << b_at_drain << ", c "
                                                << c_at_drain);
  CAF_CHECK_EQUAL(a_at_drain + b_at_drain + c_at_drain, first_batch);
  CAF_CHECK_GREATER_OR_EQUAL(a_at_drain, 90);

  // While node a's calls are still up, new calls reach b and c only.
  auto second = sipp_calls(edge.server->sip_port(), second_batch, 10, 500ms, p.dir());
  CAF_CHECK_EQUAL(second.exit_code, 0);
  CAF_CHECK_EQUAL(a.calls_since_start(), a_at_drain);
  CAF_CHECK_EQUAL(b.calls_since_start() + c.calls_since_start(),
                  b_at_drain + c_at_drain + second_batch);

  // No call in progress was dropped: every call of the first batch ran its full length.
  caller.join();
  auto last_call_ended = std::chrono::steady_clock::now();
  if (first.exit_code != 0)
    CAF_MESSAGE("first batch:\n" << first.output.substr(
                  first.output.size() > 2000 ? first.output.size() - 2000 : 0));
  CAF_CHECK_EQUAL(first.exit_code, 0);

  // The drain ends once the held calls are gone: drained within 5 s of the last call.
  auto monitor = coordinator.ctl("drain node-a --monitor");
  auto drained_after = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - last_call_ended);
  CAF_MESSAGE("node drain --monitor said (" << drained_after.count()
                                            << " ms after the last call ended):\n"
                                            << monitor.output);
  CAF_CHECK_EQUAL(monitor.exit_code, 0);
  CAF_CHECK_LESS(drained_after, 5s);
  // Every call of both batches has exactly one record.
  auto rows = p.wait_for_records(first_batch + second_batch, 30s);
  CAF_CHECK_EQUAL(rows.size(), static_cast<std::size_t>(first_batch + second_batch));

  // The coordinator's /metrics: three members, one drained; the dispatcher list was written and
  // Kamailio took set_state calls and (coalesced) reloads without failures.
  auto page = coordinator.metrics();
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_members{state="active"})"), 2.0);
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_members{state="drained"})"), 1.0);
  CAF_CHECK_GREATER(metric_value(page, "callgrid_dispatcher_writes_total"), 0.0);
  CAF_CHECK_GREATER_OR_EQUAL(metric_value(page, "callgrid_dispatcher_state_changes_total"), 1.0);
  CAF_CHECK_GREATER_OR_EQUAL(metric_value(page, "callgrid_dispatcher_reloads_total"), 1.0);
  CAF_CHECK_EQUAL(metric_value(page, "callgrid_dispatcher_write_failures_total"), 0.0);
  CAF_CHECK_EQUAL(metric_value(page, "callgrid_dispatcher_set_state_failures_total"), 0.0);
  CAF_CHECK_EQUAL(metric_value(page, "callgrid_dispatcher_mismatches_total"), 0.0);
  CAF_CHECK_GREATER(metric_value(page, "callgrid_cluster_heartbeats_total"), 30.0);
}

CAF_TEST(a new node gets calls once healthy and a node whose callgridd is killed stops getting them) {
  platform p;
  media_node a{p, "node-a"};
  media_node b{p, "node-b"};
  media_node d{p, "node-d"};
  auto settings = edge_test::test_settings();
  std::vector<kamailio::dispatcher_target> targets;
  for (auto* n : {&a, &b, &d})
    targets.push_back({.set = 1, .uri = n->sip_uri(), .state = kamailio::target_state::disabled,
                       .weight = 1, .priority = 0, .node_id = n->name});
  edge_test::edge_instance edge{settings, targets};
  coordinator_process coordinator{p, edge.list_file(), edge.server->rpc_socket_path()};
  a.start(coordinator.node_cluster_section("60s"));
  b.start(coordinator.node_cluster_section("60s"));
  auto state_of = [&](const std::string& node) {
    auto m = coordinator.member(node);
    return m.is_object() ? m.value("state", std::string{}) : std::string{};
  };
  CAF_REQUIRE(eventually(
    [&] { return state_of("node-a") == "active" && state_of("node-b") == "active"; }, 40s));

  // node-d is listed at the edge, admin-disabled: calls go to a and b only until it joins.
  auto before = sipp_calls(edge.server->sip_port(), 10, 10, 200ms, p.dir());
  CAF_CHECK_EQUAL(before.exit_code, 0);
  CAF_CHECK_EQUAL(a.calls_since_start() + b.calls_since_start(), 10);
  d.start(coordinator.node_cluster_section("60s"));
  CAF_REQUIRE(eventually([&] { return state_of("node-d") == "active"; }, 30s));
  // The coordinator rewrote the list at once; Kamailio takes a target new to it at its next
  // reload, which the coordinator spaces (edge reload interval). Wait for Kamailio itself.
  auto active_at = std::chrono::steady_clock::now();
  kamailio::rpc_client rpc{{.socket_path = edge.server->rpc_socket_path()}};
  CAF_REQUIRE(eventually([&] { return kamailio_lists_active(rpc, {&d}); }, 20s));
  CAF_MESSAGE("Kamailio lists node-d active "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - active_at)
                   .count()
              << " ms after the coordinator did");
  auto joined = sipp_calls(edge.server->sip_port(), 30, 15, 200ms, p.dir());
  CAF_CHECK_EQUAL(joined.exit_code, 0);
  CAF_MESSAGE("after the join: a " << a.calls_since_start() << ", b " << b.calls_since_start()
                                   << ", d " << d.calls_since_start());
  if (d.calls_since_start() < 5)
    CAF_MESSAGE("dispatcher list:\n" << read_text(edge.list_file()) << "\ncoordinator log:\n"
                                      << coordinator.log() << "\ncoordinator metrics:\n"
                                      << coordinator.metrics());
  CAF_CHECK_GREATER_OR_EQUAL(d.calls_since_start(), 5);

  // SIGKILL of node-b's callgridd: its FreeSWITCH still answers Kamailio's probes, so only the
  // coordinator's failure detector can take it out (down after cluster.down_after = 10 s).
  auto killed_at = std::chrono::steady_clock::now();
  b.kill_callgridd();
  CAF_REQUIRE(eventually([&] { return state_of("node-b") == "down"; }, 20s));
  auto down_after = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - killed_at);
  CAF_MESSAGE("node-b down " << down_after.count() << " ms after the kill");
  CAF_CHECK_LESS(down_after, 12s);
  // Its FreeSWITCH keeps answering OPTIONS; the edge must still not send it calls.
  int b_at_down = b.calls_since_start();
  auto after = sipp_calls(edge.server->sip_port(), 20, 10, 200ms, p.dir());
  CAF_CHECK_EQUAL(after.exit_code, 0);
  std::this_thread::sleep_for(2s);
  auto later = sipp_calls(edge.server->sip_port(), 10, 10, 200ms, p.dir());
  CAF_CHECK_EQUAL(later.exit_code, 0);
  CAF_MESSAGE("node-b calls: " << b_at_down << " at down, " << b.calls_since_start()
                                << " after 30 more");
  CAF_CHECK_EQUAL(b.calls_since_start(), b_at_down);
}
