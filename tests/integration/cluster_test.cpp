#define CAF_SUITE integration.cluster

#include <caf/test/unit_test.hpp>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "kamailio/dispatcher_list.hpp"
#include "coordinator_process.hpp"
#include "platform.hpp"

// The drain across the layers without Kamailio (tests/kamailio has the edge with real calls): a
// coordinator callgridd (role coordinator) and a node callgridd (role node) with fsemu and
// scripted callers; callgridctl talks to the coordinator's admin API; the coordinator writes the
// dispatcher list file (its RPC calls go nowhere, which must not matter).

using namespace callgrid::test_support;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string binary_dir = CALLGRID_BINARY_DIR;

/// The dispatcher list file's entry for `uri`, parsed.
std::optional<callgrid::kamailio::dispatcher_target>
dispatcher_entry(const coordinator_process& coordinator, const std::string& uri) {
  auto parsed
    = callgrid::kamailio::parse_dispatcher_list(read_text(coordinator.dir / "dispatcher.list"));
  for (auto& target : parsed.targets)
    if (target.uri == uri)
      return target;
  return std::nullopt;
}

/// A coordinator with fast failure detection and no Kamailio behind its RPC socket.
coordinator_process make_coordinator(const platform& p) {
  auto dir = p.dir() / "coordinator";
  return coordinator_process{p, dir / "dispatcher.list", dir / "no-kamailio.sock",
                             "suspect_after = \"2s\"\ndown_after = \"4s\"\n"};
}

/// Callers who dial 1000, listen to the welcome prompt and then stay on the line for up to a
/// minute without pressing anything (the drain ends their calls first).
std::string waiting_callers(int count) {
  return "[[callers]]\nname = \"waiting\"\ndestination = \"1000\"\ncaller_id = \"5551000\"\n"
         "rate = 50\nconcurrency = " + std::to_string(count) + "\ntotal = "
         + std::to_string(count)
         + "\nanswer_timeout = \"5s\"\nwait_timeout = \"90s\"\nstart_after = \"1s\"\n"
           "variables = { park_timeout = 120 }\n\n[[callers.scripts]]\nname = \"waiting\"\n"
           "steps = [{ wait_prompt = 1 }, { expect_hangup = \"80s\" }]\n\n";
}

/// Whether the coordinator lists node-it as active with exactly `calls` live calls.
bool active_with_calls(const coordinator_process& coordinator, int calls) {
  auto m = coordinator.member("node-it");
  return m.is_object() && m.value("state", "") == "active" && m.value("live_calls", 0) == calls;
}

} // namespace

