// engine_bench: the C++ side of `bench/run engine` and `bench/run engine_memory` (bench/README.md).
//
// Starts a throwaway PostgreSQL and Redis (tests/support/services), migrates the schema and
// imports bench/engine's flows and routes with callgridd/callgridctl, then:
//
// engine (--mode engine): for each of two loads (throughput: calls offered faster than the engine
// takes them, at most --concurrency up at once; latency: --latency-rate calls/s for
// --latency-s seconds), --repeat times, alternating:
//   ours  fsemu (scripted callers dialling 5000, parked by its dialplan) + callgridd (inbound
//         link, records to spool and PostgreSQL, Redis connected, route -> bench_play_hangup)
//   peer  the same fsemu configuration + bench/peers/engine_peer.js (esl-lite) doing the same
//         three steps per call
// An observer (this program, on its own inbound event socket to fsemu) takes fsemu's
// Event-Date-Timestamp of every CHANNEL_PARK, CHANNEL_EXECUTE, CHANNEL_EXECUTE_COMPLETE and
// CHANNEL_HANGUP and pairs them per channel: "park -> first command" is CHANNEL_PARK to the
// CHANNEL_EXECUTE of the controller's first application (the switch got the command),
// "prompt end -> hangup" is the playback's CHANNEL_EXECUTE_COMPLETE to CHANNEL_HANGUP. Both
// stamps come from fsemu's clock, so they include fsemu's write and read of the frames.
// The controller's CPU time is utime+stime from /proc/<pid>/stat, from "ready" (callgridd's
// /readyz, the peer's first reply) to the end (for callgridd: all records committed in cdr).
//
// engine_memory (--mode engine_memory): fsemu callers dial 5001 (bench_menu_wait: a menu that
// waits ten minutes for a key) until --memory-calls calls are live in callgridd
// (callgrid_live_calls on /metrics); RSS growth / live calls.
//
// Result lines (one JSON object each) go to stdout; progress to stderr. Every process it starts
// is stopped by its pid (tests/support/services child_process), also when it fails.
//
// usage: engine_bench --callgridd PATH --callgridctl PATH --fsemu PATH --inputs bench/engine
//          [--mode engine|engine_memory] [--peer engine_peer.js] [--node node] [--out DIR]
//          [--repeat R] [--calls N] [--peer-calls N] [--rate R] [--concurrency C]
//          [--latency-rate R] [--latency-s S] [--prompt-ms MS] [--memory-calls N]
//          [--memory-rate R] [--threads T] [--policy io|sharing|stealing] [--timeout-s S]
//          [--only-ours] [--loads throughput,latency] [--callers-after-s S]
// --only-ours (for profiling) runs callgridd only and prints no result lines, just the per-run
// log lines on stderr; --loads picks the loads. Every callgridd run logs its threads' sleeps
// (voluntary context switches) per call, by thread name: each is about one wake-up.
// --callers-after-s (default 3) is how long after fsemu's start its callers begin; raise it
// for a callgridd that starts slowly, e.g. under valgrind (--callgridd may be a wrapper script).

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "services/postgres_server.hpp"
#include "services/redis_server.hpp"
#include "services/service_process.hpp"

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace ts = callgrid::test_support;

constexpr double goal_cpu_us_per_call = 50;
constexpr double goal_p99_ms = 5;
constexpr double goal_calls_per_cpu_s_ratio = 10;
constexpr double goal_rss_bytes_per_call = 4096;

void log(const std::string& text) {
  std::cerr << "engine_bench: " << text << std::endl;
}

struct options {
  std::string mode = "engine";
  std::string callgridd;
  std::string callgridctl;
  std::string fsemu;
  std::string node = "node";
  std::string peer_script;
  std::string inputs_dir; // bench/engine
  fs::path out = "build/bench-results/engine";
  int repeat = 3;
  int calls = 10000;
  int peer_calls = 1000;
  int rate = 4000;
  int concurrency = 2000;
  int latency_rate = 1000;
  int latency_s = 10;
  int memory_calls = 100000;
  int memory_rate = 500;
  int prompt_ms = 20;
  int threads = 1;
  std::string policy = "io";
  int timeout_s = 120;
  bool only_ours = false;        // profiling: callgridd runs only, no peer, no result lines
  int callers_after_s = 3;
  std::string loads = "throughput,latency";
};

