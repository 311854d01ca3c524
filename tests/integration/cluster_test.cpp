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

} // namespace

CAF_TEST(a drain with a deadline hangs up the rest with SYSTEM_SHUTDOWN and exits 2) {
  platform p;
  auto coordinator = make_coordinator(p);
  p.start_callgridd(0, coordinator.node_cluster_section("5s"));
  p.start_fsemu(waiting_callers(6), {"--run-callers"});

  // The node joins and becomes active once its ESL link is up; the edge then lists it active.
  bool active = eventually(
    [&] {
      auto m = coordinator.member("node-it");
      return m.is_object() && m.value("state", "") == "active" && m.value("live_calls", 0) == 6;
    },
    30s);
  if (!active)
    CAF_MESSAGE("coordinator log:\n" << coordinator.log()
                                     << "\nnode log:\n" << p.callgridd_log());
  CAF_REQUIRE(active);
  auto entry = dispatcher_entry(coordinator, "sip:127.0.0.1:5080");
  CAF_REQUIRE(entry.has_value());
  CAF_CHECK(entry->state == callgrid::kamailio::target_state::active);

  // Drain with a 3 s deadline: the callers would stay 80 s, so all 6 are hung up at it.
  auto drain = coordinator.ctl("drain node-it --deadline 3s --yes -m 'cluster test'");
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
  CAF_CHECK_EQUAL(drained.value("state", ""), "drained");
  CAF_CHECK_EQUAL(drained.value("reason", ""), "cluster test");

  // Cancelling the drain brings the node back into the dispatcher set.
  auto cancel = coordinator.ctl("drain node-it --disable");
  CAF_CHECK_EQUAL(cancel.exit_code, 0);
  CAF_CHECK(eventually(
    [&] {
      auto e = dispatcher_entry(coordinator, "sip:127.0.0.1:5080");
      return e && e->state == callgrid::kamailio::target_state::active;
    },
    10s));
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
