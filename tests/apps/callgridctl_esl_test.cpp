// Black-box tests of `callgridctl esl`: each test runs the real binary as a subprocess against a
// fake FreeSWITCH on loopback that replays byte-exact frames from the ESL captures.
#define CAF_SUITE apps.callgridctl_esl
#include <caf/test/unit_test_impl.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "capture_transcript.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using callgrid::test_support::capture;
using callgrid::test_support::load_capture;
using clock_type = std::chrono::steady_clock;

constexpr const char* password_variable = "CALLGRID_ESL_PASSWORD";

// ---------------------------------------------------------------------------------------------
// Capture helpers

/// The frame FreeSWITCH sent right after the client sent `command` (exact bytes).
std::string answer_to(const capture& recorded, std::string_view command) {
  const auto& entries = recorded.entries;
  for (std::size_t i = 0; i + 1 < entries.size(); ++i)
    if (!entries[i].from_freeswitch && entries[i].bytes == command
        && entries[i + 1].from_freeswitch)
      return entries[i + 1].bytes;
  throw std::runtime_error("no answer to '" + std::string{command} + "' in " + recorded.name);
}

/// The `nth` event frame called `name` that FreeSWITCH sent.
std::string event_frame(const capture& recorded, std::string_view name, std::size_t nth = 0) {
  auto marker = "\n\nEvent-Name: " + std::string{name} + "\n";
  for (const auto& frame : recorded.received_frames())
    if (frame.find(marker) != std::string::npos && nth-- == 0)
      return frame;
  throw std::runtime_error("no " + std::string{name} + " event in " + recorded.name);
}

/// The first frame FreeSWITCH sent whose bytes contain `text`.
std::string frame_with(const capture& recorded, std::string_view text) {
  for (const auto& frame : recorded.received_frames())
    if (frame.find(text) != std::string::npos)
      return frame;
  throw std::runtime_error("no frame with '" + std::string{text} + "' in " + recorded.name);
}

/// The body of a frame: everything after its header block.
std::string body_of(const std::string& frame) {
  return frame.substr(frame.find("\n\n") + 2);
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

const std::string auth_request = "Content-Type: auth/request\n\n";

// ---------------------------------------------------------------------------------------------
// The fake FreeSWITCH

/// The accepted connection of a `fake_freeswitch`, as its script sees it. Every read has a
/// deadline, so a broken client makes a test fail instead of hang.
class fake_link {
public:
  fake_link(int fd, std::vector<std::string>& problems) : fd_(fd), problems_(problems) {
  }

  /// Sends `bytes` (MSG_NOSIGNAL: a client that already left must not kill the test).
  void send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        problems_.push_back("send failed: " + std::string{std::strerror(errno)});
        return;
      }
      sent += static_cast<std::size_t>(n);
    }
  }

  /// Reads one command frame (through its blank line); "" on EOF or after `deadline`.
  std::string read_command(std::chrono::milliseconds deadline = 5s) {
    auto until = clock_type::now() + deadline;
    for (;;) {
      if (auto end = buffer_.find("\n\n"); end != std::string::npos) {
        auto command = buffer_.substr(0, end + 2);
        buffer_.erase(0, end + 2);
        return command;
      }
      if (!read_some(until))
        return {};
    }
  }

  /// Reads one command and records a problem unless it is exactly `wire`.
  void expect(const std::string& wire) {
    auto got = read_command();
    if (got != wire)
      problems_.push_back("expected '" + wire + "', got '" + got + "'");
  }

  /// Waits until the client closes the connection; a problem if it has not after `deadline`.
  void await_close(std::chrono::milliseconds deadline = 10s) {
    auto until = clock_type::now() + deadline;
    while (read_some(until))
      buffer_.clear();
    if (clock_type::now() >= until)
      problems_.push_back("the client did not close the connection");
  }

  /// Closes the connection from this side.
  void close() {
    ::shutdown(fd_, SHUT_RDWR);
  }

