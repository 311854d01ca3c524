// esl_parse_bench: the C++ side of `bench/run esl_parse` (see bench/README.md).
//
//   esl_parse_bench --write-inputs DIR   write answer_plain.bin, hangup_plain.bin,
//                                        answer_json.bin, hangup_json.bin (one frame each)
//   esl_parse_bench [--peers FILE]       measure our parser and print one JSON line per result,
//                                        with ratios to the peer lines in FILE
//
// Every input is one FreeSWITCH event frame taken from the byte-exact captures in
// tests/data/esl-captures by parsing them with `esl::frame_parser` itself. A measurement parses
// a stream of N back-to-back copies of it, in two modes:
//   memory    the stream is copied into the parser's `prepare()` space in 64 KiB reads, as a
//             socket read would; CPU time is the process's (it has one thread).
//   loopback  a writer thread sends the stream over TCP on 127.0.0.1 and this thread `recv()`s
//             it into `prepare()` space; CPU time is the reading thread's only, as the Node
//             peers do not count their server process.
// Each (input, mode) gets an untimed warm-up that also sizes N (about --target-s seconds per
// run), then --repeat timed runs on one long-lived parser; medians are reported.
//
// The global operator new is replaced by a counting one, so that the memory runs also report
// heap allocations per event (the goal is at most one: the frame's own block).
//
// No CAF actors run in this binary (the parser is sans-I/O; loopback uses blocking sockets and
// one std::thread), so the rule that benchmarks pin CAF's scheduler threads does not apply.

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"

// -- heap allocation counting -------------------------------------------------------------------

namespace {

/// Calls of any global `operator new` since start-up (C `malloc` calls are not counted).
std::atomic<std::uint64_t> allocation_count{0};

/// The body of every throwing `operator new`: counts, then `malloc`s.
void* counted_new(std::size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size))
    return p;
  throw std::bad_alloc{};
}

/// The body of every throwing aligned `operator new`: counts, then `aligned_alloc`s.
void* counted_new_aligned(std::size_t size, std::align_val_t align) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  auto alignment = static_cast<std::size_t>(align);
  // aligned_alloc wants a size that is a multiple of the alignment.
  auto rounded = std::max(alignment, (size + alignment - 1) / alignment * alignment);
  if (void* p = std::aligned_alloc(alignment, rounded))
    return p;
  throw std::bad_alloc{};
}

