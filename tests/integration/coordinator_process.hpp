#pragma once

// What the cluster tests share: a coordinator callgridd of their own (role coordinator, admin API
// with a token), `callgridctl node` against it, shell commands with their exit code, and polling.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "platform.hpp"

namespace callgrid::test_support {

/// A command's exit code and its stdout and stderr together.
struct command_result {
  int exit_code = -1;
  std::string output;
};

/// Runs a shell command line to its end; exit_code -1 when it did not exit normally.
[[nodiscard]] command_result run_command(const std::string& line);

/// The whole content of a text file ("" when it cannot be read).
[[nodiscard]] std::string read_text(const std::filesystem::path& path);

/// The value of the series `series` (name with its labels exactly as rendered, e.g.
/// `callgrid_cluster_members{state="active"}`) on a Prometheus text page; -1 when absent.
[[nodiscard]] double metric_value(const std::string& page, const std::string& series);

/// Polls `predicate` every 200 ms until it holds or `limit` passes; returns whether it held.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return true;
}

/// A coordinator callgridd sharing `p`'s PostgreSQL, writing the dispatcher list `list_file` and
/// calling Kamailio's RPC at `rpc_socket` (a path with no Kamailio behind it is fine).
/// `extra_cluster_keys` go into its `[cluster]` table. Stopped by the destructor.
class coordinator_process {
public:
  coordinator_process(const platform& p, const std::filesystem::path& list_file,
                      const std::filesystem::path& rpc_socket,
                      const std::string& extra_cluster_keys = {});

  /// `callgridctl node ARGS` against this coordinator's admin API.
  [[nodiscard]] command_result ctl(const std::string& args) const;
  /// Every member as `node list -o json` shows it (empty on failure, with the answer on stderr).
  [[nodiscard]] nlohmann::json members() const;
  /// One member (an empty object when absent).
  [[nodiscard]] nlohmann::json member(const std::string& node) const;
  /// The `[cluster]` table a node needs to join this coordinator.
  [[nodiscard]] std::string node_cluster_section(const std::string& drain_deadline) const;
  [[nodiscard]] std::string log() const;
  /// The coordinator's `/metrics` page ("" when it cannot be fetched).
  [[nodiscard]] std::string metrics() const;

  std::filesystem::path dir;
  std::uint16_t http_port = pick_free_port();
  std::uint16_t cluster_port = pick_free_port();

private:
  child_process process_;
};

} // namespace callgrid::test_support
