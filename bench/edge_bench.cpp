// edge: the Kamailio edge under a steady sipp load (issue 6, bench/README.md).
//
//  drain_to_unselected_ms  from `dispatcher.set_state d` for one of three fsemu nodes to the last
//                          call that still reached it (goal < 100 ms); the node's channel count
//                          is polled every 2 ms, so the figure is exact to a few ms.
//  drain_command_to_unselected_ms
//                          the whole path: from starting `callgridctl node drain NODE --detach
//                          --yes` against a coordinator callgridd to the last call that still
//                          reached that node (goal < 100 ms); three media nodes (fsemu SIP side +
//                          callgridd role node) joined to the coordinator, which writes the
//                          dispatcher list and calls Kamailio's RPC (tests/integration fixtures).
//  failed_call_rate        sipp's failed calls / calls at a fixed rate, without and with a
//                          dispatcher update (list written, set_state, coalesced reload) every
//                          second, in pairs of runs (goal: difference at most 0.1 percentage points).
//
// Everything runs on 127.0.0.1: Kamailio with the rendered edge config, three fsemu nodes and
// sipp, started and stopped by this program (tests/kamailio/edge_support).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_support.hpp"
#include "coordinator_process.hpp"
#include "edge_support.hpp"
#include "platform.hpp"
#include "kamailio/dispatcher_updater.hpp"
#include "kamailio/rpc_client.hpp"

using namespace callgrid;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

struct options {
  int repeat = 5;
  int rate = 100;
  int calls = 1000;
  int pairs = 2;
};

/// Three fsemu nodes behind the edge, round robin.
struct edge_rig {
  std::vector<std::unique_ptr<edge_test::fsemu_node>> nodes;
  std::vector<kamailio::dispatcher_target> targets;
  std::unique_ptr<edge_test::edge_instance> edge;

  edge_rig() {
    for (int i = 0; i < 3; ++i) {
      nodes.push_back(std::make_unique<edge_test::fsemu_node>());
      targets.push_back(nodes.back()->target(1, 33));
    }
    auto settings = edge_test::test_settings();
    settings.probe_interval_s = 5;
    settings.children = 4;
    edge = std::make_unique<edge_test::edge_instance>(settings, targets);
  }

  kamailio::rpc_options rpc() const { return {edge->server->rpc_socket_path(), 2000ms}; }
};

/// sipp placing `calls` at `rate` through the edge in the background; reads its statistics.
struct sipp_load {
  test_support::temp_dir dir{"sipp-load"};
  test_support::process_spec spec;
  test_support::child_process process;

  /// `hold_ms` > 0: the callers hang up after that long (invite_hold_bye.xml, which also takes a
  /// BYE from the callee, as callgridd's IVR may send one); 0: invite_bye.xml.
  sipp_load(std::uint16_t port, int calls, int rate, int hold_ms = 0) {
    auto scenario = hold_ms > 0 ? "/sipp/invite_hold_bye.xml" : "/sipp/invite_bye.xml";
    spec.argv = {"/usr/bin/sipp", "127.0.0.1:" + std::to_string(port), "-sf",
                 std::string{CALLGRID_TEST_DATA_DIR} + scenario, "-s", "1000",
                 "-i", "127.0.0.1", "-p", std::to_string(test_support::pick_free_port()), "-m",
                 std::to_string(calls), "-r", std::to_string(rate), "-l",
                 std::to_string(rate * 4), "-timeout", "120s", "-nostdin", "-nd",
                 "-trace_stat", "-fd", "1", "-stf", (dir.path() / "stats.csv").string()};
    if (hold_ms > 0) {
      spec.argv.push_back("-d");
      spec.argv.push_back(std::to_string(hold_ms));
    }
    spec.working_dir = dir.path();
    spec.output_path = dir.path() / "sipp.out";
    process = test_support::child_process{spec};
  }

  bool running() const { return process.running(); }

  void wait() {
    auto deadline = steady::now() + 180s;
    while (process.running() && steady::now() < deadline)
      std::this_thread::sleep_for(20ms);
    process.stop(SIGKILL, 0ms);
  }

  /// Successful and failed calls from the last line of sipp's statistics file.
  std::pair<long, long> outcome() const {
    std::ifstream in{dir.path() / "stats.csv"};
    std::string header;
    std::string line;
    std::string last;
    std::getline(in, header);
    while (std::getline(in, line))
      if (!line.empty())
        last = line;
    auto split = [](const std::string& text) {
      std::vector<std::string> out;
      std::stringstream s{text};
      std::string item;
      while (std::getline(s, item, ';'))
        out.push_back(item);
      return out;
    };
    auto names = split(header);
    auto values = split(last);
    long ok = -1;
    long failed = -1;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
      if (names[i] == "SuccessfulCall(C)")
        ok = std::stol(values[i]);
      if (names[i] == "FailedCall(C)")
        failed = std::stol(values[i]);
    }
    return {ok, failed};
  }
};