/// Runs `allocate`, turning `std::bad_alloc` into nullptr for the nothrow overloads.
template <class Allocate>
void* nothrow_new(Allocate allocate) noexcept {
  try {
    return allocate();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

} // namespace

void* operator new(std::size_t size) {
  return counted_new(size);
}
void* operator new[](std::size_t size) {
  return counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return nothrow_new([size] { return counted_new(size); });
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return nothrow_new([size] { return counted_new(size); });
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_new_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_new_aligned(size, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return nothrow_new([size, align] { return counted_new_aligned(size, align); });
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return nothrow_new([size, align] { return counted_new_aligned(size, align); });
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace callgrid::bench {
namespace {

using json = nlohmann::ordered_json;

/// Bytes per read, in both modes: what a socket read returns when data is waiting.
constexpr std::size_t chunk_bytes = 64 * 1024;
/// Events of the first, untimed warm-up run of every measurement.
constexpr std::uint64_t warmup_events = 5000;
/// Bounds for the N that the warm-up picks.
constexpr std::uint64_t min_events = 1000;
constexpr std::uint64_t max_events = 50'000'000;
/// The absolute goal: 5 KB plain events per wall second, in memory.
constexpr double goal_events_per_s = 250'000;
/// The goal against esl-lite, per CPU-second.
constexpr double goal_ratio_esl_lite = 10;
/// The goal for heap allocations per event.
constexpr double goal_allocs_per_event = 1;

// -- command line --------------------------------------------------------------------------------

/// How bytes reach the parser.
enum class mode { memory, loopback };

/// The name of `m` as it appears in the JSON lines.
const char* to_string(mode m) noexcept {
  return m == mode::memory ? "memory" : "loopback";
}

/// What the command line asked for.
struct options {
  std::filesystem::path captures = CALLGRID_BENCH_CAPTURES_DIR;
  std::optional<std::filesystem::path> write_inputs;
  std::optional<std::filesystem::path> peers;
  int repeats = 5;
  double target_s = 0.6;
  std::uint64_t events = 0; // 0: sized by the warm-up
  std::optional<std::string> only_input;
  std::optional<mode> only_mode;
};

/// What --help prints.
constexpr std::string_view usage_text =
  "usage: esl_parse_bench [--write-inputs DIR] [--peers FILE] [--captures DIR]\n"
  "                       [--repeat R] [--target-s S] [--events N]\n"
  "                       [--input answer_plain|hangup_plain|answer_json|hangup_json]\n"
  "                       [--mode memory|loopback]\n"
  "\n"
  "  --write-inputs DIR  write the four one-frame input files to DIR; without --peers,\n"
  "                      nothing is measured\n"
  "  --peers FILE        measure and print ratios to the peer result lines in FILE\n"
  "  --captures DIR      where the *.recv.bin captures are (default: the source tree's)\n"
  "  --repeat R          timed runs per measurement, median reported\n"
  "                      (default: $BENCH_REPEAT or 5)\n"
  "  --target-s S        about how long one timed run lasts (default: $BENCH_TARGET_S or 0.6)\n"
  "  --events N          fixed events per run instead of sizing by --target-s\n"
  "  --input NAME, --mode M  measure only this input / mode (e.g. for profiling)\n";

/// Reports a command line problem and exits with status 2.
[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "esl_parse_bench: " << message << "\n" << usage_text;
  std::exit(2);
}

/// Parses a number from an option value, or exits with a usage error.
template <class Number>
Number parse_number(std::string_view option, const std::string& text, Number min) {
  std::istringstream in{text};
  Number value{};
  if (!(in >> value) || !in.eof() || value < min)
    usage_error(std::string{option} + " wants a number >= " + std::to_string(min) + ", got '"
                + text + "'");
  return value;
}

/// Defaults that bench/run's environment variables set for the peers too.
void apply_environment(options& opts) {
  if (const char* repeat = std::getenv("BENCH_REPEAT"); repeat != nullptr && *repeat != '\0')
    opts.repeats = parse_number("BENCH_REPEAT", repeat, 1);
  if (const char* target = std::getenv("BENCH_TARGET_S"); target != nullptr && *target != '\0')
    opts.target_s = parse_number("BENCH_TARGET_S", target, 0.01);
}

/// Parses the command line (after the environment defaults).
options parse_options(int argc, char** argv) {
  options opts;
  apply_environment(opts);
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_text;
      std::exit(0);
    }
    if (i + 1 >= argc)
      usage_error("unknown option or missing value: " + std::string{arg});
    std::string value = argv[++i];
    if (arg == "--write-inputs")
      opts.write_inputs = value;
    else if (arg == "--peers")
      opts.peers = value;
    else if (arg == "--captures")
      opts.captures = value;
    else if (arg == "--repeat")
      opts.repeats = parse_number(arg, value, 1);
    else if (arg == "--target-s")
      opts.target_s = parse_number(arg, value, 0.01);
    else if (arg == "--events")
      opts.events = parse_number<std::uint64_t>(arg, value, 1);
    else if (arg == "--input")
      opts.only_input = value;
    else if (arg == "--mode" && (value == "memory" || value == "loopback"))
      opts.only_mode = value == "memory" ? mode::memory : mode::loopback;
    else
      usage_error("unknown option or bad value: " + std::string{arg} + " " + value);
  }
  return opts;
}

// -- environment ---------------------------------------------------------------------------------

/// The CPU model from /proc/cpuinfo, or "unknown".
std::string cpu_model() {
  std::ifstream cpuinfo{"/proc/cpuinfo"};
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

/// CPUs this process may run on (what `nproc` prints).
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return static_cast<int>(std::thread::hardware_concurrency());
  return CPU_COUNT(&set);
}

/// The compiler that built this binary, e.g. "g++ 12.2.0".
std::string compiler() {
#if defined(__clang__)
  return "clang++ " __clang_version__;
#elif defined(__GNUC__)
  return "g++ " __VERSION__;
#else
  return "unknown compiler";
#endif
}

/// Prints the machine and build description to stderr, before anything is measured.
void print_environment(const options& opts) {
  std::cerr << "esl_parse_bench: cpu: " << cpu_model() << "\n"
            << "esl_parse_bench: nproc: " << usable_cpus() << "\n"
            << "esl_parse_bench: build: " << CALLGRID_BENCH_BUILD_TYPE << ", " << compiler()
#ifndef __OPTIMIZE__
            << " (NOT OPTIMISED: numbers are meaningless)"
#endif
            << "\n"
            << "esl_parse_bench: no CAF actors in this benchmark, so CAF scheduler pinning does "
               "not apply\n"
            << "esl_parse_bench: repeats: " << opts.repeats << ", target per run: "
            << opts.target_s << " s, read size: " << chunk_bytes << " B\n";
}

// -- inputs --------------------------------------------------------------------------------------

/// One of the four inputs: which frame to take from the captures, and its name.
struct input_spec {
  /// File name without ".bin"; also the "input" of the JSON lines.
  std::string_view name;
  esl::content_type type;
  std::string_view event_name;
  /// Only frames from this capture ("" for any): both JSON events come from the one call of
  /// 05_json_events_ALL (09 has a slightly larger JSON hangup of another call).
  std::string_view capture;
};

constexpr std::array<input_spec, 4> input_specs{{
  {"answer_plain", esl::content_type::event_plain, "CHANNEL_ANSWER", ""},
  {"hangup_plain", esl::content_type::event_plain, "CHANNEL_HANGUP_COMPLETE", ""},
  {"answer_json", esl::content_type::event_json, "CHANNEL_ANSWER", "05_json_events_ALL.recv.bin"},
  {"hangup_json", esl::content_type::event_json, "CHANNEL_HANGUP_COMPLETE",
   "05_json_events_ALL.recv.bin"},
}};

/// An input frame as found in the captures.
struct input {
  input_spec spec;
  /// The exact wire bytes of one frame: outer header block, blank line, body.
  std::string wire;
  /// Where it came from ("<capture> at byte <offset>"), for the log.
  std::string origin;
};

/// The whole content of the file at `path`.
std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw std::runtime_error("cannot open " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::move(bytes).str();
}

/// Replaces the file at `path` with `bytes`.
void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush())
    throw std::runtime_error("cannot write " + path.string());
}

/// The capture streams FreeSWITCH sent (`*.recv.bin`) in `dir`, sorted by name.
std::vector<std::filesystem::path> capture_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator{dir}) {
    auto name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > 9
        && name.compare(name.size() - 9, 9, ".recv.bin") == 0)
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty())
    throw std::runtime_error("no *.recv.bin captures in " + dir.string());
  return files;
}

