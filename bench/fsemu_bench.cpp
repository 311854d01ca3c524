// fsemu_bench: shows that fsemu (tools/fsemu) is never the bottleneck of a benchmark (issue 3):
// at least 5,000 call setups/s and 20,000 concurrent channels in one process.
//
// Starts the real fsemu binary on a free loopback port with a random password, connects with
// esl::inbound_client and measures, without and then with an event subscription
// (CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_HANGUP_COMPLETE, plain):
//
//   concurrent_channels  originate loopback calls until 20,000 channels are up, wait until
//                        `show channels count` lists them, read fsemu's VmRSS, then `hupall`
//                        and wait until the listing is back at 0;
//   call_setups_per_s    originate N calls with at most K `api originate` in flight (pipelined
//                        on one connection); a setup counts when its `+OK <uuid>` arrives;
//                        median of R repeats; after each run its calls are torn down with
//                        pipelined `uuid_kill` (timed: uuid_kills_per_s), then `hupall` for
//                        anything left and a wait until the count is back at 0.
//
// Each phase starts a fresh fsemu. One JSON object per result line on stdout; the environment
// and progress go to stderr. Every wait is bounded; fsemu is stopped by its pid (SIGTERM, then
// SIGKILL after 5 s).
//
// usage: fsemu_bench --fsemu PATH [--calls N] [--in-flight K] [--repeat R]
//                    [--channels C] [--timeout-s T] [--only all|setups|concurrent]
//                    [--subscribed both|yes|no]

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "esl/inbound_client.hpp"

namespace esl = callgrid::esl;
using json = nlohmann::ordered_json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr double setup_goal = 5'000;

struct options {
  std::string fsemu;
  int calls = 5'000;
  int in_flight = 128;
  int repeat = 5;
  int channels = 20'000;
  int timeout_s = 60;
  /// Which phases run: "all", "setups" or "concurrent"; and with/without subscription.
  std::string only = "all";
  std::string subscribed = "both";
};

void log(const std::string& text) { std::cerr << "fsemu_bench: " << text << std::endl; }