private:
  /// Appends what one read returns; false on EOF, error or deadline.
  bool read_some(clock_type::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
    if (left <= 0ms)
      return false;
    pollfd wait{fd_, POLLIN, 0};
    if (::poll(&wait, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char chunk[4096];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::vector<std::string>& problems_;
  std::string buffer_;
};

/// A loopback TCP server playing FreeSWITCH's inbound event socket: listens on 127.0.0.1 at a
/// free port and runs `script` on the first connection it accepts, in its own thread.
class fake_freeswitch {
public:
  using script = std::function<void(fake_link&)>;

  explicit fake_freeswitch(script run) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
        || ::listen(listener_, 4) != 0
        || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("fake FreeSWITCH cannot listen: "
                               + std::string{std::strerror(errno)});
    port_ = ntohs(address.sin_port);
    thread_ = std::thread{[this, run = std::move(run)] { serve(run); }};
  }

  ~fake_freeswitch() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    ::close(listener_);
  }

  fake_freeswitch(const fake_freeswitch&) = delete;
  fake_freeswitch& operator=(const fake_freeswitch&) = delete;

  [[nodiscard]] std::string port() const {
    return std::to_string(port_);
  }

  /// Waits for the script to end and returns what went wrong (empty when all went to plan).
  [[nodiscard]] std::vector<std::string> problems() {
    if (thread_.joinable())
      thread_.join();
    return problems_;
  }

  /// Whether anyone connected.
  [[nodiscard]] bool accepted() const {
    return accepted_;
  }

private:
  void serve(const script& run) {
    while (!stop_) {
      pollfd wait{listener_, POLLIN, 0};
      if (::poll(&wait, 1, 50) <= 0)
        continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      accepted_ = true;
      fake_link link{fd, problems_};
      run(link);
      ::close(fd);
      return;
    }
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepted_{false};
  std::vector<std::string> problems_;
  std::thread thread_;
};

/// The usual start of a session: auth/request, the expected password, +OK accepted.
void accept_login(fake_link& link, const std::string& password) {
  static const auto login = load_capture("02_api_responses");
  link.send(auth_request);
  link.expect("auth " + password + "\n\n");
  link.send(answer_to(login, "auth ClueCon\n\n"));
}

/// A port on which nothing listens (bound once, then closed).
std::string closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return std::to_string(ntohs(address.sin_port));
}

// ---------------------------------------------------------------------------------------------
// Running callgridctl

