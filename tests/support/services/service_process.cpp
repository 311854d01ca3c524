#include "services/service_process.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace callgrid::test_support {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// Bound for the members of a killed process tree to disappear.
constexpr milliseconds reap_timeout{10'000};

/// Step of the polling loops.
constexpr milliseconds poll_step{10};

/// Step of wait_until_ready.
constexpr milliseconds probe_step{50};

/// Steps of the child between fork and exec, reported through the error pipe.
enum class child_step : int {
  setpgid = 1,
  open_stdin,
  open_output,
  redirect,
  setgroups,
  setgid,
  setuid,
  parent_death_signal,
  chdir,
  exec,
};

/// What the child writes to the error pipe when a step before exec fails.
struct child_failure {
  child_step step;
  int error;
};

const char* to_string(child_step step) {
  switch (step) {
    case child_step::setpgid: return "setpgid";
    case child_step::open_stdin: return "open /dev/null";
    case child_step::open_output: return "open the output file";
    case child_step::redirect: return "dup2";
    case child_step::setgroups: return "setgroups";
    case child_step::setgid: return "setgid";
    case child_step::setuid: return "setuid";
    case child_step::parent_death_signal: return "prctl(PR_SET_PDEATHSIG)";
    case child_step::chdir: return "chdir to the working directory";
    case child_step::exec: return "exec";
  }
  return "unknown step";
}

/// Reports a failed step to the parent and ends the child. Async-signal-safe.
[[noreturn]] void fail_child(int error_fd, child_step step) {
  child_failure failure{step, errno};
  auto written = write(error_fd, &failure, sizeof failure);
  static_cast<void>(written);
  _exit(127);
}

std::string errno_text(int error) {
  return std::string{std::strerror(error)} + " (errno " + std::to_string(error) + ")";
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    auto sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

/// The fields of /proc/<pid>/stat this file needs.
struct proc_stat {
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
};

std::optional<proc_stat> read_proc_stat(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return std::nullopt;
  // The command name is in parentheses and may contain anything, so parse after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return std::nullopt;
  std::istringstream rest{line.substr(close + 2)};
  proc_stat result;
  if (!(rest >> result.state >> result.ppid >> result.pgrp))
    return std::nullopt;
  return result;
}

bool is_dead_state(char state) {
  return state == 'Z' || state == 'X' || state == 'x';
}

/// Returns whether `pid` exists and is not a zombie.
bool is_live(pid_t pid) {
  auto stat = read_proc_stat(pid);
  return stat && !is_dead_state(stat->state);
}

/// Returns all processes of the system with their /proc stat fields.
std::vector<std::pair<pid_t, proc_stat>> all_processes() {
  std::vector<std::pair<pid_t, proc_stat>> result;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc", ec}) {
    auto name = entry.path().filename().string();
    pid_t pid = 0;
    auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err != std::errc{} || end != name.data() + name.size())
      continue;
    if (auto stat = read_proc_stat(pid))
      result.emplace_back(pid, *stat);
  }
  return result;
}

bool has_live_group_member(pid_t pgid) {
  auto processes = all_processes();
  return std::any_of(processes.begin(), processes.end(), [pgid](const auto& entry) {
    return entry.second.pgrp == pgid && !is_dead_state(entry.second.state);
  });
}

bool contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

/// Freezes `root` and every descendant (SIGSTOP, so nobody forks or gets reparented while the
/// tree is collected), then kills them all with SIGKILL. Returns the pids that were signalled.
/// `root` must be an unreaped child of this process, so its pid cannot be reused meanwhile.
std::vector<pid_t> kill_tree(pid_t root) {
  std::vector<pid_t> tree{root};
  kill(root, SIGSTOP);
  for (int round = 0; round < 16; ++round) {
    bool grew = false;
    for (const auto& [pid, stat] : all_processes()) {
      if (is_dead_state(stat.state) || contains(tree, pid) || !contains(tree, stat.ppid))
        continue;
      kill(pid, SIGSTOP);
      tree.push_back(pid);
      grew = true;
    }
    if (!grew)
      break;
  }
  for (auto pid : tree)
    kill(pid, SIGKILL);
  return tree;
}

