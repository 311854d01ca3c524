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

/// The fsemu configuration the platform's nodes use: 1000 parks (inbound ESL), 2000 runs
/// `socket` to `outbound_port` (outbound ESL), the IVR's transfer targets play a tone, prompts
/// last 300 ms; `callers_toml` is appended.
[[nodiscard]] std::string fsemu_node_config(const std::string& hostname, std::uint16_t esl_port,
                                            const std::string& esl_password,
                                            std::uint16_t outbound_port,
                                            const std::string& callers_toml);

/// What a node callgridd's configuration needs to differ in.
struct node_identity {
  std::string name = "node-it";
  std::string sip_uri = "sip:127.0.0.1:5080";
  std::uint16_t esl_port = 0;
  std::uint16_t outbound_port = 0;
  std::uint16_t http_port = 0;
  std::filesystem::path spool;
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

  /// A node callgridd's configuration (role node) against this platform's PostgreSQL and
  /// Redis, with `cluster_section` as its `[cluster]` table.
  [[nodiscard]] std::string node_config(const node_identity& node,
                                        const std::string& cluster_section) const;

  /// The default `[cluster]` table of `start_callgridd`.
  static constexpr const char* standalone_cluster
    = "[cluster]\ncoordinators = []\ndrain_deadline = \"5s\"\n";
  /// Waits until fsemu exits by itself (after its callers); false on timeout.
  bool wait_for_fsemu_exit(std::chrono::seconds limit);
  /// SIGTERM to callgridd (it flushes its records) and waits for it.
  void stop_callgridd();
  /// SIGKILL to callgridd, as a crash.
  void kill_callgridd();
  /// Sends `signal` (e.g. SIGHUP) to callgridd.
  void signal_callgridd(int signal) const;

  [[nodiscard]] std::vector<cdr_row> records() const;
  /// Waits until `cdr` holds at least `count` rows; returns the rows.
  [[nodiscard]] std::vector<cdr_row> wait_for_records(std::size_t count,
                                                      std::chrono::seconds limit) const;
  /// Sends an API command to fsemu over ESL (callgridctl esl -x) and returns its output.
  [[nodiscard]] std::string fsemu_api(const std::string& command) const;
  /// callgridd's /metrics page.
  [[nodiscard]] std::string metrics() const;
  /// Runs one command on the platform's Redis; the reply as text: an integer's digits, a
  /// string as is, an array's elements one per line, an error as "ERR: " and its text.
  [[nodiscard]] std::string redis_command(const std::vector<std::string>& args) const;

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

/// One more media node for cluster tests: fsemu with its SIP side on, and callgridd in role
/// node, sharing a platform's PostgreSQL and Redis. Both are this test's children, stopped by
/// the destructor.
class media_node {
public:
  /// Picks the ports; `start` runs the processes.
  media_node(const platform& services, std::string name);
  ~media_node();

  /// Starts fsemu (SIP on `sip_port`) and callgridd with `cluster_section`.
  void start(const std::string& cluster_section);

  /// SIGKILL to this node's callgridd (fsemu keeps running, as a FreeSWITCH would).
  void kill_callgridd();

  /// "sip:127.0.0.1:<sip_port>".
  [[nodiscard]] std::string sip_uri() const;
  /// Channels fsemu created since it started (one per call that reached this node).
  [[nodiscard]] int calls_since_start() const;
  [[nodiscard]] std::string logs() const;

  std::string name;
  std::uint16_t esl_port;
  std::uint16_t sip_port;
  std::uint16_t outbound_port;
  std::uint16_t http_port;

private:
  const platform& services_;
  temp_dir dir_{"node"};
  child_process fsemu_;
  child_process callgridd_;
};

} // namespace callgrid::test_support