/// What a run of callgridctl did.
struct process_result {
  /// The exit status, or 128 + the signal that killed it (-1: killed at the deadline).
  int exit_code = -1;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

/// How to run callgridctl.
struct run_options {
  /// The value of CALLGRID_ESL_PASSWORD in its environment (unset when empty).
  std::string password_variable_value;
  /// Send SIGINT once stdout contains this text (nothing when empty).
  std::string interrupt_when_output_has;
  /// Kill it after this long.
  std::chrono::milliseconds deadline{20'000};
};

/// Runs the callgridctl binary with `args` and collects its output and exit code.
process_result run_callgridctl(const std::vector<std::string>& args,
                               const run_options& options = {}) {
  // Everything the child needs is built before fork: after it, only exec-safe calls.
  std::vector<std::string> argv_text{CALLGRIDCTL_PATH};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  auto prefix = std::string{password_variable} + "=";
  for (char** entry = environ; *entry != nullptr; ++entry)
    if (!std::string_view{*entry}.starts_with(prefix))
      env_text.emplace_back(*entry);
  if (!options.password_variable_value.empty())
    env_text.push_back(prefix + options.password_variable_value);
  std::vector<char*> envp;
  for (auto& entry : env_text)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  auto started = clock_type::now();
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  process_result result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_pipes = 2;
  bool interrupted = false;
  bool killed = false;
  while (open_pipes > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      started + options.deadline - clock_type::now());
    if (left <= 0ms) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      char chunk[4096];
      auto n = ::read(fds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        sinks[i]->append(chunk, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
    if (!interrupted && !options.interrupt_when_output_has.empty()
        && result.out.find(options.interrupt_when_output_has) != std::string::npos) {
      ::kill(pid, SIGINT);
      interrupted = true;
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0)
      ::close(fd.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                                         - started);
  if (killed)
    result.exit_code = -1;
  else if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

/// The lines of the human event form that start an event (not indented, not blank).
std::vector<std::string> event_title_lines(const std::string& out) {
  std::vector<std::string> titles;
  std::istringstream lines{out};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.front() != ' ')
      titles.push_back(line);
  return titles;
}

/// The distinct field names of a text/event-plain frame, read naively from its body.
std::set<std::string> plain_field_names(const std::string& frame) {
  std::set<std::string> names;
  std::istringstream lines{body_of(frame)};
  for (std::string line; std::getline(lines, line) && !line.empty();)
    names.insert(line.substr(0, line.find(':')));
  return names;
}

const std::vector<std::string> no_problems;

} // namespace

CAF_TEST(api status prints the captured status body exactly) {
  auto recorded = load_capture("02_api_responses");
  auto status = answer_to(recorded, "api status\n\n");
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    link.expect("api status\n\n");
    link.send(status);
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "-x",
                                 "api status"});
  CAF_CHECK_EQUAL(result.exit_code, 0);
  CAF_CHECK_EQUAL(result.out, body_of(status));
  CAF_CHECK_EQUAL(result.err, "");
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(a bare API command means api and several commands run in order) {
  auto recorded = load_capture("02_api_responses");
  auto status = answer_to(recorded, "api status\n\n");
  auto version = answer_to(recorded, "api version\n\n");
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "from-env");
    link.expect("api status\n\n");
    link.send(status);
    link.expect("api version\n\n");
    link.send(version);
    link.await_close();
  }};
  run_options options;
  options.password_variable_value = "from-env";
  auto result = run_callgridctl({"esl", "--port", freeswitch.port(), "-x", "status", "-x",
                                 "api version"},
                                options);
  CAF_CHECK_EQUAL(result.exit_code, 0);
  CAF_CHECK_EQUAL(result.out, body_of(status) + body_of(version));
  CAF_CHECK_EQUAL(result.err, "");
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(a rejected password exits 1 and says where the password is configured) {
  auto recorded = load_capture("01b_auth_handshake_bad_password");
  auto frames = recorded.received_frames();
  CAF_REQUIRE_EQUAL(frames.size(), 3u);
  fake_freeswitch freeswitch{[&](fake_link& link) {
    link.send(frames[0]);
    link.expect("auth WrongPassword\n\n");
    link.send(frames[1] + frames[2]);
    link.close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "WrongPassword", "-x",
                                 "api status"});
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK_EQUAL(result.out, "");
  CAF_CHECK(contains(result.err, "callgridctl: FreeSWITCH at 127.0.0.1:" + freeswitch.port()
                                   + " rejected the password"));
  CAF_CHECK(contains(result.err, "CALLGRID_ESL_PASSWORD"));
  CAF_CHECK(contains(result.err, "event_socket.conf.xml"));
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(a refused connection exits 1 and names the address and what to check) {
  auto port = closed_port();
  auto result = run_callgridctl({"esl", "-P", port, "-p", "s3cret", "-x", "status"});
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK_EQUAL(result.out, "");
  CAF_CHECK(contains(result.err, "callgridctl: cannot connect to 127.0.0.1:" + port
                                   + ": connection refused (is FreeSWITCH running"));
}

CAF_TEST(a server that never asks for auth times out after --timeout) {
  fake_freeswitch freeswitch{[&](fake_link& link) { link.await_close(); }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret",
                                 "--timeout", "1", "-x", "status"});
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK_LESS(result.elapsed, 3000ms);
  CAF_CHECK_GREATER_OR_EQUAL(result.elapsed, 900ms);
  CAF_CHECK(contains(result.err, "callgridctl: timed out after 1 s connecting to 127.0.0.1:"
                                   + freeswitch.port() + " and authenticating"));
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(a command without an answer times out and the message names it) {
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    link.expect("api status\n\n");
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret",
                                 "--timeout", "1", "-x", "status"});
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK_LESS(result.elapsed, 3000ms);
  CAF_CHECK(contains(result.err, "callgridctl: timed out after 1 s waiting for FreeSWITCH at "
                                   "127.0.0.1:" + freeswitch.port()
                                   + " to answer 'status'"));
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(an -ERR answer goes to stderr and the rest still run and the exit code is 3) {
  auto recorded = load_capture("02_api_responses");
  auto unknown = answer_to(recorded, "api nosuchcommand foo\n\n");
  auto version = answer_to(recorded, "api version\n\n");
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    link.expect("api nosuchcommand foo\n\n");
    link.send(unknown);
    link.expect("api version\n\n");
    link.send(version);
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "-x",
                                 "api nosuchcommand foo", "-x", "version"});
  CAF_CHECK_EQUAL(result.exit_code, 3);
  CAF_CHECK_EQUAL(result.out, body_of(version));
  CAF_CHECK_EQUAL(result.err, "callgridctl: 'api nosuchcommand foo' failed: "
                              "-ERR nosuchcommand Command not found!\n");
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(bgapi prints the Reply-Text and then the result of the job) {
  auto recorded = load_capture("04_call_plain_events");
  const std::string captured_job = "11111111-2222-3333-4444-555555555555";
  auto subscribed = answer_to(recorded, "event plain BACKGROUND_JOB\n\n");
  auto accepted = frame_with(recorded, "Reply-Text: +OK Job-UUID: " + captured_job);
  auto job = frame_with(recorded, "\nJob-UUID: " + captured_job + "\nJob-Command: uuid_exists");
  std::string sent_job;
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    link.expect("event plain BACKGROUND_JOB\n\n");
    link.send(subscribed);
    auto command = link.read_command();
    constexpr std::string_view line = "bgapi uuid_exists ca98311e-c235-46ed-93fd-9458df2614e4\n"
                                      "Job-UUID: ";
    if (!command.starts_with(line) || command.size() != line.size() + 36 + 2) {
      link.close();
      return;
    }
    // Same length as the captured UUID, so the captured Content-Length stays right.
    sent_job = command.substr(line.size(), 36);
    replace_all(accepted, captured_job, sent_job);
    replace_all(job, captured_job, sent_job);
    link.send(accepted);
    link.send(job);
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "-x",
                                 "bgapi uuid_exists ca98311e-c235-46ed-93fd-9458df2614e4"});
  auto problems = freeswitch.problems();
  CAF_REQUIRE_EQUAL(sent_job.size(), 36u);
  CAF_CHECK_EQUAL(result.exit_code, 0);
  // The job's result "true" has no line break of its own; callgridctl adds one.
  CAF_CHECK_EQUAL(result.out, "+OK Job-UUID: " + sent_job + "\ntrue\n");
  CAF_CHECK_EQUAL(result.err, "");
  CAF_CHECK_EQUAL(problems, no_problems);
}

