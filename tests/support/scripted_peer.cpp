#include "scripted_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace callgrid::test_support {

namespace {

using clock_type = std::chrono::steady_clock;

std::string printable(const std::string& bytes) {
  std::string out;
  for (char c : bytes.substr(0, 120)) {
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return bytes.size() > 120 ? out + "..." : out;
}

/// Reads from `fd` into `inbox` until it holds one complete command frame (header block,
/// blank line, Content-Length body; the length header matched without regard to case).
/// Deliberately independent of the parser under test.
std::optional<std::string> read_command(int fd, std::string& inbox,
                                        std::chrono::milliseconds timeout, bool& eof) {
  auto deadline = clock_type::now() + timeout;
  while (true) {
    auto end = inbox.find("\n\n");
    if (end != std::string::npos) {
      std::size_t body = 0;
      std::string header = inbox.substr(0, end);
      std::string lower = header;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      auto at = lower.find("content-length: ");
      if (at != std::string::npos)
        body = std::stoul(header.substr(at + 16));
      if (inbox.size() >= end + 2 + body) {
        auto frame = inbox.substr(0, end + 2 + body);
        inbox.erase(0, end + 2 + body);
        return frame;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                      - clock_type::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buffer[65536];
    auto n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) {
      eof = true;
      return std::nullopt;
    }
    inbox.append(buffer, static_cast<std::size_t>(n));
  }
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace

std::vector<peer_step> steps_from_capture(const capture& recorded) {
  std::vector<peer_step> steps;
  for (const auto& entry : recorded.entries)
    steps.push_back(entry.from_freeswitch ? peer_step::send(entry.bytes)
                                          : peer_step::expect(entry.bytes));
  steps.push_back(peer_step::close());
  return steps;
}

std::unique_ptr<scripted_peer> scripted_peer::listen(std::vector<std::vector<peer_step>> scripts) {
  std::unique_ptr<scripted_peer> peer{new scripted_peer};
  peer->listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  ::setsockopt(peer->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(peer->listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
      || ::listen(peer->listen_fd_, 16) != 0)
    throw std::runtime_error(std::string{"scripted_peer: cannot listen: "} + std::strerror(errno));
  socklen_t length = sizeof address;
  ::getsockname(peer->listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  peer->port_ = ntohs(address.sin_port);
  peer->thread_ = std::thread{[raw = peer.get(), scripts = std::move(scripts)]() mutable {
    raw->run_listen(std::move(scripts));
  }};
  return peer;
}

std::unique_ptr<scripted_peer> scripted_peer::connect(std::uint16_t port,
                                                      std::vector<peer_step> script) {
  std::unique_ptr<scripted_peer> peer{new scripted_peer};
  peer->thread_ = std::thread{[raw = peer.get(), port, script = std::move(script)]() mutable {
    raw->run_connect(port, std::move(script));
  }};
  return peer;
}

scripted_peer::~scripted_peer() {
  if (listen_fd_ >= 0)
    ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable())
    thread_.join();
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
}

void scripted_peer::problem(std::string text) {
  std::lock_guard<std::mutex> guard{mutex_};
  problems_.push_back(std::move(text));
}

std::size_t scripted_peer::accepted() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return accepted_;
}

void scripted_peer::run_listen(std::vector<std::vector<peer_step>> scripts) {
  for (std::size_t index = 0; index < scripts.size(); ++index) {
    pollfd waiting{listen_fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(step_timeout.count() * 2)) <= 0) {
      problem("connection " + std::to_string(index + 1) + " never came");
      break;
    }
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      problem("accept failed");
      break;
    }
    {
      std::lock_guard<std::mutex> guard{mutex_};
      ++accepted_;
    }
    run_script(fd, scripts[index], index);
  }
  std::lock_guard<std::mutex> guard{mutex_};
  done_ = true;
}

void scripted_peer::run_connect(std::uint16_t port, std::vector<peer_step> script) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    problem(std::string{"cannot connect to the server under test: "} + std::strerror(errno));
    ::close(fd);
  } else {
    run_script(fd, script, 0);
  }
  std::lock_guard<std::mutex> guard{mutex_};
  done_ = true;
}

void scripted_peer::run_script(int fd, const std::vector<peer_step>& script, std::size_t index) {
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  std::string inbox;
  auto where = [&](std::size_t step) {
    return "connection " + std::to_string(index + 1) + ", step " + std::to_string(step + 1);
  };
  bool open = true;
  for (std::size_t step = 0; step < script.size() && open; ++step) {
    const auto& current = script[step];
    bool eof = false;
    switch (current.what) {
      case peer_step::kind::send:
        if (!write_all(fd, current.bytes))
          problem(where(step) + ": the other side closed before we could send "
                  + printable(current.bytes));
        break;
      case peer_step::kind::expect:
      case peer_step::kind::respond:
      case peer_step::kind::swallow: {
        auto got = read_command(fd, inbox, step_timeout, eof);
        if (!got) {
          problem(where(step) + (eof ? ": EOF" : ": timeout") + " while waiting for "
                  + (current.what == peer_step::kind::expect ? printable(current.bytes)
                                                             : std::string{"a command"}));
          open = false;
          break;
        }
        if (current.what == peer_step::kind::expect && *got != current.bytes) {
          problem(where(step) + ": expected " + printable(current.bytes) + " but got "
                  + printable(*got));
          open = false;
        } else if (current.what == peer_step::kind::respond) {
          write_all(fd, current.respond(*got));
        }
        break;
      }
      case peer_step::kind::close:
        open = false;
        break;
      case peer_step::kind::await_close: {
        auto got = read_command(fd, inbox, step_timeout, eof);
        if (!eof)
          problem(where(step) + ": expected the other side to close, got "
                  + (got ? printable(*got) : std::string{"nothing (timeout)"}));
        open = false;
        break;
      }
      case peer_step::kind::pause:
        std::this_thread::sleep_for(current.delay);
        break;
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

std::vector<std::string> scripted_peer::finish(std::chrono::milliseconds deadline) {
  auto until = clock_type::now() + deadline;
  while (clock_type::now() < until) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (done_)
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  std::lock_guard<std::mutex> guard{mutex_};
  auto out = problems_;
  if (!done_)
    out.push_back("the script did not finish within the deadline");
  return out;
}

} // namespace callgrid::test_support
