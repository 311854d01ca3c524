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

struct command_result {
  int exit_code = -1;
  std::string output;
};

/// Runs a shell command line and returns its exit code and its stdout and stderr together.
command_result run(const std::string& line) {
  command_result result;
  FILE* pipe = popen((line + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return result;
  char buffer[4096];
  while (auto n = fread(buffer, 1, sizeof buffer, pipe))
    result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A coordinator callgridd of its own, sharing the platform's PostgreSQL.
struct coordinator_process {
  coordinator_process(platform& p) : dir{p.dir() / "coordinator"} {
    std::filesystem::create_directories(dir);
    {
      std::ofstream token{dir / "admin.token"};
      token << "cluster-test-token-0123456789abcdef\n";
    }
    std::ostringstream cfg;
    cfg << "role = \"coordinator\"\n[node]\nname = \"coordinator-it\"\n"
        << "[database]\nconninfo = \"" << p.postgres.conninfo() << "\"\n"
        << "[http]\nport = " << http_port << "\n"
        << "[cluster]\nport = " << cluster_port << "\nadmin_token_file = \""
        << (dir / "admin.token").string() << "\"\nsuspect_after = \"2s\"\ndown_after = \"4s\"\n"
        << "[edge]\ndispatcher_list = \"" << (dir / "dispatcher.list").string()
        << "\"\nrpc_socket = \"" << (dir / "no-kamailio.sock").string() << "\"\n"
        << "[log]\nformat = \"text\"\n";
    std::ofstream{dir / "callgridd.toml"} << cfg.str();
    process_spec spec;
    spec.argv = {binary_dir + "/apps/callgridd/callgridd", "--config",
                 (dir / "callgridd.toml").string()};
    spec.working_dir = dir;
    spec.output_path = dir / "callgridd.log";
    process = child_process{spec};
  }

  /// `callgridctl node ARGS` against this coordinator.
  command_result ctl(const std::string& args) const {
    return run(binary_dir + "/apps/callgridctl/callgridctl node " + args + " --api 127.0.0.1:"
               + std::to_string(http_port) + " --token-file " + (dir / "admin.token").string());
  }

  /// The member `node` as `node list -o json` shows it (null when absent or on failure).
  json member(const std::string& node) const {
    auto listed = ctl("list -o json");
    if (listed.exit_code != 0)
      return nullptr;
    auto doc = json::parse(listed.output, nullptr, false);
    if (!doc.is_array())
      return nullptr;
    for (auto& m : doc)
      if (m.value("node", "") == node)
        return m;
    return nullptr;
  }

  /// The dispatcher list file's entry for `uri`, parsed.
  std::optional<callgrid::kamailio::dispatcher_target> dispatcher_entry(const std::string& uri) {
    auto parsed = callgrid::kamailio::parse_dispatcher_list(read_text(dir / "dispatcher.list"));
    for (auto& target : parsed.targets)
      if (target.uri == uri)
        return target;
    return std::nullopt;
  }

  std::filesystem::path dir;
  std::uint16_t http_port = pick_free_port();
  std::uint16_t cluster_port = pick_free_port();
  child_process process;
};

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(200ms);
  }
  return true;
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
  coordinator_process coordinator{p};
  std::string cluster = "[cluster]\ncoordinators = [\"127.0.0.1:"
                        + std::to_string(coordinator.cluster_port)
                        + "\"]\ndrain_deadline = \"5s\"\n";
  p.start_callgridd(0, cluster);
  p.start_fsemu(waiting_callers(6), {"--run-callers"});

  // The node joins and becomes active once its ESL link is up; the edge then lists it active.
  bool active = eventually(
    [&] {
      auto m = coordinator.member("node-it");
      return m.is_object() && m.value("state", "") == "active" && m.value("live_calls", 0) == 6;
    },
    30s);
  if (!active)
    CAF_MESSAGE("coordinator log:\n" << read_text(coordinator.dir / "callgridd.log")
                                     << "\nnode log:\n" << p.callgridd_log());
  CAF_REQUIRE(active);
  auto entry = coordinator.dispatcher_entry("sip:127.0.0.1:5080");
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
  entry = coordinator.dispatcher_entry("sip:127.0.0.1:5080");
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
      auto e = coordinator.dispatcher_entry("sip:127.0.0.1:5080");
      return e && e->state == callgrid::kamailio::target_state::active;
    },
    10s));
}

CAF_TEST(the admin API refuses a wrong token and names an unknown node) {
  platform p;
  coordinator_process coordinator{p};
  CAF_REQUIRE(eventually([&] { return coordinator.ctl("list").exit_code == 0; }, 20s));
  {
    std::ofstream bad{coordinator.dir / "bad.token"};
    bad << "not-the-token-at-all-000000000000\n";
  }
  auto refused = run(binary_dir + "/apps/callgridctl/callgridctl node list --api 127.0.0.1:"
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