CAF_TEST(events print in the human form with decoded values until the count is reached) {
  auto recorded = load_capture("04_call_plain_events");
  std::string subscription;
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    subscription = link.read_command();
    link.send(answer_to(recorded, "event plain BACKGROUND_JOB\n\n"));
    // A BACKGROUND_JOB the client subscribed on its own is not printed.
    link.send(event_frame(recorded, "BACKGROUND_JOB"));
    link.send(event_frame(recorded, "CHANNEL_CREATE", 0));
    link.send(event_frame(recorded, "CHANNEL_ANSWER", 0));
    link.send(event_frame(recorded, "CHANNEL_CREATE", 1));
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "--events",
                                 "CHANNEL_CREATE CHANNEL_ANSWER", "--count", "2"});
  CAF_CHECK_EQUAL(result.exit_code, 0);
  CAF_CHECK_EQUAL(result.err, "");
  auto titles = event_title_lines(result.out);
  CAF_CHECK_EQUAL(titles, (std::vector<std::string>{
                            "CHANNEL_CREATE uuid=ca98311e-c235-46ed-93fd-9458df2614e4",
                            "CHANNEL_ANSWER uuid=ca98311e-c235-46ed-93fd-9458df2614e4"}));
  CAF_CHECK(contains(result.out, "\n  Event-Name: CHANNEL_CREATE\n"));
  CAF_CHECK(contains(result.out, "\n  Event-Date-Local: 2026-11-26 04:06:59\n"));
  CAF_CHECK(contains(result.out, "\n  FreeSWITCH-IPv6: fd00::2\n"));
  CAF_CHECK(!contains(result.out, "BACKGROUND_JOB"));
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
  CAF_CHECK_EQUAL(subscription, "event plain CHANNEL_CREATE CHANNEL_ANSWER BACKGROUND_JOB\n\n");
}