/// Calls `visit(frame, wire_bytes, offset)` for each frame of the capture at `path`, in order.
/// The wire bytes are cut from the stream by the parser's offsets. Stops at the end of the
/// stream or at a parse error (logged: some captures end inside a frame).
template <class Visit>
void for_each_frame(const std::filesystem::path& path, Visit&& visit) {
  auto bytes = read_file(path);
  esl::frame_parser parser;
  parser.feed(bytes);
  esl::frame frame;
  for (;;) {
    auto got = parser.next(frame);
    if (!got) {
      std::cerr << "esl_parse_bench: " << path.filename().string()
                << ": stops at: " << esl::render_error(got.error()) << "\n";
      return;
    }
    if (!*got)
      return;
    // consumed_bytes() also counts blank lines skipped before the frame; the frame ends there.
    auto offset = parser.consumed_bytes() - frame.wire_size();
    auto wire = std::string_view{bytes}.substr(offset, frame.wire_size());
    if (!wire.ends_with(frame.body()))
      throw std::logic_error("frame offsets do not match the body in " + path.string());
    visit(frame, wire, offset);
  }
}

/// Whether `frame`, from the capture file `capture`, is a usable candidate for `spec`: right
/// capture, format and event, with a Unique-ID and at least 10 fields (what the peers check on
/// the events they deliver).
bool fits(const input_spec& spec, std::string_view capture, const esl::frame& frame) {
  return (spec.capture.empty() || spec.capture == capture) && frame.type() == spec.type && frame.event_name() == spec.event_name
         && !frame.unique_id().empty() && frame.event_fields().size() >= 10;
}