CAF_TEST(a drain with a deadline hangs up the rest with SYSTEM_SHUTDOWN and exits 2) {
  platform p;
  auto coordinator = make_coordinator(p);
  p.start_callgridd(0, coordinator.node_cluster_section("5s"));
  p.start_fsemu(waiting_callers(6), {"--run-callers"});

  // The node joins and becomes active once its ESL link is up; the edge then lists it active.
  bool active = eventually(
    [&] { return active_with_calls(coordinator, 6); },
    30s);
  if (!active)
    CAF_MESSAGE("coordinator log:\n" << coordinator.log()
                                     << "\nnode log:\n" << p.callgridd_log());
  CAF_REQUIRE(active);
  auto entry = dispatcher_entry(coordinator, "sip:127.0.0.1:5080");
  CAF_REQUIRE(entry.has_value());
  CAF_CHECK(entry->state == callgrid::kamailio::target_state::active);

  // The coordinator's /metrics shows the member, its calls and its heartbeats.
  auto page = coordinator.metrics();
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_members{state="active"})"), 1.0);
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_member_live_calls{node="node-it"})"),
                  6.0);
  CAF_CHECK_GREATER(metric_value(page, "callgrid_cluster_heartbeats_total"), 0.0);
  CAF_CHECK_EQUAL(metric_value(page, "callgrid_cluster_leader"), 1.0);
  CAF_CHECK_EQUAL(
    metric_value(page, R"(callgrid_cluster_member_drain_remaining_calls{node="node-it"})"), 0.0);

  // Drain with a 3 s deadline: the callers would stay 80 s, so all 6 are hung up at it. While it
  // runs, /metrics shows its progress.
  command_result drain;
  std::thread drainer{
    [&] { drain = coordinator.ctl("drain node-it --deadline 3s --yes -m 'cluster test'"); }};
  bool progress_shown = eventually(
    [&] {
      auto during = coordinator.metrics();
      return metric_value(during, R"(callgrid_cluster_members{state="draining"})") == 1.0
             && metric_value(during,
                             R"(callgrid_cluster_member_drain_remaining_calls{node="node-it"})")
                  == 6.0;
    },
    3s);
  drainer.join();
  CAF_CHECK(progress_shown);
  CAF_MESSAGE("node drain said:\n" << drain.output);
  CAF_CHECK_EQUAL(drain.exit_code, 2);
  CAF_CHECK(drain.output.find("6 call(s) were hung up") != std::string::npos);
  CAF_CHECK(drain.output.find("no longer sends it calls") != std::string::npos);

  // Every call has its record, ended by the drain.
  auto rows = p.wait_for_records(6, 10s);
  CAF_REQUIRE_EQUAL(rows.size(), 6u);
  for (const auto& row : rows) {
    CAF_CHECK_EQUAL(row.end_reason, "node_drain");
    CAF_CHECK_EQUAL(row.hangup_cause, "SYSTEM_SHUTDOWN");
  }
  // The edge has the node admin-disabled, and the node list says why and who.
  entry = dispatcher_entry(coordinator, "sip:127.0.0.1:5080");
  CAF_REQUIRE(entry.has_value());
  CAF_CHECK(entry->state == callgrid::kamailio::target_state::disabled);
  auto drained = coordinator.member("node-it");
  if (drained.empty()) // seen once: the node list failed right after the drain
    CAF_MESSAGE("coordinator log:\n" << coordinator.log());
  CAF_CHECK_EQUAL(drained.value("state", ""), "drained");
  CAF_CHECK_EQUAL(drained.value("reason", ""), "cluster test");
  page = coordinator.metrics();
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_members{state="drained"})"), 1.0);
  CAF_CHECK_EQUAL(
    metric_value(page, R"(callgrid_cluster_member_drain_remaining_calls{node="node-it"})"), 0.0);
  CAF_CHECK_EQUAL(
    metric_value(page, R"(callgrid_cluster_member_drain_pending_records{node="node-it"})"), 0.0);
  CAF_CHECK_GREATER_OR_EQUAL(metric_value(page, "callgrid_cluster_commands_total"), 1.0);

  // Cancelling the drain brings the node back into the dispatcher set.
  auto cancel = coordinator.ctl("drain node-it --disable");
  CAF_CHECK_EQUAL(cancel.exit_code, 0);
  CAF_CHECK(eventually(
    [&] {
      auto e = dispatcher_entry(coordinator, "sip:127.0.0.1:5080");
      return e && e->state == callgrid::kamailio::target_state::active;
    },
    10s));

  // A node that dies is seen by the failure detector (suspect after 2 s, down after 4 s here),
  // and /metrics counts both verdicts.
  auto before = coordinator.metrics();
  auto suspects = metric_value(before,
                               R"(callgrid_cluster_failure_detector_transitions_total{to="suspect"})");
  p.kill_callgridd();
  CAF_REQUIRE(eventually([&] { return coordinator.member("node-it").value("state", "") == "down"; },
                         15s));
  page = coordinator.metrics();
  CAF_CHECK_EQUAL(metric_value(page, R"(callgrid_cluster_members{state="down"})"), 1.0);
  CAF_CHECK_GREATER(
    metric_value(page, R"(callgrid_cluster_failure_detector_transitions_total{to="suspect"})"),
    suspects);
  CAF_CHECK_GREATER_OR_EQUAL(
    metric_value(page, R"(callgrid_cluster_failure_detector_transitions_total{to="down"})"), 1.0);
}

