// redis_ops_bench: the C++ side of `bench/run redis_ops` (see bench/README.md).
//
// Starts a throwaway redis-server (tests/support/services launcher, loopback, free port), then for
// each of SET, GET and INCR measures, BENCH_REPEAT times each, alternating:
//   peer  redis-benchmark -P 16 -c C -n N -r K -d D -t <cmd> --csv   (Debian redis-tools)
//   ours  callgrid::persistence::redis_client on one connection, one io_context thread, the same
//         N commands on the same random key space and value size, keeping P x C commands in
//         flight (the peer's total: C connections with P pipelined each); each reply's handler
//         sends the next command.
// and prints one JSON line per command with the medians and ratio = ours / peer (goal >= 0.5).
//
// No CAF actors run here (the client is Asio + hiredis), so CAF scheduler pinning does not apply.
//
// usage: redis_ops_bench [--requests N] [--repeat R] [--clients C] [--pipeline P]
//                        [--keyspace K] [--value-bytes D] [--redis-benchmark PATH]

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "persistence/redis_client.hpp"
#include "services/redis_server.hpp"

#include "bench_support.hpp"

namespace {

using callgrid::bench::median;
using callgrid::bench::positive_number;
using callgrid::bench::rounded;

using json = nlohmann::ordered_json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using callgrid::persistence::redis_client;
using callgrid::persistence::redis_reply;
using callgrid::persistence::redis_reply_type;

constexpr double goal_ratio = 0.5;

struct options {
  int requests = 200'000;
  int repeat = 5;
  int clients = 50;
  int pipeline = 16;
  int keyspace = 100'000;
  int value_bytes = 3;
  std::string redis_benchmark = "/usr/bin/redis-benchmark";
};

void log(const std::string& text) {
  std::cerr << "redis_ops_bench: " << text << std::endl;
}

options parse(int argc, char** argv) {
  options o;
  if (const char* r = std::getenv("BENCH_REPEAT"); r != nullptr && *r != '\0')
    o.repeat = positive_number("BENCH_REPEAT", r);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << "usage: redis_ops_bench [--requests N] [--repeat R] [--clients C] "
                   "[--pipeline P] [--keyspace K] [--value-bytes D] [--redis-benchmark PATH]\n";
      std::exit(0);
    }
    if (i + 1 >= argc)
      throw std::invalid_argument("missing value for " + arg);
    const char* value = argv[++i];
    if (arg == "--requests")
      o.requests = positive_number(arg, value);
    else if (arg == "--repeat")
      o.repeat = positive_number(arg, value);
    else if (arg == "--clients")
      o.clients = positive_number(arg, value);
    else if (arg == "--pipeline")
      o.pipeline = positive_number(arg, value);
    else if (arg == "--keyspace")
      o.keyspace = positive_number(arg, value);
    else if (arg == "--value-bytes")
      o.value_bytes = positive_number(arg, value);
    else if (arg == "--redis-benchmark")
      o.redis_benchmark = value;
    else
      throw std::invalid_argument("unknown option " + arg);
  }
  return o;
}

/// Runs `command` with the shell and returns its stdout; throws when it fails.
std::string capture(const std::string& command) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe{popen(command.c_str(), "r"), &pclose};
  if (!pipe)
    throw std::runtime_error("cannot run " + command);
  std::string out;
  std::array<char, 4096> buf{};
  while (auto n = std::fread(buf.data(), 1, buf.size(), pipe.get()))
    out.append(buf.data(), n);
  auto status = pclose(pipe.release());
  if (status != 0)
    throw std::runtime_error(command + " exited with status " + std::to_string(status));
  return out;
}

/// One redis-benchmark run of `test`; returns its requests per second (from --csv).
double peer_rate(const options& o, uint16_t port, const std::string& test) {
  std::ostringstream cmd;
  cmd << o.redis_benchmark << " -h 127.0.0.1 -p " << port << " -P " << o.pipeline << " -c "
      << o.clients << " -n " << o.requests << " -r " << o.keyspace << " -d " << o.value_bytes
      << " -t " << test << " --csv 2>/dev/null";
  auto out = capture(cmd.str());
  // Lines: "test","rps",...; the header line says "test".
  std::istringstream lines{out};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("\"test\"", 0) == 0 || line.empty())
      continue;
    auto first = line.find("\",\"");
    if (first == std::string::npos)
      continue;
    auto start = first + 3;
    auto end = line.find('"', start);
    return std::stod(line.substr(start, end - start));
  }
  throw std::runtime_error("no result in the output of " + cmd.str() + ":\n" + out);
}

/// The key redis-benchmark uses for a random number: prefix plus 12 zero-padded digits.
std::string key_for(std::string_view prefix, int n) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%012d", n);
  return std::string{prefix} + digits;
}

