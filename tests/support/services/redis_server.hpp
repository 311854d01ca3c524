#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "services/service_process.hpp"

namespace callgrid::test_support {

/// Settings of a redis_server; the defaults fit the Debian redis-server package.
struct redis_options {
  /// The redis-server executable.
  std::filesystem::path binary = "/usr/bin/redis-server";
  /// Extra arguments appended to the command line, e.g. {"--maxmemory", "16mb"}.
  std::vector<std::string> extra_args;
  /// Bound for the server to answer PING after each start.
  std::chrono::milliseconds start_timeout = default_start_timeout;
  /// Bound for a graceful stop (SIGTERM); the server is killed with SIGKILL after it.
  std::chrono::milliseconds stop_timeout = default_stop_timeout;
};

/// Throwaway Redis server on 127.0.0.1 at a free port, without persistence (no RDB snapshots, no
/// AOF), working in a temp dir named callgrid-redis-*. The constructor throws service_error when
/// the server does not answer PING in time; the destructor stops it and removes the directory
/// (see CALLGRID_KEEP_TEST_SERVICES). Not copyable or movable.
class redis_server {
public:
  /// Starts the server and waits for PING; throws service_error with the command line and log
  /// tail when it exits or stays silent.
  explicit redis_server(redis_options options = {});

  /// Stops the server (SIGTERM, SIGKILL after the bound) and removes the directory; never fails.
  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  redis_server(redis_server&&) = delete;
  redis_server& operator=(redis_server&&) = delete;

  /// Starts the server again on the same port (empty: nothing is persisted) and waits for PING;
  /// does nothing when it runs. Throws service_error like the constructor.
  void start();

  /// Stops the server with SIGTERM and waits for it; kills it with SIGKILL after stop_timeout.
  /// Does nothing when it is stopped; never fails.
  void stop() noexcept;

  /// Kills the server with SIGKILL, like a crash. Does nothing when it is stopped; never fails.
  void kill_hard() noexcept;

  /// Returns whether the server process runs; never fails.
  [[nodiscard]] bool running() const noexcept { return process_.running(); }

  /// Returns the pid of the server, or 0 when stopped; never fails.
  [[nodiscard]] pid_t pid() const noexcept { return process_.pid(); }

  /// Returns the TCP port on 127.0.0.1; it stays the same across stop() and start(). Never fails.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Returns the temp dir (the server's --dir); never fails.
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_.path(); }

  /// Returns the server log (--logfile); never fails.
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "redis.log"; }

  /// Returns the file receiving stdout and stderr, where start-up errors go; never fails.
  [[nodiscard]] std::filesystem::path output_path() const {
    return dir_.path() / "redis.stderr.log";
  }

private:
  [[nodiscard]] process_spec server_spec() const;

  redis_options options_;
  temp_dir dir_;
  std::uint16_t port_ = 0;
  child_process process_;
};

} // namespace callgrid::test_support