/// The four input frames: for each, the largest matching frame in the captures.
std::vector<input> extract_inputs(const std::filesystem::path& captures) {
  std::vector<input> inputs;
  for (const auto& spec : input_specs)
    inputs.push_back(input{spec, {}, {}});
  for (const auto& path : capture_files(captures)) {
    auto capture = path.filename().string();
    for_each_frame(path, [&](const esl::frame& frame, std::string_view wire, std::uint64_t at) {
      for (auto& in : inputs) {
        if (fits(in.spec, capture, frame) && wire.size() > in.wire.size()) {
          in.wire = wire;
          in.origin = capture + " at byte " + std::to_string(at);
        }
      }
    });
  }
  for (const auto& in : inputs) {
    if (in.wire.empty())
      throw std::runtime_error("no " + std::string{in.spec.event_name} + " "
                               + esl::to_string(in.spec.type) + " frame in the captures in "
                               + captures.string());
    std::cerr << "esl_parse_bench: " << in.spec.name << ": " << in.wire.size()
              << " bytes, from " << in.origin << "\n";
  }
  return inputs;
}

/// Writes each input to DIR/<name>.bin.
void write_inputs(const std::vector<input>& inputs, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& in : inputs) {
    auto path = dir / (std::string{in.spec.name} + ".bin");
    write_file(path, in.wire);
    std::cerr << "esl_parse_bench: wrote " << path.string() << "\n";
  }
}

// -- the parsed stream ---------------------------------------------------------------------------

/// The endless stream of back-to-back copies of one frame. Any window of up to `max_window`
/// bytes is one contiguous piece of a small ring, so no N-copy buffer is ever built.
class frame_stream {
public:
  frame_stream(std::string_view frame, std::size_t max_window) : frame_size_(frame.size()) {
    auto copies = max_window / frame.size() + 2;
    ring_.reserve(copies * frame.size());
    for (std::size_t i = 0; i < copies; ++i)
      ring_.append(frame);
  }

  /// Size of one frame.
  [[nodiscard]] std::size_t frame_size() const noexcept { return frame_size_; }

  /// The `size` bytes (at most `max_window`) of the stream starting at `offset`.
  [[nodiscard]] std::string_view window(std::uint64_t offset, std::size_t size) const noexcept {
    return {ring_.data() + offset % frame_size_, size};
  }

private:
  std::string ring_;
  std::size_t frame_size_;
};

/// What the "application" does with every event: reads its name and Unique-ID, checks them
/// and counts. The counts are checked after each run, so none of it can be optimised away.
class event_tally {
public:
  explicit event_tally(std::string_view expected_name) : expected_name_(expected_name) {
  }

  /// Handles one parsed frame.
  void take(const esl::frame& frame) noexcept {
    ++events_;
    if (frame.event_name() == expected_name_ && !frame.unique_id().empty())
      ++matching_;
  }

  /// Frames seen.
  [[nodiscard]] std::uint64_t events() const noexcept { return events_; }

  /// Throws unless exactly `want` frames arrived and all were the expected event.
  void check(std::uint64_t want) const {
    if (events_ != want || matching_ != want)
      throw std::runtime_error("parsed " + std::to_string(events_) + " frames, "
                               + std::to_string(matching_) + " of them "
                               + std::string{expected_name_} + " with a Unique-ID; want "
                               + std::to_string(want));
  }

private:
  std::string_view expected_name_;
  std::uint64_t events_ = 0;
  std::uint64_t matching_ = 0;
};

/// Pulls every complete frame out of `parser` into `tally`, reusing `slot` as an application
/// would reuse its frame variable. Throws on a parse error.
void drain(esl::frame_parser& parser, esl::frame& slot, event_tally& tally) {
  for (;;) {
    auto got = parser.next(slot);
    if (!got)
      throw std::runtime_error("parse error: " + esl::render_error(got.error()));
    if (!*got)
      return;
    tally.take(slot);
  }
}

// -- timing --------------------------------------------------------------------------------------

