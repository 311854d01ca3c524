#define CAF_SUITE integration.originate

// Outbound calls through a node's call API (POST /v1/calls, callgridctl call originate), the
// records of a bridge's far legs, and the re-adoption of bridged legs after a hard restart:
// callgridd + fsemu + real PostgreSQL/Redis.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>
#include <tuple>

#include <caf/test/unit_test.hpp>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"
#include "platform.hpp"

using namespace callgrid;
using namespace callgrid::test_support;
using namespace std::chrono_literals;

namespace {

const std::string binary_dir = CALLGRID_BINARY_DIR;
constexpr const char* token = "originate-test-token-0123456789";

/// Runs a shell command line and returns what it printed (stdout and stderr).
std::string run(const std::string& line) {
  std::string out;
  FILE* pipe = popen((line + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return out;
  char buffer[4096];
  while (auto n = fread(buffer, 1, sizeof buffer, pipe))
    out.append(buffer, n);
  pclose(pipe);
  return out;
}

/// One leg's row of `cdr` with the columns these tests look at.
struct leg_row {
  std::string call_uuid;
  std::string leg_uuid;
  int leg = 0;
  std::string direction;
  std::string caller;
  std::string callee;
  std::string disposition;
  std::string hangup_cause;
  std::string end_reason;
  bool has_flow = false;
  long long duration_ms = 0;
};

std::vector<leg_row> legs(const platform& p) {
  std::vector<leg_row> rows;
  auto conn = persistence::internal::pg_connect(p.postgres.conninfo());
  if (!conn)
    return rows;
  auto result = persistence::internal::pg_exec(
    conn->get(), "reading cdr",
    "SELECT call_uuid, direction, caller, callee, disposition, hangup_cause, end_reason, "
    "flow_id IS NOT NULL, leg_uuid, leg, duration_ms FROM cdr ORDER BY created_at, leg");
  if (!result)
    return rows;
  for (int i = 0; i < PQntuples(result->get()); ++i) {
    auto v = [&](int col) { return std::string{PQgetvalue(result->get(), i, col)}; };
    rows.push_back({v(0), v(8), std::atoi(v(9).c_str()), v(1), v(2), v(3), v(4), v(5), v(6),
                    v(7) == "t", std::atoll(v(10).c_str())});
  }
  return rows;
}

std::vector<leg_row> wait_for_legs(const platform& p, std::size_t count,
                                   std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto rows = legs(p);
  while (rows.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    rows = legs(p);
  }
  return rows;
}

/// The first leg (leg 0) of call `uuid`.
const leg_row* find_leg(const std::vector<leg_row>& rows, const std::string& uuid) {
  for (const auto& r : rows)
    if (r.call_uuid == uuid && r.leg == 0)
      return &r;
  return nullptr;
}

/// A node callgridd of this test's own (so that the test can signal it), with the call API on.
class node_daemon {
public:
  explicit node_daemon(platform& p) : p_(p) {
    token_path_ = p.dir() / "admin.token";
    std::ofstream{token_path_} << token << "\n";
  }

  void start() {
    node_identity node;
    node.esl_port = p_.esl_port;
    node.outbound_port = p_.outbound_port;
    node.http_port = p_.http_port;
    node.spool = p_.dir() / "spool";
    auto cluster = std::string{"[cluster]\ncoordinators = []\ndrain_deadline = \"5s\"\n"}
                   + "admin_token_file = \"" + token_path_.string() + "\"\n";
    auto path = p_.dir() / "callgridd-originate.toml";
    std::ofstream{path} << p_.node_config(node, cluster);
    process_spec spec;
    spec.argv = {binary_dir + "/apps/callgridd/callgridd", "--config", path.string()};
    spec.working_dir = p_.dir();
    spec.output_path = p_.dir() / "callgridd.log";
    process_ = child_process{spec};
  }

  /// Waits until /readyz says ready (PostgreSQL, Redis and ESL up).
  bool wait_ready(std::chrono::seconds limit) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (run("curl -s http://127.0.0.1:" + std::to_string(p_.http_port) + "/readyz")
          == "ready\n")
        return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  /// POST /v1/calls with `body`: the HTTP status and the answer's body.
  std::pair<int, std::string> post_call(const std::string& body) const {
    auto out = p_.dir() / "post.out";
    auto status = run("curl -s -o " + out.string() + " -w '%{http_code}' -X POST -H "
                      "'Authorization: Bearer " + token + "' -d '" + body
                      + "' http://127.0.0.1:" + std::to_string(p_.http_port) + "/v1/calls");
    std::ifstream in{out};
    std::string answer{std::istreambuf_iterator<char>{in}, {}};
    return {std::atoi(status.c_str()), answer};
  }

  /// `callgridctl call originate ... -o json`; its output.
  std::string originate(const std::string& arguments) const {
    return run(binary_dir + "/apps/callgridctl/callgridctl call originate --api http://127.0.0.1:"
               + std::to_string(p_.http_port) + " --token-file " + token_path_.string() + " "
               + arguments + " -o json");
  }

  void signal(int number) const { ::kill(process_.pid(), number); }
  void kill_hard() { process_.kill_hard(); }
  void stop() { process_.stop(SIGTERM, 20s); }

private:
  platform& p_;
  std::filesystem::path token_path_;
  child_process process_;
};

/// fsemu's `status`: channels created since it started.
int sessions_since_start(const platform& p) {
  auto text = p.fsemu_api("api status");
  auto at = text.find(" session(s) since startup");
  if (at == std::string::npos)
    return -1;
  auto start = text.rfind('\n', at);
  return std::atoi(text.c_str() + (start == std::string::npos ? 0 : start + 1));
}

std::string uuid_of(const std::string& output) {
  auto doc = nlohmann::json::parse(output, nullptr, false);
  return doc.is_object() ? doc.value("uuid", std::string{}) : std::string{};
}

/// Extensions the originated calls reach: 7100 answers and plays a tone for 4 s, 7200 for 20 s.
const std::string originate_dialplan
  = "[[dialplan]]\ndestination = \"7100\"\naction = \"tone\"\nlength = \"4s\"\n\n"
    "[[dialplan]]\ndestination = \"7200\"\naction = \"tone\"\nlength = \"20s\"\n\n";

} // namespace

CAF_TEST(an answered origination runs its flow and its record says outbound) {
  platform p;
  p.start_fsemu(originate_dialplan);
  node_daemon node{p};
  node.start();
  CAF_REQUIRE(node.wait_ready(20s));
  auto output = node.originate("--to loopback/7100 --route 1000 --caller-id 4930999");
  auto uuid = uuid_of(output);
  CAF_MESSAGE("callgridctl: " << output);
  CAF_REQUIRE(!uuid.empty());
  auto rows = wait_for_legs(p, 1, 20s);
  const auto* leg = find_leg(rows, uuid);
  if (leg == nullptr)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log());
  CAF_REQUIRE(leg != nullptr);
  CAF_CHECK_EQUAL(leg->direction, "outbound");
  CAF_CHECK_EQUAL(leg->caller, "4930999");
  CAF_CHECK_EQUAL(leg->callee, "7100");
  CAF_CHECK(leg->has_flow);
  // The far end hung up while the flow ran its menu.
  CAF_CHECK_EQUAL(leg->disposition, "abandoned");
  CAF_CHECK_EQUAL(leg->hangup_cause, "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(leg->end_reason, "normal");
  CAF_CHECK(p.metrics().find("callgrid_originations_total{result=\"answered\"} 1\n")
            != std::string::npos);
  node.stop();
}

CAF_TEST(a call placed without a timeout rings for the node answer timeout) {
  platform p;
  std::filesystem::create_directories(p.dir() / "conf.d");
  std::ofstream{p.dir() / "conf.d" / "answer.toml"} << "[node]\nanswer_timeout = \"17s\"\n";
  p.start_fsemu(originate_dialplan);
  node_daemon node{p};
  node.start();
  CAF_REQUIRE(node.wait_ready(20s));
  // 7200 answers and plays a tone for 20 s: the channel is there to be asked.
  auto defaulted = uuid_of(node.originate("--to loopback/7200 --route 1000"));
  auto explicit_timeout = uuid_of(node.originate("--to loopback/7200 --route 1000 --timeout 9"));
  CAF_REQUIRE(!defaulted.empty());
  CAF_REQUIRE(!explicit_timeout.empty());
  auto variable = [&](const std::string& uuid) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string value;
    while (std::chrono::steady_clock::now() < deadline) {
      value = p.fsemu_api("api uuid_getvar " + uuid + " originate_timeout");
      while (!value.empty() && value.back() == '\n')
        value.pop_back();
      if (value.find("-ERR") == std::string::npos)
        break;
      std::this_thread::sleep_for(100ms);
    }
    return value;
  };
  CAF_CHECK_EQUAL(variable(defaulted), "17");
  CAF_CHECK_EQUAL(variable(explicit_timeout), "9");
  // A SIGHUP applies a new answer timeout to the calls placed after it.
  std::ofstream{p.dir() / "conf.d" / "answer.toml"} << "[node]\nanswer_timeout = \"23s\"\n";
  node.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (p.callgridd_log().find("SIGHUP: node.answer_timeout changed; applied")
           == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  auto after_reload = uuid_of(node.originate("--to loopback/7200 --route 1000"));
  CAF_REQUIRE(!after_reload.empty());
  CAF_CHECK_EQUAL(variable(after_reload), "23");
  node.stop();
}

CAF_TEST(a failed origination gets exactly one record with the cause) {
  platform p;
  p.start_fsemu(originate_dialplan);
  node_daemon node{p};
  node.start();
  CAF_REQUIRE(node.wait_ready(20s));
  // fsemu has no sofia endpoint (CHAN_NOT_IMPLEMENTED) and no extension 9999.
  auto gateway = uuid_of(node.originate("--to sofia/gateway/nowhere/4930123 --flow main_menu"));
  auto unknown = uuid_of(node.originate("--to loopback/9999 --route 1000 --campaign 17"));
  CAF_REQUIRE(!gateway.empty());
  CAF_REQUIRE(!unknown.empty());
  auto rows = wait_for_legs(p, 2, 15s);
  // Nothing more comes later (no second record for the same attempt).
  std::this_thread::sleep_for(1500ms);
  rows = legs(p);
  CAF_REQUIRE_EQUAL(rows.size(), 2u);
  const auto* first = find_leg(rows, gateway);
  const auto* second = find_leg(rows, unknown);
  CAF_REQUIRE(first != nullptr);
  CAF_REQUIRE(second != nullptr);
  CAF_CHECK_EQUAL(first->direction, "outbound");
  CAF_CHECK_EQUAL(first->hangup_cause, "CHAN_NOT_IMPLEMENTED");
  CAF_CHECK_EQUAL(first->disposition, "failed");
  CAF_CHECK_EQUAL(first->callee, "4930123");
  CAF_CHECK_EQUAL(second->hangup_cause, "NO_ROUTE_DESTINATION");
  CAF_CHECK_EQUAL(second->direction, "outbound");
  CAF_CHECK(p.metrics().find("callgrid_originations_total{result=\"failed\"} 2\n")
            != std::string::npos);
  node.stop();
}

CAF_TEST(the call API refuses bad requests and a wrong token) {
  platform p;
  p.start_fsemu(originate_dialplan);
  node_daemon node{p};
  node.start();
  CAF_REQUIRE(node.wait_ready(20s));
  auto [no_route_status, no_route] = node.post_call(R"({"to": "loopback/7100"})");
  CAF_CHECK_EQUAL(no_route_status, 400);
  CAF_CHECK(no_route.find("route") != std::string::npos);
  auto [unknown_flow_status, unknown_flow] =
    node.post_call(R"({"to": "loopback/7100", "flow": "no_such_flow"})");
  CAF_CHECK_EQUAL(unknown_flow_status, 400);
  CAF_CHECK(unknown_flow.find("no_such_flow") != std::string::npos);
  auto [typo_status, typo] = node.post_call(R"({"to": "loopback/7100", "rout": "1000"})");
  CAF_CHECK_EQUAL(typo_status, 400);
  CAF_CHECK(typo.find("rout") != std::string::npos);
  auto unauthorized = run("curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: "
                          "Bearer wrong' -d '{}' http://127.0.0.1:"
                          + std::to_string(p.http_port) + "/v1/calls");
  CAF_CHECK_EQUAL(unauthorized, "401");
  CAF_CHECK_EQUAL(sessions_since_start(p), 0);
  node.stop();
}

CAF_TEST(a draining node refuses originations with 409 and creates no channel) {
  platform p;
  p.start_fsemu(originate_dialplan);
  node_daemon node{p};
  node.start();
  CAF_REQUIRE(node.wait_ready(20s));
  auto uuid = uuid_of(node.originate("--to loopback/7200 --route 1000 --caller-id 4930998"));
  CAF_REQUIRE(!uuid.empty());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (p.metrics().find("callgrid_live_calls 1\n") == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CAF_REQUIRE(p.metrics().find("callgrid_live_calls 1\n") != std::string::npos);
  auto before = sessions_since_start(p);
  // SIGTERM drains the node (5 s deadline); the call keeps it draining meanwhile.
  node.signal(SIGTERM);
  std::this_thread::sleep_for(500ms);
  auto [status, answer] = node.post_call(R"({"to": "loopback/7100", "route": "1000"})");
  CAF_CHECK_EQUAL(status, 409);
  CAF_CHECK(answer.find("node_draining") != std::string::npos);
  CAF_CHECK_EQUAL(sessions_since_start(p), before);
  // The deadline ends the call with its record.
  auto rows = wait_for_legs(p, 1, 20s);
  const auto* leg = find_leg(rows, uuid);
  CAF_REQUIRE(leg != nullptr);
  CAF_CHECK_EQUAL(leg->direction, "outbound");
  CAF_CHECK_EQUAL(leg->end_reason, "node_drain");
  node.stop();
}

namespace {

/// fsemu's dialplan entry for `destination`: `park` (inbound ESL), `tone` (answer, a 2 s tone,
/// hang up) or `socket` to callgridd's outbound listener at `socket_port`.
std::string dialplan(const std::string& destination, const std::string& action,
                     int socket_port = 0) {
  std::string out = "[[dialplan]]\ndestination = \"" + destination + "\"\n";
  if (action == "socket")
    out += "socket = \"127.0.0.1:" + std::to_string(socket_port) + "\"\n";
  else
    out += "action = \"" + action + "\"\n";
  return out + "\n";
}

/// fsemu's `total` scripted callers from `caller_id` to `destination`, 10 a second from 1 s on,
/// each staying `stay` and hanging up; `park_timeout` 60 s unless `with_park_timeout` is false
/// (a `socket` extension needs none).
std::string callers(const std::string& name, const std::string& destination,
                    const std::string& caller_id, int total, const std::string& stay,
                    bool with_park_timeout = true) {
  std::string out = "[[callers]]\nname = \"" + name + "\"\ndestination = \"" + destination
                    + "\"\ncaller_id = \"" + caller_id + "\"\nrate = 10\nconcurrency = "
                    + std::to_string(total) + "\ntotal = " + std::to_string(total)
                    + "\nanswer_timeout = \"5s\"\nstart_after = \"1s\"\n";
  if (with_park_timeout)
    out += "variables = { park_timeout = 60 }\n";
  return out + "script = [{ pause = \"" + stay + "\" }, \"hangup\"]\n\n";
}

/// Routes 3000 (inbound ESL) and 3100 (outbound ESL) bridge to loopback/8500, whose far end
/// (the loopback pair's other leg) parks and runs the example menu.
void add_bridge_routes(platform& p) {
  auto conn = persistence::internal::pg_connect(p.postgres.conninfo());
  CAF_REQUIRE(static_cast<bool>(conn));
  auto flow = persistence::internal::pg_exec(
    conn->get(), "finding the flow",
    "SELECT flow_id FROM ivr_flows WHERE name = 'main_menu' ORDER BY version DESC LIMIT 1");
  CAF_REQUIRE(static_cast<bool>(flow));
  CAF_REQUIRE_EQUAL(PQntuples(flow->get()), 1);
  for (auto [name, prefix, mode] :
       {std::tuple{"bridge_it", "3000", persistence::esl_mode::inbound},
        std::tuple{"bridge_it_outbound", "3100", persistence::esl_mode::outbound}}) {
    persistence::catalog_route bridge;
    bridge.name = name;
    bridge.match_prefix = prefix;
    bridge.action = persistence::route_action::bridge;
    bridge.bridge_target = "loopback/8500";
    bridge.mode = mode;
    CAF_REQUIRE(static_cast<bool>(persistence::catalog_store::upsert_route(conn->get(), bridge)));
  }
  persistence::catalog_route far_end;
  far_end.name = "far_end";
  far_end.match_prefix = "8500";
  far_end.flow_id = std::atoll(PQgetvalue(flow->get(), 0, 0));
  far_end.mode = persistence::esl_mode::inbound;
  CAF_REQUIRE(static_cast<bool>(persistence::catalog_store::upsert_route(conn->get(), far_end)));
}

/// Checks that every call of caller `caller` has exactly one far leg: leg 1 of its call,
/// outbound, answered, to `far_end`, on a channel of its own. Returns how many calls had one.
int check_far_legs(const std::vector<leg_row>& rows, const std::string& caller,
                   const std::string& far_end = "8500") {
  int found = 0;
  for (const auto& call : rows) {
    if (call.caller != caller || call.leg != 0)
      continue;
    auto far_legs = std::count_if(rows.begin(), rows.end(), [&](const leg_row& r) {
      return r.call_uuid == call.call_uuid && r.leg != 0;
    });
    CAF_CHECK_EQUAL(far_legs, 1);
    for (const auto& leg : rows) {
      if (leg.call_uuid != call.call_uuid || leg.leg == 0)
        continue;
      ++found;
      CAF_CHECK_EQUAL(leg.leg, 1);
      CAF_CHECK_NOT_EQUAL(leg.leg_uuid, call.leg_uuid);
      CAF_CHECK_EQUAL(leg.direction, "outbound");
      CAF_CHECK_EQUAL(leg.callee, far_end);
      CAF_CHECK_EQUAL(leg.disposition, "answered");
      CAF_CHECK_EQUAL(leg.end_reason, "normal");
      CAF_CHECK(!leg.hangup_cause.empty());
    }
  }
  return found;
}

} // namespace

CAF_TEST(the far leg of a bridge gets a record of its own in both ESL modes) {
  platform p;
  add_bridge_routes(p);
  auto config = dialplan("3000", "park") + dialplan("3100", "socket", p.outbound_port)
                + dialplan("8500", "park") + callers("inbound_esl", "3000", "5550300", 3, "2s")
                + callers("outbound_esl", "3100", "5550310", 3, "2s", false);
  node_daemon node{p};
  node.start();
  p.start_fsemu(config, {"--run-callers", "--exit-after-callers"});
  CAF_REQUIRE(p.wait_for_fsemu_exit(30s));
  // 6 calls, 6 far legs, 6 far ends (each a call of its own).
  auto rows = wait_for_legs(p, 18, 15s);
  std::this_thread::sleep_for(1s);
  rows = legs(p);
  for (const auto& r : rows)
    CAF_MESSAGE(r.call_uuid << "/" << r.leg << " " << r.leg_uuid << " " << r.caller << " -> "
                            << r.callee << " " << r.disposition << " " << r.hangup_cause);
  for (const auto& r : rows)
    if (r.leg == 0 && (r.caller == "5550300" || r.caller == "5550310"))
      CAF_CHECK_EQUAL(r.disposition, "bridged");
  auto inbound_far_legs = check_far_legs(rows, "5550300");
  auto outbound_far_legs = check_far_legs(rows, "5550310");
  if (inbound_far_legs != 3 || outbound_far_legs != 3)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log());
  CAF_CHECK_EQUAL(inbound_far_legs, 3);
  CAF_CHECK_EQUAL(outbound_far_legs, 3);
  CAF_CHECK_EQUAL(rows.size(), 18u);
  CAF_CHECK(p.metrics().find("callgrid_bridge_far_legs_recorded_total 6\n") != std::string::npos);
  node.stop();
}

CAF_TEST(a call ends as soon as its bridge returns) {
  platform p;
  {
    auto conn = persistence::internal::pg_connect(p.postgres.conninfo());
    CAF_REQUIRE(static_cast<bool>(conn));
    // 3200 (inbound ESL) and 3210 (outbound ESL) bridge to a destination FreeSWITCH has no
    // extension for (the bridge fails with NO_ROUTE_DESTINATION, the caller stays up); 3300 to
    // a far end that answers, plays a 2 s tone and hangs up (fsemu's dialplan): the bridge
    // returns, the caller would wait in park.
    for (auto [name, prefix, target, mode] :
         {std::tuple{"to_nowhere", "3200", "loopback/8799", persistence::esl_mode::inbound},
          std::tuple{"to_nowhere_outbound", "3210", "loopback/8799",
                     persistence::esl_mode::outbound},
          std::tuple{"to_tone", "3300", "loopback/8800", persistence::esl_mode::inbound}}) {
      persistence::catalog_route bridge;
      bridge.name = name;
      bridge.match_prefix = prefix;
      bridge.action = persistence::route_action::bridge;
      bridge.bridge_target = target;
      bridge.mode = mode;
      CAF_REQUIRE(static_cast<bool>(persistence::catalog_store::upsert_route(conn->get(), bridge)));
    }
  }
  // The callers would stay 20 s; the calls must end long before.
  auto config = dialplan("3200", "park") + dialplan("3210", "socket", p.outbound_port)
                + dialplan("3300", "park") + dialplan("8800", "tone")
                + callers("rejected", "3200", "5550320", 2, "20s")
                + callers("rejected_outbound", "3210", "5550320", 2, "20s", false)
                + callers("far_end_leaves", "3300", "5550330", 2, "20s");
  node_daemon node{p};
  node.start();
  p.start_fsemu(config, {"--run-callers", "--exit-after-callers"});
  auto deadline = std::chrono::steady_clock::now() + 15s;
  auto count_firsts = [&] {
    auto rows = legs(p);
    return std::count_if(rows.begin(), rows.end(), [](const leg_row& r) {
      return r.leg == 0 && (r.caller == "5550320" || r.caller == "5550330");
    });
  };
  while (count_firsts() < 6 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  std::this_thread::sleep_for(1s);
  auto rows = legs(p);
  for (const auto& r : rows)
    CAF_MESSAGE(r.call_uuid << "/" << r.leg << " " << r.caller << " -> " << r.callee << " "
                            << r.disposition << " " << r.hangup_cause << " " << r.duration_ms
                            << " ms");
  int rejected = 0;
  int left = 0;
  for (const auto& r : rows) {
    if (r.leg != 0)
      continue;
    if (r.caller == "5550320") {
      ++rejected;
      CAF_CHECK_EQUAL(r.disposition, "bridge_failed");
      CAF_CHECK_EQUAL(r.hangup_cause, "NO_ROUTE_DESTINATION");
      CAF_CHECK_LESS(r.duration_ms, 10'000);
    } else if (r.caller == "5550330") {
      ++left;
      CAF_CHECK_EQUAL(r.disposition, "bridged");
      CAF_CHECK_EQUAL(r.hangup_cause, "NORMAL_CLEARING");
      CAF_CHECK_LESS(r.duration_ms, 10'000);
    }
  }
  if (rejected != 4 || left != 2)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log() << "\nfsemu log:\n" << p.fsemu_log());
  CAF_CHECK_EQUAL(rejected, 4); // 2 in each ESL mode
  CAF_CHECK_EQUAL(std::count_if(rows.begin(), rows.end(),
                                [](const leg_row& r) {
                                  return r.leg == 0 && r.callee == "3210"
                                         && r.disposition == "bridge_failed";
                                }),
                  2);
  CAF_CHECK_EQUAL(left, 2);
  CAF_CHECK_EQUAL(check_far_legs(rows, "5550330", "8800"), 2);
  // A failed bridge created no channel: no far leg.
  CAF_CHECK_EQUAL(std::count_if(rows.begin(), rows.end(),
                                [](const leg_row& r) { return r.leg != 0; }),
                  2);
  node.stop();
}

CAF_TEST(bridged legs found after a hard restart each get exactly one record) {
  platform p;
  add_bridge_routes(p);
  // 3000 parks and callgridd bridges it to loopback/8500; the far end (the loopback pair's
  // other leg) parks too and runs the example menu. The callers stay 10 s and hang up.
  auto config = dialplan("3000", "park") + dialplan("8500", "park")
                + callers("bridged", "3000", "5550300", 5, "10s");
  node_daemon node{p};
  node.start();
  p.start_fsemu(config, {"--run-callers", "--exit-after-callers"});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (p.metrics().find("callgrid_live_calls 10\n") == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CAF_REQUIRE(p.metrics().find("callgrid_live_calls 10\n") != std::string::npos);
  std::this_thread::sleep_for(1s);
  node.kill_hard();
  node.start();
  CAF_REQUIRE(p.wait_for_fsemu_exit(40s));
  // 5 calls, their 5 far legs (which ended after the restart: their final events name their
  // calls, nothing about them was kept), 5 far ends.
  auto rows = wait_for_legs(p, 15, 15s);
  std::this_thread::sleep_for(1s);
  rows = legs(p);
  std::set<std::pair<std::string, int>> keys;
  int bridged = 0;
  for (const auto& r : rows) {
    keys.emplace(r.call_uuid, r.leg);
    CAF_MESSAGE(r.call_uuid << "/" << r.leg << " " << r.caller << " -> " << r.callee << " "
                            << r.disposition << " " << r.hangup_cause << " " << r.end_reason);
    if (r.caller == "5550300" && r.leg == 0) {
      ++bridged;
      CAF_CHECK_EQUAL(r.disposition, "bridged");
      CAF_CHECK_EQUAL(r.hangup_cause, "NORMAL_CLEARING");
      CAF_CHECK_EQUAL(r.end_reason, "normal");
    }
  }
  if (bridged != 5)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log() << "\nfsemu log:\n" << p.fsemu_log());
  CAF_CHECK_EQUAL(bridged, 5);
  CAF_CHECK_EQUAL(check_far_legs(rows, "5550300"), 5);
  auto far_ends = std::count_if(rows.begin(), rows.end(), [](const leg_row& r) {
    return r.callee == "8500" && r.leg == 0 && r.direction == "inbound";
  });
  CAF_CHECK_EQUAL(far_ends, 5);
  CAF_CHECK_EQUAL(keys.size(), rows.size());
  CAF_CHECK_EQUAL(rows.size(), 15u);
  node.stop();
}