/// Our run: `requests` commands of `test`, `window` in flight; returns commands per second.
double our_rate(redis_client& client, const options& o, const std::string& test) {
  struct run_state {
    std::mt19937 rng{12345};
    std::uniform_int_distribution<int> pick;
    std::string value;
    int issued = 0;
    int answered = 0;
    int failed = 0;
    int total = 0;
    std::promise<void> done;
  };
  auto st = std::make_shared<run_state>();
  st->pick = std::uniform_int_distribution<int>{0, o.keyspace - 1};
  st->value.assign(static_cast<std::size_t>(o.value_bytes), 'x');
  st->total = o.requests;
  auto finished = st->done.get_future();
  auto next = std::make_shared<std::function<void()>>();
  *next = [&client, st, test, weak = std::weak_ptr<std::function<void()>>{next}] {
    if (st->issued >= st->total)
      return;
    ++st->issued;
    std::vector<std::string> args;
    if (test == "set")
      args = {"SET", key_for("key:", st->pick(st->rng)), st->value};
    else if (test == "get")
      args = {"GET", key_for("key:", st->pick(st->rng))};
    else
      args = {"INCR", key_for("counter:", st->pick(st->rng))};
    client.command(std::move(args), [st, weak](caf::expected<redis_reply> r) {
      if (!r || r->is_error())
        ++st->failed;
      if (++st->answered == st->total) {
        st->done.set_value();
        return;
      }
      if (auto again = weak.lock())
        (*again)();
    });
  };
  auto window = o.pipeline * o.clients;
  auto started = clock_type::now();
  // The first window is sent from the client's strand, like every later command.
  client.post([next, window] {
    for (int i = 0; i < window; ++i)
      (*next)();
  });
  if (finished.wait_for(120s) != std::future_status::ready)
    throw std::runtime_error("our " + test + " run did not finish within 120 s");
  std::chrono::duration<double> took = clock_type::now() - started;
  if (st->failed > 0)
    throw std::runtime_error("our " + test + " run had " + std::to_string(st->failed)
                             + " failed commands");
  return o.requests / took.count();
}

int run(int argc, char** argv) {
  auto o = parse(argc, argv);
  log("nproc: " + std::to_string(std::thread::hardware_concurrency())
      + ", build: " CALLGRID_BENCH_BUILD_TYPE);
  log("no CAF actors in this benchmark, so CAF scheduler pinning does not apply");
  callgrid::test_support::redis_server server;
  log("redis-server on 127.0.0.1:" + std::to_string(server.port()));

  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread{[&] { io.run(); }};
  callgrid::persistence::redis_client_options client_options;
  client_options.port = server.port();
  client_options.command_timeout = 10s;
  {
    redis_client client{io, client_options};
    client.start();
    for (int i = 0; i < 500 && !client.connected(); ++i)
      std::this_thread::sleep_for(10ms);
    if (!client.connected())
      throw std::runtime_error("our client did not connect");

    for (std::string test : {"set", "get", "incr"}) {
      std::vector<double> ours;
      std::vector<double> peers;
      our_rate(client, o, test); // warm-up: fills the key space for GET as well
      for (int i = 0; i < o.repeat; ++i) {
        peers.push_back(peer_rate(o, server.port(), test));
        ours.push_back(our_rate(client, o, test));
        log(test + " run " + std::to_string(i + 1) + ": ours " + std::to_string(ours.back())
            + "/s, redis-benchmark " + std::to_string(peers.back()) + "/s");
      }
      auto ours_median = median(ours);
      auto peer_median = median(peers);
      json line{{"bench", "redis_ops"},
                {"metric", test + "_per_s"},
                {"value", rounded(ours_median, 0)},
                {"unit", "1/s"},
                {"peer", "redis-benchmark -P " + std::to_string(o.pipeline) + " -c "
                           + std::to_string(o.clients)},
                {"ratio", rounded(ours_median / peer_median, 3)},
                {"goal_ratio", goal_ratio},
                {"peer_value", rounded(peer_median, 0)},
                {"requests", o.requests},
                {"in_flight", o.pipeline * o.clients},
                {"keyspace", o.keyspace},
                {"value_bytes", o.value_bytes},
                {"repeats", o.repeat}};
      json runs = json::array();
      for (auto v : ours)
        runs.push_back(rounded(v, 0));
      line["runs"] = runs;
      json peer_runs = json::array();
      for (auto v : peers)
        peer_runs.push_back(rounded(v, 0));
      line["peer_runs"] = peer_runs;
      std::cout << line.dump() << std::endl;
    }
    auto stats = client.stats();
    log("client: sent " + std::to_string(stats.sent) + ", replies " + std::to_string(stats.replies)
        + ", timeouts " + std::to_string(stats.timeouts));
    client.stop();
  }
  // The client's last handlers run on the loop; then it is stopped (a missed goal is a result,
  // not a failure of the program).
  guard.reset();
  std::this_thread::sleep_for(200ms);
  io.stop();
  io_thread.join();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "redis_ops_bench: " << e.what() << "\n";
    return 1;
  }
}