/// Seconds on `clock` (a CPU-time clock such as CLOCK_THREAD_CPUTIME_ID).
double clock_seconds(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

/// What one timed run cost.
struct run_result {
  double cpu_s = 0;
  double wall_s = 0;
  std::uint64_t allocations = 0;
};

/// A stopwatch for one run: wall time, CPU time on one clock, and `operator new` calls.
class run_timer {
public:
  explicit run_timer(clockid_t cpu_clock)
    : cpu_clock_(cpu_clock),
      allocations_(allocation_count.load(std::memory_order_relaxed)),
      cpu_(clock_seconds(cpu_clock)),
      wall_(std::chrono::steady_clock::now()) {
  }

  /// The cost since construction.
  [[nodiscard]] run_result stop() const {
    run_result result;
    result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
    result.cpu_s = clock_seconds(cpu_clock_) - cpu_;
    result.allocations = allocation_count.load(std::memory_order_relaxed) - allocations_;
    return result;
  }

private:
  clockid_t cpu_clock_;
  std::uint64_t allocations_;
  double cpu_;
  std::chrono::steady_clock::time_point wall_;
};

// -- memory mode ---------------------------------------------------------------------------------

/// Parses `events` frames of `stream`, copied into the parser's own buffer in 64 KiB reads.
run_result run_memory(const frame_stream& stream, std::uint64_t events,
                      esl::frame_parser& parser, esl::frame& slot, event_tally& tally) {
  const std::uint64_t total = events * stream.frame_size();
  run_timer timer{CLOCK_PROCESS_CPUTIME_ID};
  for (std::uint64_t offset = 0; offset < total;) {
    auto size = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, total - offset));
    auto space = parser.prepare(size);
    std::memcpy(space.data(), stream.window(offset, size).data(), size);
    parser.commit(size);
    offset += size;
    drain(parser, slot, tally);
  }
  return timer.stop();
}

// -- loopback mode -------------------------------------------------------------------------------