double drain_once(edge_rig& rig, kamailio::rpc_client& rpc, int rate) {
  auto& node = *rig.nodes[1];
  // Load long enough to cover the measurement: two seconds before, one after.
  auto at_load_start = node.calls();
  sipp_load load{rig.edge->server->sip_port(), rate * 4, rate};
  std::this_thread::sleep_for(2s);
  auto last_count = node.calls();
  // A node that got nothing before would make 0 ms meaningless.
  if (last_count - at_load_start < rate / 3)
    throw std::runtime_error("the node got " + std::to_string(last_count - at_load_start)
                             + " calls in the 2 s before the drain");
  auto start = steady::now();
  if (auto err = rpc.set_state(kamailio::target_state::disabled, 1, node.uri()))
    throw std::runtime_error(kamailio::render_error(*err));
  auto last_change = start;
  while (steady::now() < start + 1s) {
    auto count = node.calls();
    if (count != last_count) {
      last_count = count;
      last_change = steady::now();
    }
    std::this_thread::sleep_for(2ms);
  }
  load.wait();
  if (auto err = rpc.set_state(kamailio::target_state::active, 1, node.uri()))
    throw std::runtime_error(kamailio::render_error(*err));
  return std::chrono::duration<double, std::milli>(last_change - start).count();
}

/// One run of `calls` at `rate`; with `updates`, a dispatcher update every second. Returns
/// failed / all calls in percent; adds the reloads Kamailio accepted to `reloads`.
double failed_percent(edge_rig& rig, const options& opt, bool updates, std::uint64_t& reloads) {
  kamailio::updater_options u;
  u.list_file = rig.edge->list_file();
  u.rpc = rig.rpc();
  u.validation.required_sets = {1};
  kamailio::dispatcher_updater updater{u};
  sipp_load load{rig.edge->server->sip_port(), opt.calls, opt.rate};
  auto next_update = steady::now();
  int n = 0;
  while (load.running()) {
    auto now = steady::now();
    if (updates && now >= next_update) {
      // Weights move every second: the file changes, a reload follows (coalesced).
      auto targets = rig.targets;
      targets[static_cast<std::size_t>(n % 3)].weight = 34 + n % 10;
      ++n;
      auto published = updater.publish(targets, now);
      if (!published)
        throw std::runtime_error(kamailio::render_error(published.error()));
      next_update += 1s;
    }
    auto report = updater.poll(now);
    if (report.failure)
      std::cerr << "edge_bench: reload: " << kamailio::render_error(*report.failure) << '\n';
    std::this_thread::sleep_for(10ms);
  }
  load.wait();
  reloads += updater.coalescer().reloads_sent() - updater.coalescer().reloads_refused()
             - updater.coalescer().reloads_failed();
  auto [ok, failed] = load.outcome();
  if (ok < 0 || failed < 0 || ok + failed == 0)
    throw std::runtime_error("no statistics from sipp in " + load.dir.path().string());
  return 100.0 * static_cast<double>(failed) / static_cast<double>(ok + failed);
}

/// A persistent event-socket connection to one fsemu, for polling its session counter every
/// few milliseconds (a new process per poll would cost more than the resolution we need).
class esl_poller {
public:
  esl_poller(std::uint16_t port, const std::string& password) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot connect to fsemu's ESL port " + std::to_string(port));
    frame();
    send("auth " + password + "\n\n");
    if (frame().find("+OK") == std::string::npos)
      throw std::runtime_error("fsemu refused the ESL password");
  }
  ~esl_poller() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  esl_poller(const esl_poller&) = delete;
  esl_poller& operator=(const esl_poller&) = delete;

  /// "N session(s) since startup" of `api status`: one per INVITE the node accepted.
  int sessions() {
    send("api status\n\n");
    auto body = frame();
    auto at = body.find(" session(s) since startup");
    if (at == std::string::npos)
      throw std::runtime_error("fsemu status without a session count: " + body);
    auto start = body.rfind('\n', at);
    return std::stoi(body.substr(start == std::string::npos ? 0 : start + 1));
  }