CAF_TEST(json output is one object per line with every field and Event-Name) {
  auto recorded = load_capture("04_call_plain_events");
  auto create = event_frame(recorded, "CHANNEL_CREATE", 0);
  auto answer = event_frame(recorded, "CHANNEL_ANSWER", 1);
  const std::string core = "Core-UUID 7c51b8bd-8432-4f97-a2d6-eaed8705c43e";
  auto filtered = answer_to(load_capture("03_command_replies"),
                            "filter Unique-ID 00000000-0000-0000-0000-000000000000\n\n");
  replace_all(filtered, "[Unique-ID]=[00000000-0000-0000-0000-000000000000]",
              "[Core-UUID]=[7c51b8bd-8432-4f97-a2d6-eaed8705c43e]");
  std::string subscription;
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    subscription = link.read_command();
    link.send(answer_to(recorded, "event plain BACKGROUND_JOB\n\n"));
    link.expect("filter " + core + "\n\n");
    link.send(filtered);
    link.send(create);
    link.send(answer);
    link.await_close();
  }};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "--events",
                                 "CHANNEL_CREATE CHANNEL_ANSWER", "--filter", core,
                                 "-o", "json", "--count", "2"});
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
  CAF_CHECK_EQUAL(subscription, "event plain CHANNEL_CREATE CHANNEL_ANSWER BACKGROUND_JOB\n\n");
  CAF_CHECK_EQUAL(result.exit_code, 0);
  CAF_CHECK_EQUAL(result.err, "");
  std::vector<nlohmann::json> objects;
  std::istringstream lines{result.out};
  for (std::string line; std::getline(lines, line);)
    objects.push_back(nlohmann::json::parse(line, nullptr, false));
  CAF_REQUIRE_EQUAL(objects.size(), 2u);
  const std::string frames[] = {create, answer};
  const std::string names[] = {"CHANNEL_CREATE", "CHANNEL_ANSWER"};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& object = objects[i];
    CAF_REQUIRE(object.is_object());
    CAF_CHECK_EQUAL(object.value("Event-Name", ""), names[i]);
    std::set<std::string> keys;
    for (const auto& item : object.items())
      keys.insert(item.key());
    CAF_CHECK_EQUAL(keys, plain_field_names(frames[i]));
  }
  CAF_CHECK_EQUAL(objects[0].value("Event-Date-Local", ""), "2026-11-26 04:06:59");
  CAF_CHECK_EQUAL(objects[1].value("Unique-ID", ""), "d48d36bd-8ced-4437-a502-6a540634dbb6");
}

CAF_TEST(ctrl c ends an endless event stream cleanly with exit code 130) {
  auto recorded = load_capture("04_call_plain_events");
  fake_freeswitch freeswitch{[&](fake_link& link) {
    accept_login(link, "s3cret");
    link.read_command();
    link.send(answer_to(recorded, "event plain BACKGROUND_JOB\n\n"));
    link.send(event_frame(recorded, "DTMF"));
    link.await_close();
  }};
  run_options options;
  options.interrupt_when_output_has = "\n  DTMF-Digit: ";
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-p", "s3cret", "--events",
                                 "DTMF"},
                                options);
  CAF_CHECK_EQUAL(result.exit_code, 130);
  CAF_CHECK_EQUAL(event_title_lines(result.out).size(), 1u);
  CAF_CHECK_EQUAL(result.err, "");
  CAF_CHECK_EQUAL(freeswitch.problems(), no_problems);
}

CAF_TEST(without a password it exits 2 and never connects) {
  fake_freeswitch freeswitch{[&](fake_link&) {}};
  auto result = run_callgridctl({"esl", "-P", freeswitch.port(), "-x", "status"});
  CAF_CHECK_EQUAL(result.exit_code, 2);
  CAF_CHECK_EQUAL(result.out, "");
  CAF_CHECK_EQUAL(result.err,
                  "callgridctl: no ESL password: pass -p or set CALLGRID_ESL_PASSWORD\n");
  CAF_CHECK(!freeswitch.accepted());
}

CAF_TEST(help lists the options and the exit codes) {
  auto result = run_callgridctl({"esl", "--help"});
  CAF_CHECK_EQUAL(result.exit_code, 0);
  for (auto part : {"--host", "--port", "--password", "--execute", "--events", "--format",
                    "--output", "--filter", "--count", "--timeout", "Exit codes:", "130"})
    CAF_CHECK(contains(result.out, part));
  auto usage = run_callgridctl({"esl", "-p", "s3cret", "--count", "2"});
  CAF_CHECK_EQUAL(usage.exit_code, 2);
}