/// Throws the current `errno` as a `std::system_error` about `what`.
[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Owns a socket descriptor.
class socket_fd {
public:
  socket_fd() = default;
  explicit socket_fd(int fd) : fd_(fd) {
    if (fd_ < 0)
      throw_errno("socket");
  }
  socket_fd(socket_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {
  }
  socket_fd& operator=(socket_fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  ~socket_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  /// The descriptor.
  [[nodiscard]] int get() const noexcept { return fd_; }

private:
  int fd_ = -1;
};

/// 127.0.0.1:`port` as a socket address.
sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

/// A connected pair of TCP sockets on 127.0.0.1: {client side, server side}.
std::pair<socket_fd, socket_fd> loopback_pair() {
  socket_fd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  auto address = loopback_address(0);
  socklen_t length = sizeof address;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
      || ::listen(listener.get(), 1) != 0
      || ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw_errno("listen on 127.0.0.1");
  socket_fd client{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  // The listen backlog completes the handshake, so connecting before accepting cannot block.
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw_errno("connect to 127.0.0.1");
  socket_fd server{::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)};
  int one = 1;
  ::setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // as the peers' server
  return {std::move(client), std::move(server)};
}

/// Sends all of `bytes`; throws if the reader went away.
void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("send");
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

/// The writer thread: waits for the reader's one-byte request, then sends `total` bytes of
/// `stream` in 64 KiB writes and closes its side.
void serve_stream(socket_fd server, const frame_stream& stream, std::uint64_t total) {
  char request = 0;
  ssize_t got = 0;
  do
    got = ::recv(server.get(), &request, 1, 0);
  while (got < 0 && errno == EINTR);
  if (got <= 0)
    return; // the reader gave up before asking
  for (std::uint64_t offset = 0; offset < total;) {
    auto size = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, total - offset));
    send_all(server.get(), stream.window(offset, size));
    offset += size;
  }
  ::shutdown(server.get(), SHUT_WR);
}

/// Receives into the parser's `prepare()` space (at most 64 KiB per read, as Node reads) and
/// parses until `events` frames have arrived. Throws if the stream ends early.
void receive_events(int fd, std::uint64_t events, esl::frame_parser& parser, esl::frame& slot,
                    event_tally& tally) {
  while (tally.events() < events) {
    auto space = parser.prepare(chunk_bytes);
    auto got = ::recv(fd, space.data(), std::min(space.size(), chunk_bytes), 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      throw_errno("recv");
    }
    if (got == 0)
      throw std::runtime_error("loopback stream ended after " + std::to_string(tally.events())
                               + " of " + std::to_string(events) + " events");
    parser.commit(static_cast<std::size_t>(got));
    drain(parser, slot, tally);
  }
}

/// Parses `events` frames of `stream` sent by a writer thread over TCP on 127.0.0.1. CPU time
/// is this (reading) thread's; the clocks start just before the stream is requested.
run_result run_loopback(const frame_stream& stream, std::uint64_t events,
                        esl::frame_parser& parser, esl::frame& slot, event_tally& tally) {
  std::exception_ptr writer_error;
  auto serve = [&stream, &writer_error, total = events * stream.frame_size()](socket_fd fd) {
    try {
      serve_stream(std::move(fd), stream, total);
    } catch (...) {
      writer_error = std::current_exception();
    }
  };
  // Declared before the client socket: if reading fails, the socket closes first (waking a
  // writer blocked in send), then the thread is joined.
  std::jthread writer;
  auto [client, server] = loopback_pair();
  writer = std::jthread{serve, std::move(server)};
  run_timer timer{CLOCK_THREAD_CPUTIME_ID};
  send_all(client.get(), "s");
  receive_events(client.get(), events, parser, slot, tally);
  auto result = timer.stop();
  writer.join();
  if (writer_error)
    std::rethrow_exception(writer_error);
  return result;
}

// -- measurements --------------------------------------------------------------------------------

/// The medians of one (input, mode) measurement.
struct measurement {
  const input* in = nullptr;
  mode how = mode::memory;
  std::uint64_t events = 0;
  int repeats = 0;
  double cpu_s = 0;
  double wall_s = 0;
  double allocs_per_event = 0;

  /// Events per wall-clock second.
  [[nodiscard]] double events_per_s() const { return static_cast<double>(events) / wall_s; }
  /// Events per CPU-second (process in memory mode, reading thread in loopback mode).
  [[nodiscard]] double events_per_cpu_s() const { return static_cast<double>(events) / cpu_s; }
  /// Megabytes (1e6 bytes) of frames per wall-clock second.
  [[nodiscard]] double mb_per_s() const {
    return events_per_s() * static_cast<double>(in->wire.size()) / 1e6;
  }
};

/// The median of `values` (not empty).
double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  auto mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// Runs (input, mode) measurements on one long-lived parser, as one connection would.
class measurer {
public:
  measurer(const input& in, mode how) : in_(in), how_(how), stream_(in.wire, chunk_bytes) {
  }

  /// One run of `events` frames, checked.
  run_result run(std::uint64_t events) {
    parser_.reset();
    event_tally tally{in_.spec.event_name};
    auto result = how_ == mode::memory ? run_memory(stream_, events, parser_, slot_, tally)
                                       : run_loopback(stream_, events, parser_, slot_, tally);
    tally.check(events);
    return result;
  }

  /// Untimed warm-up; returns N so that one run lasts about `target_s` (or `fixed` if set).
  std::uint64_t warm_up(double target_s, std::uint64_t fixed) {
    auto first = run(fixed != 0 ? std::min(fixed, warmup_events) : warmup_events);
    if (fixed != 0)
      return fixed;
    // The first run is cold; a second one, half a run long, gives the steady rate.
    auto rate = static_cast<double>(warmup_events) / first.wall_s;
    auto second_events = std::max<std::uint64_t>(min_events, std::llround(rate * target_s / 2));
    auto second = run(second_events);
    rate = static_cast<double>(second_events) / second.wall_s;
    return std::clamp<std::uint64_t>(std::llround(rate * target_s), min_events, max_events);
  }

private:
  const input& in_;
  mode how_;
  frame_stream stream_;
  esl::frame_parser parser_;
  esl::frame slot_;
};

/// Measures one (input, mode): warm-up, then `opts.repeats` timed runs; medians.
measurement measure(const input& in, mode how, const options& opts) {
  measurer runner{in, how};
  measurement m;
  m.in = &in;
  m.how = how;
  m.repeats = opts.repeats;
  m.events = runner.warm_up(opts.target_s, opts.events);
  std::vector<double> cpu;
  std::vector<double> wall;
  std::vector<double> allocs;
  for (int i = 0; i < opts.repeats; ++i) {
    auto r = runner.run(m.events);
    cpu.push_back(r.cpu_s);
    wall.push_back(r.wall_s);
    allocs.push_back(static_cast<double>(r.allocations) / static_cast<double>(m.events));
    std::cerr << "esl_parse_bench:   " << in.spec.name << " " << to_string(how) << " run "
              << i + 1 << ": " << m.events << " events, "
              << std::llround(static_cast<double>(m.events) / r.cpu_s) << " events/cpu-s, "
              << std::llround(static_cast<double>(m.events) / r.wall_s) << " events/s, "
              << allocs.back() << " allocs/event\n";
  }
  m.cpu_s = median(cpu);
  m.wall_s = median(wall);
  m.allocs_per_event = median(allocs);
  return m;
}

// -- peers ---------------------------------------------------------------------------------------

/// Peer result lines (as esl_parse_peer.js prints them) by library, input and mode.
class peer_table {
public:
  /// Reads FILE: one JSON object per line; unreadable lines are reported and skipped.
  explicit peer_table(const std::filesystem::path& path) {
    std::istringstream lines{read_file(path)};
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      auto peer = nlohmann::json::parse(line, nullptr, false);
      auto is_text = [&peer](const char* key) {
        return peer.contains(key) && peer[key].is_string();
      };
      if (peer.is_discarded() || !peer.is_object() || !is_text("lib") || !is_text("input")
          || !is_text("mode")) {
        std::cerr << "esl_parse_bench: ignoring peer line: " << line << "\n";
        continue;
      }
      add(std::move(peer));
    }
  }

  /// The libraries, in the order they first appear.
  [[nodiscard]] const std::vector<std::string>& libs() const noexcept { return libs_; }

  /// The line of `lib` for `input` (e.g. "answer_plain") and `how`, if any.
  [[nodiscard]] const nlohmann::json* find(const std::string& lib, std::string_view input,
                                           mode how) const {
    auto it = lines_.find({lib, std::string{input}, to_string(how)});
    return it == lines_.end() ? nullptr : &it->second;
  }

private:
  /// Files the line under its key; the input's ".bin" and any directory are dropped.
  void add(nlohmann::json peer) {
    auto lib = peer["lib"].get<std::string>();
    auto input = std::filesystem::path{peer["input"].get<std::string>()}.stem().string();
    auto how = peer["mode"].get<std::string>();
    if (std::find(libs_.begin(), libs_.end(), lib) == libs_.end())
      libs_.push_back(lib);
    lines_[{lib, input, how}] = std::move(peer);
  }

  std::vector<std::string> libs_;
  std::map<std::tuple<std::string, std::string, std::string>, nlohmann::json> lines_;
};