bool needs_quoting(const std::string& word) {
  if (word.empty())
    return true;
  return std::any_of(word.begin(), word.end(), [](char c) {
    auto ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || std::strchr("_-./=:,@%+", c) != nullptr;
    return !ok;
  });
}

std::string format_ms(milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

} // namespace

bool keep_test_services() noexcept {
  const char* value = std::getenv(keep_services_env);
  return value != nullptr && std::strcmp(value, "1") == 0;
}

std::uint16_t pick_free_port() {
  static std::mutex mutex;
  static std::set<std::uint16_t> handed_out;
  std::lock_guard<std::mutex> guard{mutex};
  int last_error = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0)
      throw service_error("callgrid test services: socket() for a free port failed: "
                          + errno_text(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      last_error = errno;
      close(tcp);
      continue;
    }
    auto port = ntohs(addr.sin_port);
    // The same port must be free for UDP too (Kamailio listens on UDP).
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool udp_free = udp >= 0 && bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (!udp_free)
      last_error = errno;
    if (udp >= 0)
      close(udp);
    close(tcp);
    if (udp_free && handed_out.insert(port).second)
      return port;
  }
  throw service_error("callgrid test services: found no port of 127.0.0.1 free for TCP and UDP "
                      "in 200 attempts (last error: "
                      + errno_text(last_error) + ")");
}

std::string tail_file(const std::filesystem::path& path, std::size_t max_lines) noexcept {
  try {
    std::ifstream in{path, std::ios::binary};
    if (!in)
      return "  | (" + path.string() + " does not exist or is unreadable)\n";
    // Only the end of the file matters; logs of a failed start are small anyway.
    constexpr std::streamoff window = 64 * 1024;
    in.seekg(0, std::ios::end);
    auto size = static_cast<std::streamoff>(in.tellg());
    in.seekg(std::max<std::streamoff>(0, size - window));
    std::deque<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
      lines.push_back(std::move(line));
      if (lines.size() > max_lines)
        lines.pop_front();
    }
    if (lines.empty())
      return "  | (" + path.string() + " is empty)\n";
    std::string result;
    for (const auto& text : lines)
      result += "  | " + text + "\n";
    return result;
  } catch (...) {
    return "  | (could not read " + path.string() + ")\n";
  }
}

std::string render_command_line(const std::vector<std::string>& argv) {
  std::string result;
  for (const auto& word : argv) {
    if (!result.empty())
      result += ' ';
    if (!needs_quoting(word)) {
      result += word;
      continue;
    }
    result += '\'';
    for (char c : word) {
      if (c == '\'')
        result += "'\\''";
      else
        result += c;
    }
    result += '\'';
  }
  return result;
}

user_identity lookup_user(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16 * 1024);
  auto rc = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr)
    throw service_error("callgrid test services: system user '" + name + "' not found"
                        + (rc != 0 ? ": " + errno_text(rc) : std::string{}));
  return user_identity{name, entry.pw_uid, entry.pw_gid};
}

temp_dir::temp_dir(const std::string& service_name) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::filesystem::path base = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  auto pattern = (base / ("callgrid-" + service_name + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr)
    throw service_error("callgrid test services: cannot create a directory for " + service_name
                        + " from the pattern " + pattern + ": " + errno_text(errno));
  std::error_code ec;
  path_ = std::filesystem::absolute(buffer.data(), ec);
  if (ec)
    path_ = buffer.data();
}

temp_dir::~temp_dir() {
  if (keep_test_services()) {
    std::fprintf(stderr, "callgrid test services: kept %s (%s=1)\n", path_.c_str(),
                 keep_services_env);
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec)
    std::fprintf(stderr, "callgrid test services: could not remove %s: %s\n", path_.c_str(),
                 ec.message().c_str());
}