json rounded(double value, int digits) {
  auto scale = std::pow(10.0, digits);
  auto result = std::round(value * scale) / scale;
  if (std::isfinite(result) && result == std::trunc(result) && std::fabs(result) < 1e15)
    return static_cast<std::int64_t>(result);
  return result;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string random_password() {
  std::random_device rd;
  std::mt19937_64 gen{(static_cast<std::uint64_t>(rd()) << 32) ^ rd()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string pw;
  for (int i = 0; i < 24; ++i)
    pw += digits[gen() % 16];
  return pw;
}

/// A port the kernel considers free right now (bind to 0, read it, close).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/getsockname: " + std::string{std::strerror(errno)});
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

/// VmRSS (or another /proc/<pid>/status field in kB, e.g. "VmHWM:") of `pid` in bytes (0 when
/// unreadable).
std::int64_t rss_bytes(pid_t pid, std::string_view key = "VmRSS:") {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream fields{line.substr(key.size())};
      std::int64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

/// User + system CPU seconds of `pid` so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string all{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  auto paren = all.rfind(')');
  if (paren == std::string::npos)
    return 0;
  std::istringstream fields{all.substr(paren + 2)};
  std::string field;
  double ticks = 0;
  // After the comm field: state is field 3; utime is 14 and stime 15.
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i == 14 || i == 15)
      ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// The fsemu child process: started on a free port, stopped by its pid.
class fsemu_process {
public:
  fsemu_process(const std::string& path, int max_sessions) : password_{random_password()} {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      std::vector<std::string> args{path,
                                    "--esl-port",
                                    std::to_string(port_),
                                    "--esl-password",
                                    password_,
                                    "--max-sessions",
                                    std::to_string(max_sessions)};
      pid_ = ::fork();
      if (pid_ < 0)
        throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
      if (pid_ == 0) {
        ::dup2(STDERR_FILENO, STDOUT_FILENO); // stdout is for result lines only
        std::vector<char*> argv;
        for (auto& a : args)
          argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::cerr << "fsemu_bench: exec " << path << ": " << std::strerror(errno) << "\n";
        ::_exit(127);
      }
      // Wait (bounded) until it listens or exits.
      auto deadline = clock_type::now() + 10s;
      while (clock_type::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break; // exited: port taken or bad binary; retry with another port
        }
        if (can_connect(port_))
          return;
        std::this_thread::sleep_for(20ms);
      }
      stop();
    }
    throw std::runtime_error("fsemu did not start listening (" + path + ")");
  }

  ~fsemu_process() { stop(); }
  fsemu_process(const fsemu_process&) = delete;
  fsemu_process& operator=(const fsemu_process&) = delete;

  /// SIGTERM, then SIGKILL after 5 s; reaps the child.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGTERM);
    auto deadline = clock_type::now() + 5s;
    int status = 0;
    while (clock_type::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    log("fsemu did not exit after SIGTERM within 5 s; SIGKILL");
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& password() const { return password_; }

private:
  std::string password_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/// One connected client with its own I/O thread; blocking helpers for the benchmark.
class session {
public:
  session(const fsemu_process& fs, bool subscribed, std::chrono::seconds timeout)
      : timeout_{timeout} {
    esl::inbound_options o;
    o.port = fs.port();
    o.password = fs.password();
    o.subscribe_background_jobs = subscribed;
    if (subscribed)
      o.events = {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"};
    o.format = esl::event_format::plain;
    o.max_attempts = 1;
    o.idle_probe_after = 0ms;
    o.connection.reply_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    auto ready = std::make_shared<std::promise<std::string>>();
    auto ready_set = std::make_shared<std::atomic<bool>>(false);
    auto events = events_;
    client_ = esl::inbound_client::make(
      io_, o,
      {.on_event = [events](esl::frame&&) { events->fetch_add(1, std::memory_order_relaxed); },
       .on_state =
         [ready, ready_set](esl::link_state s, const caf::error& why) {
           if (s == esl::link_state::ready || s == esl::link_state::stopped
               || s == esl::link_state::backing_off) {
             if (!ready_set->exchange(true))
               ready->set_value(s == esl::link_state::ready ? std::string{}
                                                            : caf::to_string(why));
           } else if (s != esl::link_state::connecting) {
             // later losses are noticed through failing commands
           }
         }});
    thread_ = std::thread{[this] { io_.run(); }};
    client_->start();
    auto f = ready->get_future();
    if (f.wait_for(10s) != std::future_status::ready)
      throw std::runtime_error("client did not become ready within 10 s");
    if (auto err = f.get(); !err.empty())
      throw std::runtime_error("client could not connect: " + err);
  }

  ~session() {
    client_->stop();
    work_.reset();
    // stop() is asynchronous; give it a moment, then stop the loop regardless.
    std::this_thread::sleep_for(50ms);
    io_.stop();
    thread_.join();
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// `api cmd` and wait (bounded) for its output; throws on error or timeout.
  std::string api(const std::string& cmd) {
    auto p = std::make_shared<std::promise<caf::expected<std::string>>>();
    auto f = p->get_future();
    client_->api(cmd, [p](caf::expected<std::string> r) { p->set_value(std::move(r)); });
    if (f.wait_for(timeout_) != std::future_status::ready)
      throw std::runtime_error("no reply to `" + cmd + "` within the timeout");
    auto r = f.get();
    if (!r)
      throw std::runtime_error("`" + cmd + "` failed: " + caf::to_string(r.error()));
    return std::move(*r);
  }

  /// `show channels count` as a number.
  long channel_count() {
    auto out = api("show channels count");
    auto pos = out.find_first_of("0123456789");
    if (pos == std::string::npos)
      throw std::runtime_error("unexpected `show channels count` output: " + out);
    return std::stol(out.substr(pos));
  }

  /// Polls `show channels count` until `pred` holds or the timeout; returns the last count and
  /// the seconds it took (negative when it timed out).
  std::pair<long, double> wait_count(const std::function<bool(long)>& pred) {
    auto t0 = clock_type::now();
    auto deadline = t0 + timeout_;
    long n = channel_count();
    while (!pred(n) && clock_type::now() < deadline) {
      std::this_thread::sleep_for(50ms);
      n = channel_count();
    }
    double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    return {n, pred(n) ? s : -s};
  }

  struct burst_result {
    int done = 0;
    int failed = 0;
    std::string first_error;
    double wall_s = 0;
    bool timed_out = false;
    std::vector<std::string> outputs;
  };

  /// Originates `total` loopback calls to 1000 with at most `window` in flight; returns when
  /// every reply is in (or at the timeout).
  burst_result originate(int total, int window) {
    return pipeline(std::vector<std::string>(static_cast<std::size_t>(total),
                                             "originate loopback/1000/default &park()"),
                    window);
  }

  /// Sends `api` `commands` with at most `window` in flight; a command succeeds when its output
  /// starts with "+OK" (kept in `outputs`, in command order).
  burst_result pipeline(std::vector<std::string> commands, int window) {
    struct state {
      std::shared_ptr<esl::inbound_client> client;
      std::vector<std::string> commands;
      int total = 0;
      int issued = 0;
      burst_result result;
      clock_type::time_point t0;
      std::promise<void> finished;
    };
    auto s = std::make_shared<state>();
    s->client = client_;
    s->total = static_cast<int>(commands.size());
    s->commands = std::move(commands);
    s->result.outputs.resize(s->commands.size());
    if (s->total == 0)
      return s->result;
    auto f = s->finished.get_future();
    // issue() runs on the I/O thread only (the first window is posted there), so the counters
    // need no lock.
    auto issue = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak_issue = issue;
    *issue = [s, weak_issue] {
      auto index = static_cast<std::size_t>(s->issued++);
      s->client->api(s->commands[index],
                     [s, weak_issue, index](caf::expected<std::string> r) {
                       ++s->result.done;
                       if (r)
                         s->result.outputs[index] = *r;
                       if (!r || r->rfind("+OK", 0) != 0) {
                         if (s->result.failed++ == 0)
                           s->result.first_error = r ? *r : caf::to_string(r.error());
                       }
                       if (s->issued < s->total)
                         if (auto next = weak_issue.lock())
                           (*next)();
                       if (s->result.done == s->total) {
                         s->result.wall_s =
                           std::chrono::duration<double>(clock_type::now() - s->t0).count();
                         s->finished.set_value();
                       }
                     });
    };
    boost::asio::post(io_, [s, issue, window] {
      s->t0 = clock_type::now();
      for (int i = 0; i < window && s->issued < s->total; ++i)
        (*issue)();
    });
    if (f.wait_for(timeout_) != std::future_status::ready) {
      // Read the counters on the I/O thread to avoid a race.
      auto p = std::make_shared<std::promise<burst_result>>();
      boost::asio::post(io_, [s, p] { p->set_value(s->result); });
      auto pf = p->get_future();
      burst_result r;
      if (pf.wait_for(5s) == std::future_status::ready)
        r = pf.get();
      r.timed_out = true;
      // Keep `issue` alive for late replies: they hold only a weak pointer to it, which is
      // fine; the state itself is shared.
      leak_.push_back(issue);
      return r;
    }
    return s->result;
  }

  [[nodiscard]] std::int64_t events() const { return events_->load(); }

private:
  std::chrono::seconds timeout_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
    io_.get_executor()};
  std::shared_ptr<std::atomic<std::int64_t>> events_ =
    std::make_shared<std::atomic<std::int64_t>>(0);
  std::shared_ptr<esl::inbound_client> client_;
  std::thread thread_;
  std::vector<std::shared_ptr<std::function<void()>>> leak_;
};

json base_line(std::string_view metric, double value, std::string_view unit, int digits,
               double goal, bool subscribed) {
  return json{{"bench", "fsemu"},
              {"metric", metric},
              {"value", rounded(value, digits)},
              {"unit", unit},
              {"peer", "goal"},
              {"ratio", rounded(value / goal, 3)},
              {"goal", rounded(goal, 0)},
              {"subscribed", subscribed}};
}

void emit(const json& line) {
  std::cout << line.dump() << "\n";
  std::cout.flush();
}

struct hupall_result {
  long channels_left = 0;
  /// From sending hupall until the listing shows 0 (negative: timed out).
  double to_zero_s = 0;
  /// From sending hupall until its reply: fsemu hangs every call up before it replies.
  double reply_s = 0;
};

/// hupall and wait until the listing shows no channel.
hupall_result hangup_all(session& c) {
  auto t0 = clock_type::now();
  c.api("hupall NORMAL_CLEARING");
  hupall_result r;
  r.reply_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  auto [n, s] = c.wait_count([](long v) { return v == 0; });
  double total = std::chrono::duration<double>(clock_type::now() - t0).count();
  r.channels_left = n;
  r.to_zero_s = s < 0 ? -total : total;
  return r;
}

void bench_concurrent(const options& o, bool subscribed) {
  int calls = (o.channels + 1) / 2;
  fsemu_process fs{o.fsemu, o.channels * 2 + 1000};
  log("concurrent_channels" + std::string{subscribed ? " (subscribed)" : ""} + ": fsemu pid "
      + std::to_string(fs.pid()) + " port " + std::to_string(fs.port()));
  session c{fs, subscribed, std::chrono::seconds{o.timeout_s}};
  std::this_thread::sleep_for(100ms);
  auto rss0 = rss_bytes(fs.pid());
  auto cpu0 = cpu_seconds(fs.pid());
  auto burst = c.originate(calls, o.in_flight);
  auto target = static_cast<long>(calls) * 2;
  auto [listed, listed_s] = c.wait_count([target](long n) { return n >= target; });
  auto rss = rss_bytes(fs.pid());
  auto cpu1 = cpu_seconds(fs.pid());
  auto events_up = c.events();
  auto hup = hangup_all(c);
  auto rss_after = rss_bytes(fs.pid());
  auto rss_peak = rss_bytes(fs.pid(), "VmHWM:");
  auto line = base_line("concurrent_channels", static_cast<double>(listed), "channels", 0,
                        o.channels, subscribed);
  line["calls"] = calls;
  line["calls_ok"] = burst.done - burst.failed;
  line["calls_failed"] = burst.failed;
  if (!burst.first_error.empty())
    line["first_error"] = burst.first_error;
  if (burst.timed_out)
    line["error"] = "timed out waiting for originate replies";
  line["originate_wall_s"] = rounded(burst.wall_s, 3);
  line["setups_per_s"] = rounded(burst.wall_s > 0 ? burst.done / burst.wall_s : 0, 0);
  line["listed_after_s"] = rounded(listed_s, 3); // negative: timed out
  line["rss_bytes"] = rss;
  line["rss_baseline_bytes"] = rss0;
  line["bytes_per_channel"] =
    rounded(listed > 0 ? static_cast<double>(rss - rss0) / static_cast<double>(listed) : 0, 0);
  line["fsemu_cpu_s"] = rounded(cpu1 - cpu0, 3);
  line["channels_after_hupall"] = hup.channels_left;
  line["hupall_to_zero_s"] = rounded(hup.to_zero_s, 3); // negative: timed out
  line["hupall_reply_s"] = rounded(hup.reply_s, 3);
  line["hangups_per_s"] = rounded(hup.reply_s > 0 ? calls / hup.reply_s : 0, 0);
  // RSS once every channel is gone: hupall's transient peak that the allocator kept.
  line["rss_bytes_after_hupall"] = rss_after;
  line["rss_peak_bytes"] = rss_peak; // VmHWM over the whole phase
  if (subscribed)
    line["events_received"] = events_up;
  line["in_flight"] = o.in_flight;
  emit(line);
}

void bench_setups(const options& o, bool subscribed) {
  fsemu_process fs{o.fsemu, o.calls * 2 + 1000};
  log("call_setups_per_s" + std::string{subscribed ? " (subscribed)" : ""} + ": fsemu pid "
      + std::to_string(fs.pid()) + " port " + std::to_string(fs.port()));
  session c{fs, subscribed, std::chrono::seconds{o.timeout_s}};
  // Untimed warm-up.
  c.originate(std::min(o.calls, 500), o.in_flight);
  hangup_all(c);
  std::vector<double> rates;
  std::vector<double> cpu_us_per_call;
  std::vector<double> kill_rates;
  int kill_failed = 0;
  int failed = 0;
  std::string first_error;
  bool timed_out = false;
  long leftover = 0;
  std::int64_t events = 0;
  for (int r = 0; r < o.repeat; ++r) {
    auto ev0 = c.events();
    auto cpu0 = cpu_seconds(fs.pid());
    auto burst = c.originate(o.calls, o.in_flight);
    auto cpu1 = cpu_seconds(fs.pid());
    events += c.events() - ev0;
    failed += burst.failed;
    if (first_error.empty())
      first_error = burst.first_error;
    if (burst.timed_out) {
      timed_out = true;
      break;
    }
    rates.push_back(burst.wall_s > 0 ? burst.done / burst.wall_s : 0);
    cpu_us_per_call.push_back((cpu1 - cpu0) * 1e6 / o.calls);
    // Tear the calls down one by one, pipelined as the setups were: `uuid_kill <A leg>`.
    std::vector<std::string> kills;
    for (const auto& out : burst.outputs)
      if (out.rfind("+OK ", 0) == 0) {
        auto uuid = out.substr(4);
        while (!uuid.empty() && (uuid.back() == '\n' || uuid.back() == '\r'))
          uuid.pop_back();
        kills.push_back("uuid_kill " + uuid);
      }
    auto kill = c.pipeline(std::move(kills), o.in_flight);
    kill_failed += kill.failed;
    if (!kill.timed_out && kill.wall_s > 0)
      kill_rates.push_back(kill.done / kill.wall_s);
    log("  run " + std::to_string(r + 1) + ": " + std::to_string(static_cast<long>(rates.back()))
        + " setups/s, fsemu " + std::to_string(static_cast<long>(cpu_us_per_call.back()))
        + " us CPU/call; uuid_kill "
        + std::to_string(static_cast<long>(kill_rates.empty() ? 0 : kill_rates.back()))
        + " calls/s");
    // Whatever is left (a failed kill) goes with hupall; then wait for the listing to show 0.
    auto hup = hangup_all(c);
    if (hup.to_zero_s < 0)
      leftover = hup.channels_left;
  }
  auto rss_end = rss_bytes(fs.pid());
  auto rate = median(rates);
  auto line = base_line("call_setups_per_s", std::round(rate), "1/s", 0, setup_goal, subscribed);
  line["calls"] = o.calls;
  line["in_flight"] = o.in_flight;
  line["repeats"] = static_cast<int>(rates.size());
  json runs = json::array();
  for (auto v : rates)
    runs.push_back(rounded(v, 0));
  line["runs"] = runs;
  // fsemu's own CPU time per setup (its ticks are 10 ms, so this is coarse): 1e6 / this value
  // is the rate fsemu would reach on a core of its own.
  line["fsemu_cpu_us_per_call"] = rounded(median(cpu_us_per_call), 1);
  line["calls_failed"] = failed;
  // Teardown rate: `uuid_kill` per call, pipelined like the setups (median of the runs).
  line["uuid_kills_per_s"] = rounded(median(kill_rates), 0);
  line["uuid_kills_failed"] = kill_failed;
  // fsemu's RSS with no channel left, after warm-up and all runs (growth hints at a leak).
  line["rss_bytes_after"] = rss_end;
  if (!first_error.empty())
    line["first_error"] = first_error;
  if (timed_out)
    line["error"] = "timed out waiting for originate replies";
  if (leftover != 0)
    line["channels_left_after_hupall"] = leftover;
  if (subscribed)
    line["events_received"] = events;
  emit(line);
}

void print_environment() {
  std::ifstream cpuinfo{"/proc/cpuinfo"};
  std::string line, model = "unknown";
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  log("cpu: " + model);
  log("nproc: " + std::to_string(std::thread::hardware_concurrency()));
  log(std::string{"build: "} + CALLGRID_BENCH_BUILD_TYPE);
}

int int_arg(const std::string& name, const char* value) {
  try {
    int v = std::stoi(value);
    if (v <= 0)
      throw std::invalid_argument("not positive");
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(name + " needs a positive integer, got " + value);
  }
}

} // namespace

int main(int argc, char** argv) {
  try {
    options o;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> const char* {
        if (i + 1 >= argc)
          throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--fsemu")
        o.fsemu = value();
      else if (a == "--calls")
        o.calls = int_arg(a, value());
      else if (a == "--in-flight")
        o.in_flight = int_arg(a, value());
      else if (a == "--repeat")
        o.repeat = int_arg(a, value());
      else if (a == "--channels")
        o.channels = int_arg(a, value());
      else if (a == "--timeout-s")
        o.timeout_s = int_arg(a, value());
      else if (a == "--only")
        o.only = value();
      else if (a == "--subscribed")
        o.subscribed = value();
      else if (a == "-h" || a == "--help") {
        std::cout << "usage: fsemu_bench --fsemu PATH [--calls N] [--in-flight K] "
                     "[--repeat R] [--channels C] [--timeout-s T]\n"
                     "                   [--only all|setups|concurrent] [--subscribed both|yes|no]\n";
        return 0;
      } else
        throw std::runtime_error("unknown argument " + a);
    }
    if (o.fsemu.empty())
      throw std::runtime_error("--fsemu PATH is required");
    std::signal(SIGPIPE, SIG_IGN);
    print_environment();
    log("calls " + std::to_string(o.calls) + ", in flight " + std::to_string(o.in_flight)
        + ", repeats " + std::to_string(o.repeat) + ", channels " + std::to_string(o.channels));
    if (o.only != "all" && o.only != "setups" && o.only != "concurrent")
      throw std::runtime_error("--only takes all, setups or concurrent");
    if (o.subscribed != "both" && o.subscribed != "yes" && o.subscribed != "no")
      throw std::runtime_error("--subscribed takes both, yes or no");
    int status = 0;
    for (bool subscribed : {false, true}) {
      if ((subscribed && o.subscribed == "no") || (!subscribed && o.subscribed == "yes"))
        continue;
      // A failed phase prints an error line and the others still run.
      auto guarded = [&](std::string_view metric, void (*phase)(const options&, bool)) {
        try {
          phase(o, subscribed);
        } catch (const std::exception& e) {
          log(std::string{metric} + ": error: " + e.what());
          emit(json{{"bench", "fsemu"}, {"metric", metric}, {"value", nullptr},
                    {"peer", "goal"}, {"ratio", nullptr}, {"subscribed", subscribed},
                    {"error", e.what()}});
          status = 1;
        }
      };
      if (o.only != "concurrent")
        guarded("call_setups_per_s", bench_setups);
      if (o.only != "setups")
        guarded("concurrent_channels", bench_concurrent);
    }
    return status;
    return 0;
  } catch (const std::exception& e) {
    log(std::string{"error: "} + e.what());
    return 1;
  }
}