// -- output --------------------------------------------------------------------------------------

/// `value` rounded to `digits` decimals, as a JSON number (an integer when it is one, so that
/// 250000 does not print as 250000.0).
json rounded(double value, int digits) {
  auto scale = std::pow(10.0, digits);
  auto result = std::round(value * scale) / scale;
  if (std::isfinite(result) && result == std::trunc(result) && std::fabs(result) < 1e15)
    return static_cast<std::int64_t>(result);
  return result;
}

/// Our line for `metric`, without a peer; the fields after "ratio" describe the measurement.
json result_line(const measurement& m, std::string_view metric, double value,
                 std::string_view unit, int digits) {
  return json{{"bench", "esl_parse"},
              {"metric", metric},
              {"value", rounded(value, digits)},
              {"unit", unit},
              {"peer", nullptr},
              {"ratio", nullptr},
              {"input", m.in->spec.name},
              {"mode", to_string(m.how)},
              {"frame_bytes", m.in->wire.size()},
              {"events", m.events},
              {"repeats", m.repeats}};
}

/// Our `metric` line compared with the same metric of `peer` (a peer result line of `lib`).
json peer_line(const measurement& m, std::string_view metric, double ours,
               std::string_view unit, const std::string& lib, const nlohmann::json& peer) {
  auto line = result_line(m, metric, ours, unit, 0);
  line["peer"] = lib;
  if (peer.contains("error")) {
    line["peer_error"] = peer["error"].is_string() ? peer["error"].get<std::string>()
                                                   : peer["error"].dump();
    return line;
  }
  auto value = peer.find(metric);
  if (value == peer.end() || !value->is_number() || value->get<double>() <= 0) {
    line["peer_error"] = "the peer line has no positive number " + std::string{metric};
    return line;
  }
  line["ratio"] = rounded(ours / value->get<double>(), 3);
  line["peer_value"] = *value;
  if (peer.contains("note"))
    line["peer_note"] = peer["note"];
  if (peer.contains("discarded_runs"))
    line["peer_discarded_runs"] = peer["discarded_runs"];
  auto bytes = peer.find("frame_bytes");
  if (bytes != peer.end() && *bytes != m.in->wire.size())
    line["peer_frame_bytes"] = *bytes; // the peer parsed other bytes: not like for like
  return line;
}