private:
  void send(const std::string& text) {
    if (::write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("ESL write failed");
  }
  /// One frame: its headers, and its body when it has a Content-Length (returned with them).
  std::string frame() {
    std::string::size_type end;
    while ((end = buffer_.find("\n\n")) == std::string::npos)
      fill();
    auto headers = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 2);
    std::size_t length = 0;
    if (auto at = headers.find("Content-Length: "); at != std::string::npos)
      length = std::stoul(headers.substr(at + 16));
    while (buffer_.size() < length)
      fill();
    auto body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return headers + body;
  }
  void fill() {
    char chunk[4096];
    auto n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0)
      throw std::runtime_error("fsemu closed the event socket");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }

  int fd_ = -1;
  std::string buffer_;
};

/// The whole platform for the drain command: PostgreSQL and Redis, a coordinator callgridd, three
/// media nodes (fsemu with SIP + callgridd role node) and a Kamailio that only the coordinator
/// fills (the nodes start admin-disabled).
struct cluster_rig {
  test_support::platform services;
  std::vector<std::unique_ptr<test_support::media_node>> nodes;
  std::unique_ptr<edge_test::edge_instance> edge;
  std::unique_ptr<test_support::coordinator_process> coordinator;

  cluster_rig() {
    std::vector<kamailio::dispatcher_target> targets;
    for (const char* name : {"node-a", "node-b", "node-c"}) {
      nodes.push_back(std::make_unique<test_support::media_node>(services, name));
      targets.push_back({.set = 1, .uri = nodes.back()->sip_uri(),
                         .state = kamailio::target_state::disabled, .weight = 1, .priority = 0,
                         .node_id = name});
    }
    auto settings = edge_test::test_settings();
    settings.probe_interval_s = 5;
    settings.children = 4;
    edge = std::make_unique<edge_test::edge_instance>(settings, targets);
    coordinator = std::make_unique<test_support::coordinator_process>(
      services, edge->list_file(), edge->server->rpc_socket_path());
    for (auto& node : nodes)
      node->start(coordinator->node_cluster_section("60s"));
    if (!test_support::eventually([&] { return active_members() == 3; }, 60s))
      throw std::runtime_error("the three nodes did not become active:\n" + coordinator->log());
    // Kamailio follows with set_state or, for entries new to the list, with the next reload.
    if (!test_support::eventually([&] { return kamailio_active() == 3; }, 20s))
      throw std::runtime_error("Kamailio does not have the three nodes active:\n"
                               + edge->server->rpc("dispatcher.list"));
  }

  /// Targets Kamailio's dispatcher.list shows active (flags "A…").
  int kamailio_active() const {
    static const std::regex active{R"("FLAGS":\s*"A)"};
    auto listing = edge->server->rpc("dispatcher.list");
    return static_cast<int>(std::distance(
      std::sregex_iterator(listing.begin(), listing.end(), active), std::sregex_iterator()));
  }

  int active_members() const {
    int active = 0;
    for (auto& m : coordinator->members())
      active += m.value("state", "") == "active" ? 1 : 0;
    return active;
  }
};