CAF_TEST(a drain cancelled by another operator ends the watching drain with exit code 3) {
  platform p;
  auto coordinator = make_coordinator(p);
  p.start_callgridd(0, coordinator.node_cluster_section("60s"));
  p.start_fsemu(waiting_callers(3), {"--run-callers"});
  CAF_REQUIRE(eventually(
    [&] { return active_with_calls(coordinator, 3); },
    30s));
  // The first operator drains without a deadline and watches; the calls stay up.
  command_result watching;
  std::thread first{[&] {
    watching = coordinator.ctl("drain node-it --no-deadline --yes -m 'first operator'");
  }};
  CAF_CHECK(eventually(
    [&] { return coordinator.member("node-it").value("drain_requested", false); }, 10s));
  std::this_thread::sleep_for(1s);
  // A second operator cancels it.
  auto cancel = coordinator.ctl("drain node-it --disable -m 'second operator'");
  CAF_CHECK_EQUAL(cancel.exit_code, 0);
  first.join();
  CAF_MESSAGE("the watching drain said:\n" << watching.output);
  CAF_CHECK_EQUAL(watching.exit_code, 3);
  CAF_CHECK(watching.output.find("was cancelled by") != std::string::npos);
  // The node takes calls again, with its calls still up.
  CAF_CHECK(eventually(
    [&] {
      auto m = coordinator.member("node-it");
      return m.value("state", "") == "active" && m.value("live_calls", 0) == 3;
    },
    10s));
}

CAF_TEST(a drain whose records cannot reach PostgreSQL ends with exit code 4) {
  // The coordinator keeps its own PostgreSQL; the node's goes away while its calls end.
  platform coordinator_services;
  auto coordinator = make_coordinator(coordinator_services);
  platform p;
  p.start_callgridd(0, coordinator.node_cluster_section("60s"));
  p.start_fsemu(waiting_callers(3), {"--run-callers"});
  CAF_REQUIRE(eventually(
    [&] { return active_with_calls(coordinator, 3); },
    30s));
  p.postgres.stop();
  auto drain = coordinator.ctl("drain node-it --deadline 2s --flush-timeout 12 --yes");
  CAF_MESSAGE("node drain said:\n" << drain.output);
  CAF_CHECK_EQUAL(drain.exit_code, 4);
  CAF_CHECK(drain.output.find("3 records are still not in PostgreSQL") != std::string::npos);
  // The node says so too: no calls, three records in its spool, not drained.
  auto m = coordinator.member("node-it");
  CAF_MESSAGE("member: " << m.dump());
  CAF_CHECK_EQUAL(m.value("state", ""), "draining");
  CAF_CHECK_EQUAL(m.value("live_calls", -1), 0);
  CAF_CHECK_EQUAL(m.value("spool_depth", -1), 3);
  auto page = coordinator.metrics();
  CAF_CHECK_EQUAL(
    metric_value(page, R"(callgrid_cluster_member_drain_pending_records{node="node-it"})"), 3.0);
}

CAF_TEST(the admin API refuses a wrong token and names an unknown node) {
  platform p;
  auto coordinator = make_coordinator(p);
  CAF_REQUIRE(eventually([&] { return coordinator.ctl("list").exit_code == 0; }, 20s));
  {
    std::ofstream bad{coordinator.dir / "bad.token"};
    bad << "not-the-token-at-all-000000000000\n";
  }
  auto refused = run_command(binary_dir + "/apps/callgridctl/callgridctl node list --api 127.0.0.1:"
                     + std::to_string(coordinator.http_port) + " --token-file "
                     + (coordinator.dir / "bad.token").string());
  CAF_CHECK_EQUAL(refused.exit_code, 1);
  CAF_CHECK(refused.output.find("refused the token") != std::string::npos);
  auto unknown = coordinator.ctl("drain no-such-node --yes");
  CAF_CHECK_EQUAL(unknown.exit_code, 1);
  CAF_CHECK(unknown.output.find("HTTP 404") != std::string::npos);
  auto usage = coordinator.ctl("drain node-x --force --no-deadline --yes");
  CAF_CHECK_EQUAL(usage.exit_code, 1);
}
