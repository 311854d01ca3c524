#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "services/service_process.hpp"

namespace callgrid::test_support {

/// Settings of a postgres_server; the defaults fit the Debian postgresql-15 package.
struct postgres_options {
  /// Directory holding initdb and postgres.
  std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";
  /// Extra arguments appended to the postgres command line, e.g. {"-c", "log_statement=all"}.
  std::vector<std::string> extra_args;
  /// Bound for initdb and, separately, for the server to accept connections after each start.
  std::chrono::milliseconds start_timeout = default_start_timeout;
  /// Bound for a fast shutdown in stop(); the server is killed with SIGKILL after it.
  std::chrono::milliseconds stop_timeout = default_stop_timeout;
};

/// Throwaway PostgreSQL server on 127.0.0.1 at a free port, with a fresh cluster (trust auth,
/// superuser "postgres", UTF8, locale C, fsync off) in a temp dir named callgrid-postgres-*.
/// Runs as the system user "postgres" when the test runs as root. The constructor throws
/// service_error when initdb or the server fails; the destructor stops the server and removes
/// the directory (see CALLGRID_KEEP_TEST_SERVICES). Not copyable or movable: hold it in
/// std::optional or std::unique_ptr when its lifetime must differ from a scope.
class postgres_server {
public:
  /// Creates the cluster and starts the server; throws service_error with the command line and
  /// log tail when initdb fails or the server does not accept connections in time.
  explicit postgres_server(postgres_options options = {});

  /// Stops the server (fast shutdown, SIGKILL after the bound) and removes the directory; never
  /// fails.
  ~postgres_server();

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;
  postgres_server(postgres_server&&) = delete;
  postgres_server& operator=(postgres_server&&) = delete;

  /// Starts the server again on the same data directory and port, waiting until it accepts
  /// connections; does nothing when it runs. Throws service_error like the constructor.
  void start();

  /// Stops the server with a fast shutdown (SIGINT: open sessions are cut) and waits for it;
  /// kills it with SIGKILL after stop_timeout. Does nothing when it is stopped; never fails.
  void stop() noexcept;

  /// Kills the server and all its backends with SIGKILL, like a crash; start() then runs crash
  /// recovery. Does nothing when it is stopped; never fails.
  void kill_hard() noexcept;

  /// Returns whether the server process runs; never fails.
  [[nodiscard]] bool running() const noexcept { return process_.running(); }

  /// Returns the pid of the postmaster, or 0 when stopped; never fails.
  [[nodiscard]] pid_t pid() const noexcept { return process_.pid(); }

  /// Returns the TCP port on 127.0.0.1; it stays the same across stop() and start(). Never fails.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Returns a libpq connection string, "host=127.0.0.1 port=P user=postgres dbname=<dbname>
  /// connect_timeout=5"; never fails.
  [[nodiscard]] std::string conninfo(const std::string& dbname = "postgres") const;

  /// Creates the database `name` (owner postgres); throws service_error with the server's error
  /// message when the server is down or refuses.
  void create_database(const std::string& name) const;

  /// Runs `sql` (one or more statements) in `dbname`; throws service_error with the server's
  /// error message when a statement fails.
  void execute(const std::string& sql, const std::string& dbname = "postgres") const;

  /// Returns the temp dir holding the data directory, sockets and logs; never fails.
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_.path(); }

  /// Returns the data directory given to initdb and postgres; never fails.
  [[nodiscard]] std::filesystem::path data_dir() const { return dir_.path() / "data"; }

  /// Returns the server log (stderr of postgres); never fails.
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "postgres.log"; }

private:
  [[nodiscard]] process_spec server_spec() const;

  postgres_options options_;
  temp_dir dir_;
  std::optional<user_identity> user_;
  std::uint16_t port_ = 0;
  child_process process_;
};

} // namespace callgrid::test_support