/// One drain of node-a from the command line while sipp calls at `rate`: the time from starting
/// callgridctl to the last call node-a's fsemu accepted (0 = none after the start). Cancels the
/// drain and waits for the node to be active again before it returns. `failed` gets sipp's
/// failed calls of the run (a call that reached the node after its `fsctl pause inbound` fails
/// with 503 and is not in the node's counter: this says whether that happened).
double drain_command_once(cluster_rig& rig, int rate, long& failed) {
  auto& node = *rig.nodes[0];
  esl_poller poller{node.esl_port, rig.services.esl_password};
  auto at_load_start = poller.sessions();
  sipp_load load{rig.edge->server->sip_port(), rate * 4, rate, 500};
  std::this_thread::sleep_for(2s);
  auto last_count = poller.sessions();
  if (last_count - at_load_start < rate / 3)
    throw std::runtime_error("node-a got " + std::to_string(last_count - at_load_start)
                             + " calls in the 2 s before the drain");
  test_support::command_result drain;
  auto start = steady::now();
  std::thread command{[&] { drain = rig.coordinator->ctl("drain node-a --detach --yes"); }};
  auto last_change = start;
  while (steady::now() < start + 1500ms) {
    auto count = poller.sessions();
    if (count != last_count) {
      last_count = count;
      last_change = steady::now();
    }
    std::this_thread::sleep_for(2ms);
  }
  command.join();
  if (drain.exit_code != 0)
    throw std::runtime_error("callgridctl node drain failed: " + drain.output);
  load.wait();
  failed = load.outcome().second;
  auto cancel = rig.coordinator->ctl("drain node-a --disable");
  if (cancel.exit_code != 0)
    throw std::runtime_error("callgridctl node drain --disable failed: " + cancel.output);
  if (!test_support::eventually(
        [&] { return rig.active_members() == 3 && rig.kamailio_active() == 3; }, 30s))
    throw std::runtime_error("node-a did not come back after the drain was cancelled");
  // Kamailio gets set_state active with the change; give it a moment before the next load.
  std::this_thread::sleep_for(1s);
  return std::chrono::duration<double, std::milli>(last_change - start).count();
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  try {
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string name = argv[i];
      if (name == "--repeat")
        opt.repeat = bench::positive_number(name, argv[i + 1]);
      else if (name == "--rate")
        opt.rate = bench::positive_number(name, argv[i + 1]);
      else if (name == "--calls")
        opt.calls = bench::positive_number(name, argv[i + 1]);
      else if (name == "--pairs")
        opt.pairs = bench::positive_number(name, argv[i + 1]);
      else
        throw std::invalid_argument("unknown option " + name);
    }
    std::cerr << "edge_bench: rate " << opt.rate << "/s, " << opt.repeat << " drains, "
              << opt.pairs << " pairs of " << opt.calls << " calls\n";
    {
      cluster_rig cluster;
      std::vector<double> commands;
      std::vector<long> failures;
      for (int i = 0; i < opt.repeat; ++i) {
        long failed = 0;
        commands.push_back(drain_command_once(cluster, opt.rate, failed));
        failures.push_back(failed);
        std::cerr << "edge_bench: drain command " << i + 1 << ": " << commands.back()
                  << " ms, " << failed << " failed calls\n";
      }
      auto command_ms = bench::median(commands);
      nlohmann::ordered_json line{
        {"bench", "edge"},
        {"metric", "drain_command_to_unselected_ms"},
        {"value", bench::rounded(command_ms, 1)},
        {"unit", "ms"},
        {"peer", "goal"},
        {"ratio", bench::rounded(command_ms / 100.0, 3)},
        {"goal", 100},
        {"max_ms", bench::rounded(*std::max_element(commands.begin(), commands.end()), 1)},
        {"rate_per_s", opt.rate},
        {"nodes", 3},
        {"poll_ms", 2},
        {"failed_calls", failures},
        {"runs", commands}};
      std::cout << line.dump() << std::endl;
    }
    edge_rig rig;
    kamailio::rpc_client rpc{rig.rpc()};
    std::vector<double> drains;
    for (int i = 0; i < opt.repeat; ++i) {
      drains.push_back(drain_once(rig, rpc, opt.rate));
      std::cerr << "edge_bench: drain " << i + 1 << ": " << drains.back() << " ms\n";
    }
    auto drain_ms = bench::median(drains);
    nlohmann::ordered_json first{{"bench", "edge"},
                                 {"metric", "drain_to_unselected_ms"},
                                 {"value", bench::rounded(drain_ms, 1)},
                                 {"unit", "ms"},
                                 {"peer", "goal"},
                                 {"ratio", bench::rounded(drain_ms / 100.0, 3)},
                                 {"goal", 100},
                                 {"max_ms", bench::rounded(*std::max_element(drains.begin(),
                                                                             drains.end()), 1)},
                                 {"rate_per_s", opt.rate},
                                 {"nodes", 3},
                                 {"poll_ms", 2},
                                 {"runs", drains}};
    std::cout << first.dump() << std::endl;
    std::vector<double> without;
    std::vector<double> with;
    std::uint64_t reloads = 0;
    for (int i = 0; i < opt.pairs; ++i) {
      std::uint64_t none = 0;
      without.push_back(failed_percent(rig, opt, false, none));
      with.push_back(failed_percent(rig, opt, true, reloads));
      std::cerr << "edge_bench: pair " << i + 1 << ": failed " << without.back() << " % without, "
                << with.back() << " % with updates\n";
    }
    auto a = bench::median(without);
    auto b = bench::median(with);
    nlohmann::ordered_json second{{"bench", "edge"},
                                  {"metric", "failed_call_rate_difference_pct"},
                                  {"value", bench::rounded(b - a, 3)},
                                  {"unit", "percentage points"},
                                  {"peer", "goal"},
                                  {"ratio", bench::rounded((b - a) / 0.1, 3)},
                                  {"goal", 0.1},
                                  {"failed_pct_without_updates", bench::rounded(a, 3)},
                                  {"failed_pct_with_updates", bench::rounded(b, 3)},
                                  {"calls_per_run", opt.calls},
                                  {"rate_per_s", opt.rate},
                                  {"updates_per_s", 1},
                                  {"reloads_during_updates", reloads},
                                  {"runs_without", without},
                                  {"runs_with", with}};
    std::cout << second.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "edge_bench: " << e.what() << '\n';
    return 1;
  }
}