void temp_dir::chown_to(const user_identity& user) const {
  if (chown(path_.c_str(), user.uid, user.gid) != 0)
    throw service_error("callgrid test services: cannot hand " + path_.string() + " to user "
                        + user.name + ": " + errno_text(errno));
}

child_process::child_process(const process_spec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty() || spec.argv.front().front() != '/')
    throw service_error("callgrid test services: the command line must start with an absolute "
                        "program path: "
                        + render_command_line(spec.argv));
  // Everything the child needs is prepared here: after fork only async-signal-safe calls are
  // allowed, because the test binary may run other threads.
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const auto& word : spec.argv)
    argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  const std::string output = spec.output_path.empty() ? "/dev/null" : spec.output_path.string();
  const std::string working_dir = spec.working_dir.string();
  const bool switch_user = spec.user.has_value();
  const uid_t uid = switch_user ? spec.user->uid : 0;
  const gid_t gid = switch_user ? spec.user->gid : 0;
  const int death_signal = spec.parent_death_signal;
  const pid_t parent = getpid();

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0)
    throw service_error("callgrid test services: pipe2 failed before starting "
                        + render_command_line(spec.argv) + ": " + errno_text(errno));
  pid_t pid = fork();
  if (pid < 0) {
    auto error = errno;
    close(error_pipe[0]);
    close(error_pipe[1]);
    throw service_error("callgrid test services: fork failed for "
                        + render_command_line(spec.argv) + ": " + errno_text(error));
  }
  if (pid == 0) {
    close(error_pipe[0]);
    int fd = error_pipe[1];
    if (setpgid(0, 0) != 0)
      fail_child(fd, child_step::setpgid);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      sigaction(sig, &default_action, nullptr);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0)
      fail_child(fd, child_step::open_stdin);
    int out = open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0)
      fail_child(fd, child_step::open_output);
    if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0
        || dup2(out, STDERR_FILENO) < 0)
      fail_child(fd, child_step::redirect);
    if (in > STDERR_FILENO)
      close(in);
    if (out > STDERR_FILENO)
      close(out);
    if (switch_user) {
      if (setgroups(1, &gid) != 0)
        fail_child(fd, child_step::setgroups);
      if (setgid(gid) != 0)
        fail_child(fd, child_step::setgid);
      if (setuid(uid) != 0)
        fail_child(fd, child_step::setuid);
    }
    // After the credential change: changing credentials clears the parent-death signal.
    if (prctl(PR_SET_PDEATHSIG, death_signal) != 0)
      fail_child(fd, child_step::parent_death_signal);
    if (getppid() != parent)
      _exit(127);
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0)
      fail_child(fd, child_step::chdir);
    // Sockets and files of the test binary must not leak into the server.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execv(argv[0], argv.data());
    fail_child(fd, child_step::exec);
  }
  close(error_pipe[1]);
  child_failure failure{};
  ssize_t got = 0;
  do {
    got = read(error_pipe[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw service_error("callgrid test services: cannot start "
                        + render_command_line(spec.argv) + ": " + to_string(failure.step)
                        + " failed: " + errno_text(failure.error));
  }
  pid_ = pid;
}

child_process::~child_process() {
  if (pid_ != 0)
    kill_hard();
}

child_process::child_process(child_process&& other) noexcept
  : pid_(std::exchange(other.pid_, 0)),
    exit_description_(std::move(other.exit_description_)),
    exited_successfully_(other.exited_successfully_) {
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    if (pid_ != 0)
      kill_hard();
    pid_ = std::exchange(other.pid_, 0);
    exit_description_ = std::move(other.exit_description_);
    exited_successfully_ = other.exited_successfully_;
  }
  return *this;
}