options parse(int argc, char** argv) {
  options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc)
      throw std::runtime_error(std::string{"missing value for "} + argv[i]);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--mode") o.mode = value(i);
    else if (a == "--callgridd") o.callgridd = value(i);
    else if (a == "--callgridctl") o.callgridctl = value(i);
    else if (a == "--fsemu") o.fsemu = value(i);
    else if (a == "--node") o.node = value(i);
    else if (a == "--peer") o.peer_script = value(i);
    else if (a == "--inputs") o.inputs_dir = value(i);
    else if (a == "--out") o.out = value(i);
    else if (a == "--repeat") o.repeat = std::stoi(value(i));
    else if (a == "--calls") o.calls = std::stoi(value(i));
    else if (a == "--peer-calls") o.peer_calls = std::stoi(value(i));
    else if (a == "--rate") o.rate = std::stoi(value(i));
    else if (a == "--concurrency") o.concurrency = std::stoi(value(i));
    else if (a == "--latency-rate") o.latency_rate = std::stoi(value(i));
    else if (a == "--latency-s") o.latency_s = std::stoi(value(i));
    else if (a == "--memory-calls") o.memory_calls = std::stoi(value(i));
    else if (a == "--memory-rate") o.memory_rate = std::stoi(value(i));
    else if (a == "--prompt-ms") o.prompt_ms = std::stoi(value(i));
    else if (a == "--threads") o.threads = std::stoi(value(i));
    else if (a == "--policy") o.policy = value(i);
    else if (a == "--timeout-s") o.timeout_s = std::stoi(value(i));
    else if (a == "--only-ours") o.only_ours = true;
    else if (a == "--callers-after-s") o.callers_after_s = std::stoi(value(i));
    else if (a == "--loads") o.loads = value(i);
    else
      throw std::runtime_error("unknown option " + std::string{a}
                               + " (see the comment at the top of bench/engine_bench.cpp)");
  }
  if (o.mode != "engine" && o.mode != "engine_memory")
    throw std::runtime_error("--mode must be engine or engine_memory");
  if (o.callgridd.empty() || o.callgridctl.empty() || o.fsemu.empty() || o.inputs_dir.empty())
    throw std::runtime_error("--callgridd, --callgridctl, --fsemu and --inputs are required");
  for (auto* path : {&o.callgridd, &o.callgridctl, &o.fsemu, &o.peer_script, &o.inputs_dir})
    if (!path->empty())
      *path = fs::absolute(*path).string();
  if (o.mode == "engine" && o.peer_script.empty())
    throw std::runtime_error("--peer is required for --mode engine");
  if (o.repeat < 1 || o.calls < 1 || o.peer_calls < 1 || o.rate < 1 || o.concurrency < 1 || o.latency_rate < 1
      || o.latency_s < 1 || o.memory_calls < 1 || o.memory_rate < 1 || o.prompt_ms < 1
      || o.callers_after_s < 1)
    throw std::runtime_error("counts, rates and times must be positive");
  return o;
}

/// User + system CPU seconds in a /proc stat file (0 when unreadable).
double cpu_seconds_in(const fs::path& stat_path);

/// What each thread of `pid` has used so far, summed by thread name (/proc/PID/task/*/comm).
struct thread_usage {
  /// Voluntary context switches: the thread going to sleep, so each is (about) one wake-up.
  std::int64_t sleeps = 0;
  double cpu_seconds = 0;
};

std::map<std::string, thread_usage> usage_by_thread(pid_t pid) {
  std::map<std::string, thread_usage> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator{"/proc/" + std::to_string(pid) + "/task", ec}) {
    std::ifstream comm_in{task.path() / "comm"};
    std::string name;
    std::getline(comm_in, name);
    auto& usage = out[name];
    usage.cpu_seconds += cpu_seconds_in(task.path() / "stat");
    std::ifstream status{task.path() / "status"};
    for (std::string line; std::getline(status, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        usage.sleeps += std::stoll(line.substr(line.find(':') + 1));
  }
  return out;
}

json rounded(double value, int digits) {
  if (!std::isfinite(value))
    return nullptr;
  double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

double median(std::vector<double> v) {
  if (v.empty())
    return std::nan("");
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty())
    return std::nan("");
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return static_cast<double>(v[std::clamp<std::size_t>(rank, 1, v.size()) - 1]);
}

double cpu_seconds_in(const fs::path& stat_path) {
  std::ifstream in{stat_path};
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

/// User + system CPU seconds of `pid` so far (0 when unreadable).
double cpu_seconds(pid_t pid) {
  return cpu_seconds_in("/proc/" + std::to_string(pid) + "/stat");
}

/// VmRSS of `pid` in bytes (0 when unreadable).
std::int64_t rss_bytes(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6)) * 1024;
  return 0;
}

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// GET `path` on 127.0.0.1:`port`; the response (status line, headers, body) or "" on failure.
std::string http_get(std::uint16_t port, const std::string& path) {
  int fd = connect_loopback(port);
  if (fd < 0)
    return {};
  std::string out;
  if (send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")) {
    char buffer[65536];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) > 0) {
      auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0)
        break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

/// The value of an unlabelled metric in a /metrics response (nullopt when absent).
std::optional<double> metric(const std::string& page, const std::string& name) {
  std::istringstream in{page};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0)
      return std::stod(line.substr(name.size() + 1));
  return std::nullopt;
}

/// The buckets of an unlabelled histogram in a /metrics response: (le, cumulative count),
/// +Inf as infinity.
std::vector<std::pair<double, double>> histogram_buckets(const std::string& page,
                                                         const std::string& name) {
  std::vector<std::pair<double, double>> buckets;
  const std::string prefix = name + "_bucket{le=\"";
  std::istringstream in{page};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0)
      continue;
    auto close = line.find("\"} ", prefix.size());
    if (close == std::string::npos)
      continue;
    auto le = line.substr(prefix.size(), close - prefix.size());
    buckets.emplace_back(le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le),
                         std::stod(line.substr(close + 3)));
  }
  return buckets;
}

/// The smallest bucket bound holding quantile `q` of the pooled histograms (an upper bound of
/// the true quantile); infinity past the last finite bucket.
double bucket_quantile(const std::vector<std::pair<double, double>>& buckets, double q) {
  if (buckets.empty() || buckets.back().second <= 0)
    return std::numeric_limits<double>::quiet_NaN();
  auto wanted = q * buckets.back().second;
  for (const auto& [le, count] : buckets)
    if (count >= wanted)
      return le;
  return std::numeric_limits<double>::infinity();
}

std::string random_password() {
  std::random_device rd;
  std::string pw = "bench-";
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 24; ++i)
    pw += digits[rd() % 16];
  return pw;
}