/// Our line for `metric` compared with an absolute goal (ratio = value / goal).
json goal_line(const measurement& m, std::string_view metric, double value,
               std::string_view unit, int digits, double goal) {
  auto line = result_line(m, metric, value, unit, digits);
  line["peer"] = "goal";
  line["ratio"] = rounded(value / goal, 3);
  line["goal"] = rounded(goal, 3);
  return line;
}

/// All result lines of one measurement, in print order.
std::vector<json> result_lines(const measurement& m, const peer_table* peers) {
  // Rates are whole numbers, and ratios are computed from the numbers as printed.
  auto per_s = std::round(m.events_per_s());
  auto per_cpu_s = std::round(m.events_per_cpu_s());
  std::vector<json> lines{
    result_line(m, "events_per_s", per_s, "1/s", 0),
    result_line(m, "events_per_cpu_s", per_cpu_s, "1/s", 0),
    result_line(m, "mb_per_s", m.mb_per_s(), "MB/s", 2),
  };
  if (peers != nullptr) {
    for (const auto& lib : peers->libs()) {
      const auto* peer = peers->find(lib, m.in->spec.name, m.how);
      if (peer == nullptr)
        continue;
      lines.push_back(peer_line(m, "events_per_cpu_s", per_cpu_s, "1/s", lib, *peer));
      if (lib == "esl-lite")
        lines.back()["goal_ratio"] = rounded(goal_ratio_esl_lite, 3);
      lines.push_back(peer_line(m, "events_per_s", per_s, "1/s", lib, *peer));
    }
  }
  if (m.how == mode::memory) {
    if (m.in->spec.type == esl::content_type::event_plain)
      lines.push_back(goal_line(m, "events_per_s", per_s, "1/s", 0, goal_events_per_s));
    lines.push_back(goal_line(m, "allocs_per_event", m.allocs_per_event, "1", 6,
                              goal_allocs_per_event));
  }
  return lines;
}

/// Measures every selected (input, mode) and prints its lines on stdout as it finishes.
void run_benchmarks(const std::vector<input>& inputs, const options& opts) {
  std::optional<peer_table> peers;
  if (opts.peers)
    peers.emplace(*opts.peers);
  for (const auto& in : inputs) {
    if (opts.only_input && *opts.only_input != in.spec.name)
      continue;
    for (auto how : {mode::memory, mode::loopback}) {
      if (opts.only_mode && *opts.only_mode != how)
        continue;
      std::cerr << "esl_parse_bench: measuring " << in.spec.name << " " << to_string(how)
                << "\n";
      auto m = measure(in, how, opts);
      for (const auto& line : result_lines(m, peers ? &*peers : nullptr))
        std::cout << line.dump() << "\n";
      std::cout.flush();
    }
  }
}

/// The program; returns the exit status.
int run(int argc, char** argv) {
  auto opts = parse_options(argc, argv);
  if (opts.only_input
      && std::none_of(input_specs.begin(), input_specs.end(),
                      [&](const input_spec& spec) { return spec.name == *opts.only_input; }))
    usage_error("unknown input: " + *opts.only_input);
  print_environment(opts);
  auto inputs = extract_inputs(opts.captures);
  if (opts.write_inputs) {
    write_inputs(inputs, *opts.write_inputs);
    if (!opts.peers)
      return 0;
  }
  run_benchmarks(inputs, opts);
  return 0;
}

} // namespace
} // namespace callgrid::bench

int main(int argc, char** argv) {
  try {
    return callgrid::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "esl_parse_bench: " << e.what() << "\n";
    return 1;
  }
}
