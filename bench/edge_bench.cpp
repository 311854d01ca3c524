// edge: the Kamailio edge under a steady sipp load (issue 6, bench/README.md).
//
//  drain_to_unselected_ms  from `dispatcher.set_state d` for one of three fsemu nodes to the last
//                          call that still reached it (goal < 100 ms); the node's channel count
//                          is polled every 2 ms, so the figure is exact to a few ms.
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"
#include "edge_support.hpp"
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

  sipp_load(std::uint16_t port, int calls, int rate) {
    spec.argv = {"/usr/bin/sipp", "127.0.0.1:" + std::to_string(port), "-sf",
                 std::string{CALLGRID_TEST_DATA_DIR} + "/sipp/invite_bye.xml", "-s", "1000",
                 "-i", "127.0.0.1", "-p", std::to_string(test_support::pick_free_port()), "-m",
                 std::to_string(calls), "-r", std::to_string(rate), "-l",
                 std::to_string(rate * 4), "-timeout", "120s", "-nostdin", "-nd",
                 "-trace_stat", "-fd", "1", "-stf", (dir.path() / "stats.csv").string()};
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