/// Runs a SQL query that returns one number (cdr row counts).
std::int64_t query_count(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::int64_t result = -1;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
      result = std::stoll(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(conn);
  return result;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out{path, std::ios::trunc};
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Waits until `done()` holds, polling every `step`; false after `limit`.
template <class Predicate>
bool wait_for(Predicate done, std::chrono::milliseconds limit,
              std::chrono::milliseconds step = 20ms) {
  auto deadline = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

/// Timestamps of one channel, in fsemu's microseconds (0 = not seen).
struct channel_times {
  std::int64_t park = 0;
  std::int64_t first_execute = 0;
  std::int64_t prompt_end = 0;
  std::int64_t hangup = 0;
};

/// An inbound event socket to fsemu on its own thread, recording the channel timestamps above.
/// Owned by one run; stop() joins the thread. Connection or parse failures end the thread and
/// are reported by error().
class observer {
public:
  observer(std::uint16_t port, const std::string& password) {
    fd_ = connect_loopback(port);
    if (fd_ < 0)
      throw std::runtime_error("observer: cannot connect to fsemu");
    // auth, then the subscription: replies are read (and ignored) by the thread.
    if (!send_all(fd_, "auth " + password + "\n\n"
                         "event plain CHANNEL_PARK CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE "
                         "CHANNEL_HANGUP\n\n"))
      throw std::runtime_error("observer: cannot write to fsemu");
    thread_ = std::thread{[this] { run(); }};
  }
  ~observer() { stop(); }
  observer(const observer&) = delete;
  observer& operator=(const observer&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  /// Call the result once stopped.
  [[nodiscard]] std::unordered_map<std::string, channel_times> channels() const {
    return channels_;
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::int64_t events() const { return events_; }
  /// Per CHANNEL_PARK: its arrival here minus its Event-Date-Timestamp, in microseconds.
  [[nodiscard]] const std::vector<std::int64_t>& delivery_us() const { return delivery_us_; }

private:
  void run() {
    callgrid::esl::frame_parser parser;
    callgrid::esl::frame frame;
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      auto room = parser.prepare(65536);
      auto n = ::recv(fd_, room.data(), room.size(), 0);
      if (n <= 0) {
        error_ = "fsemu closed the observer's connection";
        return;
      }
      parser.commit(static_cast<std::size_t>(n));
      for (;;) {
        auto more = parser.next(frame);
        if (!more) {
          error_ = "observer: unparsable frame";
          return;
        }
        if (!*more)
          break;
        if (!frame.has_event())
          continue;
        ++events_;
        auto stamp_text = frame.field("Event-Date-Timestamp").value_or("0");
        std::int64_t stamp = std::stoll(std::string{stamp_text});
        std::string uuid{frame.unique_id()};
        auto name = frame.event_name();
        auto& c = channels_[uuid];
        if (name == "CHANNEL_PARK") {
          if (c.park == 0) {
            c.park = stamp;
            // How late fsemu's CHANNEL_PARK reaches a subscriber (same machine, same clock).
            auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
            delivery_us_.push_back(now - stamp);
          }
        } else if (name == "CHANNEL_EXECUTE") {
          // fsemu's own dialplan applications (answer, park) run before the park.
          auto app = frame.field("Application").value_or("");
          if (c.park != 0 && c.first_execute == 0 && app != "park")
            c.first_execute = stamp;
        } else if (name == "CHANNEL_EXECUTE_COMPLETE") {
          if (frame.field("Application").value_or("") == "playback" && c.prompt_end == 0)
            c.prompt_end = stamp;
        } else if (name == "CHANNEL_HANGUP") {
          if (c.hangup == 0)
            c.hangup = stamp;
        }
      }
    }
  }

  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::unordered_map<std::string, channel_times> channels_;
  std::string error_;
  std::int64_t events_ = 0;
  std::vector<std::int64_t> delivery_us_;
};

/// What one run measured.
struct run_result {
  std::string who;
  std::string load;
  int placed = 0;
  int completed = 0;
  int failed = 0;
  double seconds = 0;     // first CHANNEL_PARK to last CHANNEL_HANGUP (fsemu's clock)
  double cpu_seconds = 0; // the controller's
  double fsemu_cpu_seconds = 0;
  std::vector<std::int64_t> park_to_command_us;
  std::vector<std::int64_t> prompt_end_to_hangup_us;
  std::vector<std::int64_t> park_delivery_us;
  /// callgridd's callgrid_event_to_command_seconds buckets: (upper bound s, cumulative count).
  std::vector<std::pair<double, double>> reaction_buckets;
  json detail = json::object();

  [[nodiscard]] double calls_per_s() const { return completed / seconds; }
  [[nodiscard]] double cpu_us_per_call() const { return cpu_seconds * 1e6 / completed; }
  [[nodiscard]] double calls_per_cpu_s() const { return completed / cpu_seconds; }
};

/// The services and files every run shares.
class bench_env {
public:
  explicit bench_env(const options& o) : o_{o}, password_{random_password()} {
    fs::create_directories(o.out);
    log("starting PostgreSQL and Redis");
    pg_.emplace();
    redis_.emplace();
    conninfo_ = pg_->conninfo();
    write_config("migrate", 8021, 9464, 8084);
    run_tool({o.callgridd, "--config", (o.out / "callgridd-migrate.toml").string(), "migrate"},
             "callgridd migrate");
    for (auto file : {"play_hangup.yaml", "menu_wait.yaml"})
      run_tool({o.callgridctl, "flow", "import", "--db", conninfo_,
                (fs::path{o.inputs_dir} / file).string()},
               std::string{"flow import "} + file);
    run_tool({o.callgridctl, "route", "import", "--db", conninfo_,
              (fs::path{o.inputs_dir} / "routes.yaml").string()},
             "route import");
  }

  [[nodiscard]] const options& opts() const { return o_; }
  [[nodiscard]] const std::string& password() const { return password_; }
  [[nodiscard]] const std::string& conninfo() const { return conninfo_; }

  /// Writes callgridd's configuration for run `tag`; returns its path.
  fs::path write_config(const std::string& tag, std::uint16_t esl_port, std::uint16_t http_port,
                        std::uint16_t outbound_port) const {
    auto spool = o_.out / ("spool-" + tag);
    fs::remove_all(spool);
    auto path = o_.out / ("callgridd-" + tag + ".toml");
    std::ostringstream t;
    t << "role = \"node\"\n[node]\nname = \"bench\"\ncapacity = 1000000\n"
      << "[cluster]\ncoordinators = []\ndrain_deadline = \"5s\"\n"
      << "[esl]\nport = " << esl_port << "\npassword = \"" << password_ << "\"\n"
      << "[outbound]\nport = " << outbound_port << "\n"
      << "[database]\nconninfo = \"" << conninfo_ << "\"\n"
      << "[redis]\nenabled = true\nport = " << redis_->port() << "\n"
      << "[records]\nspool_dir = \"" << fs::absolute(spool).string() << "\"\n"
      << "[http]\nport = " << http_port << "\n"
      << "[log]\nlevel = \"warn\"\nformat = \"text\"\n"
      << "[scheduler]\nthreads = " << o_.threads << "\npolicy = \"" << o_.policy << "\"\n";
    write_file(path, t.str());
    return path;
  }

  /// Writes fsemu's configuration: `total` callers dialling `destination` at `rate`/s.
  fs::path write_fsemu_config(const std::string& tag, std::uint16_t esl_port,
                              const std::string& destination, int total, int rate,
                              int concurrency, const std::string& script) const {
    auto path = o_.out / ("fsemu-" + tag + ".toml");
    std::ostringstream t;
    t << "[switch]\nesl_port = " << esl_port << "\nesl_password = \"" << password_ << "\"\n"
      << "max_sessions = " << std::max(1000, total * 2) << "\nheartbeat = \"20s\"\n"
      << "[[dialplan]]\nregex = \"^500\\\\d$\"\ncontext = \"default\"\naction = \"park\"\n"
      << "[prompts]\ndefault = \"" << o_.prompt_ms << "ms\"\n"
      << "[[callers]]\nname = \"bench\"\ndestination = \"" << destination << "\"\n"
      << "rate = " << rate << "\nconcurrency = " << concurrency << "\ntotal = " << total << "\n"
      << "answer_timeout = \"30s\"\nwait_timeout = \"120s\"\n"
      << "start_after = \"" << o_.callers_after_s << "s\"\n"
      << "variables = { park_timeout = 900 }\n"
      << "[[callers.scripts]]\nname = \"bench\"\nsteps = " << script << "\n";
    write_file(path, t.str());
    return path;
  }

  ts::child_process start(const std::string& tag, std::vector<std::string> argv) const {
    ts::process_spec spec;
    spec.argv = std::move(argv);
    spec.output_path = o_.out / (tag + ".log");
    fs::remove(spec.output_path);
    return ts::child_process{spec};
  }

private:
  void run_tool(std::vector<std::string> argv, const std::string& what) const {
    ts::process_spec spec;
    spec.argv = std::move(argv);
    spec.output_path = o_.out / "setup.log";
    ts::run_to_completion(spec, 60s, what);
  }

  options o_;
  std::string password_;
  std::optional<ts::postgres_server> pg_;
  std::optional<ts::redis_server> redis_;
  std::string conninfo_;
};

std::string absolute_program(const std::string& path) {
  if (path.find('/') != std::string::npos)
    return fs::absolute(path).string();
  // A bare name (node): look it up in PATH, as child_process wants an absolute path.
  std::istringstream dirs{std::getenv("PATH") ? std::getenv("PATH") : ""};
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((fs::path{dir} / path).c_str(), X_OK) == 0)
      return (fs::path{dir} / path).string();
  throw std::runtime_error(path + " not found in PATH");
}

/// One engine run: fsemu with `total` callers at `rate`/s, controlled by callgridd (`peer`
/// false) or engine_peer.js.
run_result engine_run(const bench_env& env, bool peer, const std::string& load, int total,
                      int rate, int concurrency, int index) {
  const auto& o = env.opts();
  std::string who = peer ? "peer" : "ours";
  std::string tag = load + "-" + who + "-" + std::to_string(index);
  auto esl_port = ts::pick_free_port();
  auto fsemu_config = env.write_fsemu_config(
    tag, esl_port, "5000", total, rate, concurrency,
    "[ { wait_prompt_end = 1 }, { expect_hangup = \"30s\" } ]");
  auto summary_path = o.out / ("summary-" + tag + ".json");
  fs::remove(summary_path);
  auto fsemu = env.start("fsemu-" + tag,
                         {fs::absolute(o.fsemu).string(), "--config", fsemu_config.string(),
                          "--run-callers", "--event-queue-limit", "10000000", "--summary-json",
                          summary_path.string(), "--caller-time-limit",
                          std::to_string(o.timeout_s)});
  auto launched = clock_type::now();
  if (!wait_for([&] {
        int fd = connect_loopback(esl_port);
        if (fd >= 0)
          ::close(fd);
        return fd >= 0;
      },
                10s))
    throw std::runtime_error("fsemu did not listen; see " + (o.out / ("fsemu-" + tag + ".log")).string());
  observer watch{esl_port, env.password()};

  ts::child_process controller;
  std::uint16_t http_port = 0;
  std::int64_t records_before = 0;
  fs::path peer_log = o.out / ("controller-" + tag + ".log");
  if (peer) {
    controller = env.start("controller-" + tag,
                           {absolute_program(o.node), fs::absolute(o.peer_script).string(),
                            "--port", std::to_string(esl_port), "--password", env.password(),
                            "--prompt", "bench/beep.wav", "--timeout-ms", "120000"});
    if (!wait_for([&] { return read_file(peer_log).find("{\"ready\":true}") != std::string::npos; },
                  10s))
      throw std::runtime_error("engine_peer.js did not get ready; see " + peer_log.string());
  } else {
    http_port = ts::pick_free_port();
    records_before = query_count(env.conninfo(), "select count(*) from cdr");
    auto config = env.write_config(tag, esl_port, http_port, ts::pick_free_port());
    controller = env.start("controller-" + tag,
                           {fs::absolute(o.callgridd).string(), "--config", config.string()});
    if (!wait_for([&] { return http_get(http_port, "/readyz").rfind("HTTP/1.1 200", 0) == 0; },
                  std::chrono::seconds(std::max(10, o.callers_after_s + 5)), 50ms))
      throw std::runtime_error("callgridd did not get ready; see " + peer_log.string());
  }
  double cpu_start = cpu_seconds(controller.pid());
  auto threads_start = usage_by_thread(controller.pid());
  double fsemu_cpu_start = cpu_seconds(fsemu.pid());
  if (clock_type::now() - launched > std::chrono::milliseconds(o.callers_after_s * 1000 - 500))
    log("warning: " + who + " got ready less than 0.5 s before the callers started");

  // fsemu writes the summary when its last caller is done; it keeps running so that the
  // controller can read the events still queued for it.
  if (!wait_for([&] { return fs::exists(summary_path) && fs::file_size(summary_path) > 0; },
                std::chrono::seconds(o.timeout_s + 30), 50ms))
    throw std::runtime_error("fsemu's callers did not finish in time");
  run_result r;
  r.who = who;
  r.load = load;
  if (!peer) {
    // The records are part of the engine's work: wait until they are committed in cdr.
    auto want = records_before + total;
    if (!wait_for([&] { return query_count(env.conninfo(), "select count(*) from cdr") >= want; },
                  60s, 100ms))
      log("warning: not every record reached cdr within 60 s");
  }
  // Then until the controller is idle (no CPU tick used for 0.5 s, at most 10 s): its backlog
  // is done.
  for (double before = -1, now = cpu_seconds(controller.pid()), rounds = 0;
       now != before && rounds < 20; now = cpu_seconds(controller.pid()), ++rounds) {
    before = now;
    std::this_thread::sleep_for(500ms);
  }
  r.cpu_seconds = cpu_seconds(controller.pid()) - cpu_start;
  json wakeups = json::object();
  json thread_cpu = json::object();
  double wakeups_total = 0;
  auto calls = static_cast<double>(std::max(total, 1));
  for (auto& [name, usage] : usage_by_thread(controller.pid())) {
    auto per_call = static_cast<double>(usage.sleeps - threads_start[name].sleeps) / calls;
    wakeups_total += per_call;
    wakeups[name] = rounded(per_call, 2);
    auto cpu_s = usage.cpu_seconds - threads_start[name].cpu_seconds;
    thread_cpu[name] = rounded(cpu_s * 1e6 / calls, 1);
  }
  wakeups["all"] = rounded(wakeups_total, 2);
  r.detail["sleeps_per_call_by_thread"] = wakeups;
  r.detail["cpu_us_per_call_by_thread"] = thread_cpu;
  r.fsemu_cpu_seconds = cpu_seconds(fsemu.pid()) - fsemu_cpu_start;
  if (peer) {
    controller.stop(SIGTERM, 5s);
    auto text = read_file(peer_log);
    auto last = text.rfind("{\"parked\"");
    if (last != std::string::npos)
      r.detail["peer_counts"] = json::parse(text.substr(last, text.find('\n', last) - last));
  } else {
    r.detail["records_committed"] = query_count(env.conninfo(), "select count(*) from cdr")
                                    - records_before;
    r.reaction_buckets = histogram_buckets(http_get(http_port, "/metrics"),
                                           "callgrid_event_to_command_seconds");
    controller.stop(SIGTERM, 10s);
  }
  watch.stop();
  if (!watch.error().empty())
    log("observer: " + watch.error());
  fsemu.stop(SIGTERM, 5s);

  auto summary = json::parse(read_file(summary_path));
  const auto& s = summary["scenarios"][0];
  r.placed = s["placed"].get<int>();
  r.completed = s["completed"].get<int>();
  r.failed = s["failed"].get<int>();
  if (r.failed > 0)
    r.detail["caller_failures"] = s["failures"];
  std::int64_t first = 0;
  std::int64_t last = 0;
  for (const auto& [uuid, c] : watch.channels()) {
    if (c.park == 0)
      continue;
    first = first == 0 ? c.park : std::min(first, c.park);
    last = std::max(last, c.hangup);
    if (c.first_execute != 0)
      r.park_to_command_us.push_back(c.first_execute - c.park);
    if (c.prompt_end != 0 && c.hangup >= c.prompt_end)
      r.prompt_end_to_hangup_us.push_back(c.hangup - c.prompt_end);
  }
  r.seconds = static_cast<double>(last - first) / 1e6;
  r.park_delivery_us = watch.delivery_us();
  log(tag + ": " + std::to_string(r.completed) + "/" + std::to_string(r.placed) + " calls in "
      + std::to_string(r.seconds) + " s, " + std::to_string(r.calls_per_s()) + " calls/s, cpu "
      + std::to_string(r.cpu_seconds) + " s (" + std::to_string(r.cpu_us_per_call())
      + " us/call), fsemu cpu " + std::to_string(r.fsemu_cpu_seconds) + " s, sleeps per call "
      + r.detail["sleeps_per_call_by_thread"].dump() + ", cpu us per call "
      + r.detail["cpu_us_per_call_by_thread"].dump() + ", park->command p99 "
      + std::to_string(percentile(r.park_to_command_us, 0.99) / 1000) + " ms"
      + (r.reaction_buckets.empty()
           ? std::string{}
           : ", event->command in callgridd p99 <= "
               + std::to_string(bucket_quantile(r.reaction_buckets, 0.99) * 1000) + " ms"));
  return r;
}

/// callgridd's own reaction times (its callgrid_event_to_command_seconds histogram), pooled
/// over runs: p50 and p99 as the bucket bounds that hold them.
json engine_reaction_json(const std::vector<run_result>& runs) {
  std::vector<std::pair<double, double>> pooled_buckets;
  for (const auto& r : runs) {
    if (pooled_buckets.empty()) {
      pooled_buckets = r.reaction_buckets;
      continue;
    }
    if (r.reaction_buckets.size() != pooled_buckets.size())
      continue;
    for (std::size_t i = 0; i < pooled_buckets.size(); ++i)
      pooled_buckets[i].second += r.reaction_buckets[i].second;
  }
  auto ms = [](double s) { return std::isfinite(s) ? json(rounded(s * 1000, 3)) : json(nullptr); };
  return {{"measured", "callgridd's callgrid_event_to_command_seconds histogram: its read of an "
                       "event off the socket -> its write of the first command the event caused"},
          {"p50_at_most_ms", ms(bucket_quantile(pooled_buckets, 0.50))},
          {"p99_at_most_ms", ms(bucket_quantile(pooled_buckets, 0.99))},
          {"n", pooled_buckets.empty() ? 0.0 : pooled_buckets.back().second}};
}

json latency_json(std::vector<std::int64_t> v) {
  return {{"p50", rounded(percentile(v, 0.50) / 1000, 3)},
          {"p99", rounded(percentile(v, 0.99) / 1000, 3)},
          {"max", rounded(percentile(v, 1.0) / 1000, 3)},
          {"n", v.size()}};
}

/// One latency series of every run, pooled.
std::vector<std::int64_t> pooled(const std::vector<run_result>& runs,
                                 std::vector<std::int64_t> run_result::*series) {
  std::vector<std::int64_t> all;
  for (const auto& r : runs)
    all.insert(all.end(), (r.*series).begin(), (r.*series).end());
  return all;
}

/// The p99 of one latency series of each run, in ms.
std::vector<double> run_p99s(const std::vector<run_result>& runs,
                             std::vector<std::int64_t> run_result::*series) {
  std::vector<double> out;
  for (const auto& r : runs) {
    auto v = r.*series;
    out.push_back(percentile(v, 0.99) / 1000);
  }
  return out;
}

json p99_runs(const std::vector<run_result>& runs, std::vector<std::int64_t> run_result::*series) {
  json a = json::array();
  for (double p99 : run_p99s(runs, series))
    a.push_back(rounded(p99, 3));
  return a;
}

void run_engine(const bench_env& env) {
  const auto& o = env.opts();
  struct load_spec {
    std::string name;
    int total;
    int rate;
    int concurrency;
  };
  std::vector<load_spec> loads{
    {"throughput", o.calls, o.rate, o.concurrency},
    {"latency", o.latency_rate * o.latency_s, o.latency_rate, o.latency_rate * 10}};
  std::string peer_name = "esl-lite 3.2.0 (bench/peers/engine_peer.js)";
  for (const auto& load : loads) {
    if (o.loads.find(load.name) == std::string::npos)
      continue;
    std::vector<run_result> ours;
    std::vector<run_result> peers;
    for (int i = 0; i < o.repeat; ++i) {
      ours.push_back(engine_run(env, false, load.name, load.total, load.rate, load.concurrency, i));
      if (o.only_ours)
        continue;
      peers.push_back(engine_run(env, true, load.name, std::min(load.total, o.peer_calls), load.rate,
                                 load.concurrency, i));
    }
    if (o.only_ours)
      continue;
    auto med = [](const std::vector<run_result>& runs, auto f) {
      std::vector<double> v;
      for (const auto& r : runs)
        v.push_back(f(r));
      return median(v);
    };
    auto runs_of = [](const std::vector<run_result>& runs, auto f, int digits) {
      json a = json::array();
      for (const auto& r : runs)
        a.push_back(rounded(f(r), digits));
      return a;
    };
    auto rate_of = [](const run_result& r) { return r.calls_per_s(); };
    auto cpu_of = [](const run_result& r) { return r.cpu_us_per_call(); };
    auto per_cpu_s = [](const run_result& r) { return r.calls_per_cpu_s(); };
    json common{{"load", load.name},
                {"calls", load.total},
                {"peer_calls", std::min(load.total, o.peer_calls)},
                {"offered_rate", load.rate},
                {"concurrency_cap", load.concurrency},
                {"prompt_ms", o.prompt_ms},
                {"scheduler", {{"threads", o.threads}, {"policy", o.policy}}},
                {"repeats", o.repeat}};
    auto completed = [&](const std::vector<run_result>& runs) {
      json a = json::array();
      for (const auto& r : runs)
        a.push_back(std::to_string(r.completed) + "/" + std::to_string(r.placed));
      return a;
    };
    auto emit = [&](json line) {
      for (auto& [k, v] : common.items())
        line[k] = v;
      std::cout << line.dump() << std::endl;
    };
    if (load.name == "throughput") {
      emit({{"bench", "engine"}, {"metric", "calls_per_s"}, {"value", rounded(med(ours, rate_of), 0)},
            {"unit", "1/s"}, {"peer", peer_name},
            {"ratio", rounded(med(ours, rate_of) / med(peers, rate_of), 3)},
            {"peer_value", rounded(med(peers, rate_of), 0)}, {"runs", runs_of(ours, rate_of, 0)},
            {"peer_runs", runs_of(peers, rate_of, 0)}, {"completed", completed(ours)},
            {"peer_completed", completed(peers)}});
    }
    emit({{"bench", "engine"}, {"metric", "cpu_us_per_call"}, {"value", rounded(med(ours, cpu_of), 1)},
          {"unit", "us"}, {"peer", peer_name},
          {"ratio", rounded(med(ours, cpu_of) / med(peers, cpu_of), 3)},
          {"goal", goal_cpu_us_per_call}, {"peer_value", rounded(med(peers, cpu_of), 1)},
          {"runs", runs_of(ours, cpu_of, 1)}, {"peer_runs", runs_of(peers, cpu_of, 1)}});
    emit({{"bench", "engine"}, {"metric", "calls_per_cpu_s"}, {"value", rounded(med(ours, per_cpu_s), 0)},
          {"unit", "1/s"}, {"peer", peer_name},
          {"ratio", rounded(med(ours, per_cpu_s) / med(peers, per_cpu_s), 3)},
          {"goal_ratio", goal_calls_per_cpu_s_ratio}, {"peer_value", rounded(med(peers, per_cpu_s), 0)},
          {"runs", runs_of(ours, per_cpu_s, 0)}, {"peer_runs", runs_of(peers, per_cpu_s, 0)}});
    if (load.name == "latency") {
      // The value is the median of the runs' p99s, as every goal here is a median of repeats
      // (one run disturbed by the shared machine moves it less); "ours" and "peer_latency" hold
      // the percentiles over all repeats' calls together (each run has latency_rate x latency_s).
      std::vector<std::int64_t> ours_cmd, peer_cmd, ours_hup, peer_hup;
      for (const auto& r : ours) {
        ours_cmd.insert(ours_cmd.end(), r.park_to_command_us.begin(), r.park_to_command_us.end());
        ours_hup.insert(ours_hup.end(), r.prompt_end_to_hangup_us.begin(),
                        r.prompt_end_to_hangup_us.end());
      }
      for (const auto& r : peers) {
        peer_cmd.insert(peer_cmd.end(), r.park_to_command_us.begin(), r.park_to_command_us.end());
        peer_hup.insert(peer_hup.end(), r.prompt_end_to_hangup_us.begin(),
                        r.prompt_end_to_hangup_us.end());
      }
      auto ours_p99 = median(run_p99s(ours, &run_result::park_to_command_us));
      auto peer_p99 = median(run_p99s(peers, &run_result::park_to_command_us));
      emit({{"bench", "engine"}, {"metric", "park_to_command_p99_ms"}, {"value", rounded(ours_p99, 3)},
            {"unit", "ms"}, {"peer", peer_name}, {"ratio", rounded(ours_p99 / peer_p99, 3)},
            {"goal", goal_p99_ms}, {"peer_value", rounded(peer_p99, 3)},
            {"ours", latency_json(ours_cmd)}, {"peer_latency", latency_json(peer_cmd)},
            {"measured", "fsemu Event-Date-Timestamp: CHANNEL_PARK -> CHANNEL_EXECUTE of the "
                         "controller's first application (playback)"},
            {"fsemu_park_delivery_to_observer", latency_json(pooled(ours, &run_result::park_delivery_us))},
            {"runs", p99_runs(ours, &run_result::park_to_command_us)},
            {"peer_runs", p99_runs(peers, &run_result::park_to_command_us)},
            {"engine_event_to_command", engine_reaction_json(ours)},
            {"completed", completed(ours)}, {"peer_completed", completed(peers)}});
      auto ours_h99 = median(run_p99s(ours, &run_result::prompt_end_to_hangup_us));
      auto peer_h99 = median(run_p99s(peers, &run_result::prompt_end_to_hangup_us));
      emit({{"bench", "engine"}, {"metric", "prompt_end_to_hangup_p99_ms"},
            {"value", rounded(ours_h99, 3)}, {"unit", "ms"}, {"peer", peer_name},
            {"ratio", rounded(ours_h99 / peer_h99, 3)}, {"goal", goal_p99_ms},
            {"peer_value", rounded(peer_h99, 3)}, {"ours", latency_json(ours_hup)},
            {"peer_latency", latency_json(peer_hup)},
            {"runs", p99_runs(ours, &run_result::prompt_end_to_hangup_us)},
            {"peer_runs", p99_runs(peers, &run_result::prompt_end_to_hangup_us)},
            {"measured", "fsemu Event-Date-Timestamp: CHANNEL_EXECUTE_COMPLETE (playback) -> "
                         "CHANNEL_HANGUP"}});
    }
    for (const auto& r : ours)
      if (r.detail.contains("records_committed"))
        log(load.name + " ours: records committed " + r.detail["records_committed"].dump());
    for (const auto& r : peers)
      if (r.detail.contains("peer_counts"))
        log(load.name + " peer: " + r.detail["peer_counts"].dump());
  }
}

void run_engine_memory(const bench_env& env) {
  const auto& o = env.opts();
  std::string tag = "memory";
  auto esl_port = ts::pick_free_port();
  auto fsemu_config = env.write_fsemu_config(
    tag, esl_port, "5001", o.memory_calls, o.memory_rate, o.memory_calls,
    "[ { wait_prompt_end = 1 }, { expect_hangup = \"15m\" } ]");
  auto fsemu = env.start("fsemu-" + tag, {fs::absolute(o.fsemu).string(), "--config",
                                          fsemu_config.string(), "--run-callers",
                                          "--event-queue-limit", "10000000"});
  if (!wait_for([&] {
        int fd = connect_loopback(esl_port);
        if (fd >= 0)
          ::close(fd);
        return fd >= 0;
      },
                10s))
    throw std::runtime_error("fsemu did not listen");
  auto http_port = ts::pick_free_port();
  auto config = env.write_config(tag, esl_port, http_port, ts::pick_free_port());
  auto callgridd = env.start("controller-" + tag,
                             {fs::absolute(o.callgridd).string(), "--config", config.string()});
  if (!wait_for([&] { return http_get(http_port, "/readyz").rfind("HTTP/1.1 200", 0) == 0; }, 10s,
                50ms))
    throw std::runtime_error("callgridd did not get ready");
  auto rss_base = rss_bytes(callgridd.pid());
  auto fsemu_base = rss_bytes(fsemu.pid());
  log("memory: callgridd RSS at ready " + std::to_string(rss_base / 1024) + " KiB");
  double live = 0;
  double best_live = 0;
  std::int64_t rss_at_best = rss_base;
  auto stalled_since = clock_type::now();
  // Placing N calls at R/s takes N/R seconds; half as long again for a loaded machine.
  auto placing_s = static_cast<std::int64_t>(1.5 * o.memory_calls / o.memory_rate);
  auto deadline = clock_type::now()
                  + std::chrono::seconds(std::max<std::int64_t>(o.timeout_s, placing_s) + 60);
  auto last_log = clock_type::now();
  while (clock_type::now() < deadline && fsemu.running() && callgridd.running()) {
    std::this_thread::sleep_for(500ms);
    auto page = http_get(http_port, "/metrics");
    live = metric(page, "callgrid_live_calls").value_or(0);
    if (live > best_live) {
      best_live = live;
      rss_at_best = rss_bytes(callgridd.pid());
      stalled_since = clock_type::now();
    }
    if (clock_type::now() - last_log > 5s) {
      last_log = clock_type::now();
      log("memory: live calls " + std::to_string(static_cast<long>(live)) + ", callgridd RSS "
          + std::to_string(rss_bytes(callgridd.pid()) / 1024) + " KiB, fsemu RSS "
          + std::to_string(rss_bytes(fsemu.pid()) / 1024) + " KiB");
    }
    if (live >= o.memory_calls || clock_type::now() - stalled_since > 30s)
      break;
  }
  // Settle: the last calls' prompts end and their menus start waiting.
  std::this_thread::sleep_for(3s);
  live = metric(http_get(http_port, "/metrics"), "callgrid_live_calls").value_or(0);
  auto rss_now = rss_bytes(callgridd.pid());
  if (live >= best_live) {
    best_live = live;
    rss_at_best = rss_now;
  }
  auto fsemu_rss = rss_bytes(fsemu.pid());
  auto per_call = static_cast<double>(rss_at_best - rss_base) / best_live;
  json line{{"bench", "engine_memory"},
            {"metric", "rss_bytes_per_live_call"},
            {"value", rounded(per_call, 0)},
            {"unit", "B"},
            {"peer", nullptr},
            {"ratio", nullptr},
            {"goal", goal_rss_bytes_per_call},
            {"live_calls", static_cast<long>(best_live)},
            {"target_calls", o.memory_calls},
            {"callgridd_rss_base_kib", rss_base / 1024},
            {"callgridd_rss_kib", rss_at_best / 1024},
            {"fsemu_rss_base_kib", fsemu_base / 1024},
            {"fsemu_rss_kib", fsemu_rss / 1024},
            {"offered_rate", o.memory_rate},
            {"scheduler", {{"threads", o.threads}, {"policy", o.policy}}}};
  if (best_live < o.memory_calls)
    line["note"] = "fewer live calls than asked for; see the logs in " + o.out.string();
  std::cout << line.dump() << std::endl;
  // With 100k calls up, a graceful stop would write 100k records: stop hard after a short grace.
  callgridd.stop(SIGTERM, 5s);
  fsemu.stop(SIGTERM, 5s);
}

int run(int argc, char** argv) {
  auto o = parse(argc, argv);
  log("nproc: " + std::to_string(std::thread::hardware_concurrency())
      + ", build: " CALLGRID_BENCH_BUILD_TYPE ", callgridd scheduler: threads "
      + std::to_string(o.threads) + ", policy " + o.policy);
  bench_env env{o};
  if (o.mode == "engine")
    run_engine(env);
  else
    run_engine_memory(env);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "engine_bench: " << e.what() << "\n";
    return 1;
  }
}
