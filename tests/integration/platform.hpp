#pragma once

// A one-box platform for end-to-end tests: real PostgreSQL and Redis (tests/support/services),
// the example flows and routes imported, fsemu standing in for FreeSWITCH, and callgridd — the
// built binaries, started and stopped by the test. Every process is the test's own child and is
// ended by its pid.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "services/postgres_server.hpp"
#include "services/redis_server.hpp"
#include "services/service_process.hpp"

namespace callgrid::test_support {

/// One row of `cdr` as the tests look at it.
struct cdr_row {
  std::string call_uuid;
  std::string caller;
  std::string callee;
  std::string esl_mode;
  std::string disposition;
  std::string hangup_cause;
  std::string ivr_path; // JSON text
  std::string end_reason;
};

/// PostgreSQL + Redis + catalog + fsemu + callgridd on loopback, each on a free port.
class platform {
public:
  /// Starts PostgreSQL and Redis, migrates, imports docs/flows/main_menu.yaml and the routes
  /// (1000 inbound ESL mode, 2000 outbound ESL mode, both to main_menu), seeds the account
  /// 123456 in Redis. Throws service_error with the reason when something fails.
  platform();
  ~platform();

  /// Starts fsemu with `callers_toml` appended to its base config (dialplan: 1000 parks with
  /// park_timeout, 2000 goes to callgridd's outbound socket, transfer targets play a tone).
  void start_fsemu(const std::string& callers_toml, std::vector<std::string> extra_args = {});
  /// Starts callgridd (role node) against fsemu, PostgreSQL and Redis; its ESL link goes to
  /// `esl_target_port` when given (a proxy in front of fsemu), else straight to fsemu.
  /// `cluster_section` is its `[cluster]` table; the default runs it standalone with a 5 s
  /// drain deadline.
  void start_callgridd(std::uint16_t esl_target_port = 0,
                       const std::string& cluster_section = standalone_cluster);

  /// The default `[cluster]` table of `start_callgridd`.
  static constexpr const char* standalone_cluster
    = "[cluster]\ncoordinators = []\ndrain_deadline = \"5s\"\n";
  /// Waits until fsemu exits by itself (after its callers); false on timeout.
  bool wait_for_fsemu_exit(std::chrono::seconds limit);
  /// SIGTERM to callgridd (it flushes its records) and waits for it.
  void stop_callgridd();
  /// SIGKILL to callgridd, as a crash.
  void kill_callgridd();

  [[nodiscard]] std::vector<cdr_row> records() const;
  /// Waits until `cdr` holds at least `count` rows; returns the rows.
  [[nodiscard]] std::vector<cdr_row> wait_for_records(std::size_t count,
                                                      std::chrono::seconds limit) const;
  /// Sends an API command to fsemu over ESL (callgridctl esl -x) and returns its output.
  [[nodiscard]] std::string fsemu_api(const std::string& command) const;
  /// callgridd's /metrics page.
  [[nodiscard]] std::string metrics() const;

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }
  [[nodiscard]] std::string fsemu_log() const;
  [[nodiscard]] std::string callgridd_log() const;
  [[nodiscard]] std::filesystem::path summary_path() const { return dir_.path() / "summary.json"; }

  postgres_server postgres;
  redis_server redis;
  std::uint16_t esl_port = 0;
  std::uint16_t outbound_port = 0;
  std::uint16_t http_port = 0;
  std::string esl_password = "integration-test-secret-42";

private:
  temp_dir dir_{"platform"};
  child_process fsemu_;
  child_process callgridd_;
};

} // namespace callgrid::test_support
