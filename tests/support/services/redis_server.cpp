#include "services/redis_server.hpp"

#include <csignal>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace callgrid::test_support {

namespace {

/// Sends an inline PING and returns whether the answer is +PONG (not -LOADING or silence).
bool answers_ping(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  timeval timeout{0, 500'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, service_host, &addr.sin_addr);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    constexpr char ping[] = "PING\r\n";
    if (send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof ping - 1)) {
      char buffer[64];
      while (reply.find("\r\n") == std::string::npos && reply.size() < sizeof buffer) {
        auto got = recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0)
          break;
        reply.append(buffer, static_cast<std::size_t>(got));
      }
    }
  }
  close(fd);
  return reply.rfind("+PONG\r\n", 0) == 0;
}

} // namespace

redis_server::redis_server(redis_options options)
  : options_(std::move(options)), dir_("redis"), port_(pick_free_port()) {
  start();
}

redis_server::~redis_server() {
  stop();
}

process_spec redis_server::server_spec() const {
  process_spec spec;
  spec.argv = {options_.binary.string(),
               "--port",
               std::to_string(port_),
               "--bind",
               service_host,
               "--save",
               "",
               "--appendonly",
               "no",
               "--daemonize",
               "no",
               "--dir",
               dir_.path().string(),
               "--logfile",
               log_path().string()};
  spec.argv.insert(spec.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  spec.working_dir = dir_.path();
  spec.output_path = output_path();
  return spec;
}

void redis_server::start() {
  if (process_.running())
    return;
  // Reap a server that died on its own before starting a new one.
  process_.kill_hard();
  auto spec = server_spec();
  process_ = child_process{spec};
  auto port = port_;
  wait_until_ready(
    process_, spec, [port] { return answers_ping(port); }, options_.start_timeout,
    "Redis did not answer PING on " + std::string{service_host} + ":" + std::to_string(port_),
    {log_path(), output_path()});
}

void redis_server::stop() noexcept {
  process_.stop(SIGTERM, options_.stop_timeout);
}

void redis_server::kill_hard() noexcept {
  process_.kill_hard();
}

} // namespace callgrid::test_support