bool child_process::running() const noexcept {
  if (pid_ == 0)
    return false;
  siginfo_t info{};
  // WNOWAIT leaves the process a zombie: its pid and process group stay reserved until finish().
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  return info.si_pid == 0;
}

std::string child_process::stop(int signal, milliseconds grace) noexcept {
  if (pid_ == 0)
    return exit_description_;
  if (running())
    kill(pid_, signal);
  auto deadline = steady::now() + grace;
  while (running() && steady::now() < deadline)
    std::this_thread::sleep_for(poll_step);
  std::vector<pid_t> killed;
  if (running())
    killed = kill_tree(pid_);
  return finish(killed);
}

std::string child_process::kill_hard() noexcept {
  if (pid_ == 0)
    return exit_description_;
  return finish(kill_tree(pid_));
}

std::string child_process::finish(const std::vector<pid_t>& killed) noexcept {
  // The leader is not reaped yet, so the process group id is still ours: kill what is left in it.
  kill(-pid_, SIGKILL);
  int status = 0;
  pid_t reaped = 0;
  do {
    reaped = waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  exited_successfully_ = reaped == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  exit_description_ = reaped == pid_ ? describe_status(status) : "could not be reaped";
  auto deadline = steady::now() + reap_timeout;
  while (steady::now() < deadline) {
    bool left = std::any_of(killed.begin(), killed.end(), is_live) || has_live_group_member(pid_);
    if (!left)
      break;
    std::this_thread::sleep_for(poll_step);
  }
  pid_ = 0;
  return exit_description_;
}

void run_to_completion(const process_spec& spec, milliseconds timeout, const std::string& what) {
  child_process process{spec};
  auto deadline = steady::now() + timeout;
  while (process.running() && steady::now() < deadline)
    std::this_thread::sleep_for(poll_step);
  if (process.running()) {
    process.kill_hard();
    throw service_error(describe_failure(what + ": did not finish within " + format_ms(timeout),
                                         spec.argv, spec.working_dir, {spec.output_path}));
  }
  auto how = process.stop(SIGKILL, milliseconds{0});
  if (!process.exited_successfully())
    throw service_error(describe_failure(what + ": the command " + how, spec.argv,
                                         spec.working_dir, {spec.output_path}));
}

void wait_until_ready(child_process& process, const process_spec& spec,
                      const std::function<bool()>& probe, milliseconds timeout,
                      const std::string& what,
                      const std::vector<std::filesystem::path>& log_paths) {
  auto deadline = steady::now() + timeout;
  while (true) {
    if (!process.running()) {
      auto pid = process.pid();
      auto how = process.stop(SIGKILL, milliseconds{0});
      throw service_error(describe_failure(what + ": the server (pid " + std::to_string(pid) + ") "
                                             + how + " before it answered",
                                           spec.argv, spec.working_dir, log_paths));
    }
    if (probe())
      return;
    if (steady::now() >= deadline) {
      process.kill_hard();
      throw service_error(describe_failure(what + ": no answer within " + format_ms(timeout)
                                             + " (the server was killed)",
                                           spec.argv, spec.working_dir, log_paths));
    }
    std::this_thread::sleep_for(probe_step);
  }
}

std::string describe_failure(const std::string& what, const std::vector<std::string>& argv,
                             const std::filesystem::path& directory,
                             const std::vector<std::filesystem::path>& log_paths) {
  std::string text = "callgrid test services: " + what;
  if (!argv.empty())
    text += "\n  command: " + render_command_line(argv);
  if (!directory.empty()) {
    text += "\n  directory: " + directory.string();
    text += keep_test_services()
              ? std::string{" (kept)"}
              : std::string{" (removed with the launcher; set "} + keep_services_env
                  + "=1 to keep it)";
  }
  for (const auto& log : log_paths)
    text += "\n  last lines of " + log.string() + ":\n" + tail_file(log);
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

} // namespace callgrid::test_support
