#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kamailio/dispatcher_list.hpp"
#include "kamailio/edge_config.hpp"
#include "services/kamailio_server.hpp"
#include "services/service_process.hpp"

/// What the edge integration suites share: a real Kamailio running the rendered edge config,
/// fsemu processes as nodes (SIP side on), sipp as caller or failing node, and raw UDP probes.
/// Every helper throws `test_support::service_error` when a process cannot be started.
namespace callgrid::edge_test {

/// The edge settings tests start from: 127.0.0.1 trusted, round robin over set 1, fast probes.
[[nodiscard]] kamailio::edge_settings test_settings();

/// A Kamailio running `render_edge_config(settings)` with `targets` as its dispatcher list and
/// the trusted peers of `settings` as its address file (paths, ports and the RPC socket are the
/// launcher's).
struct edge_instance {
  explicit edge_instance(const kamailio::edge_settings& settings,
                         const std::vector<kamailio::dispatcher_target>& targets);

  [[nodiscard]] std::filesystem::path list_file() const {
    return server->directory() / "dispatcher.list";
  }

  std::unique_ptr<test_support::kamailio_server> server;
};

/// One fsemu process with its ESL and SIP ports on 127.0.0.1; killed at the end of the test.
struct fsemu_node {
  explicit fsemu_node(std::vector<std::string> extra_args = {});

  /// The dispatcher target for this node in set `set`.
  [[nodiscard]] kamailio::dispatcher_target target(int set = 1, int weight = 1) const;

  /// The SIP URI of the node: sip:127.0.0.1:PORT.
  [[nodiscard]] std::string uri() const;

  /// Channels created since the start ("N session(s) since startup" of `api status`): one per
  /// call that reached this node.
  [[nodiscard]] int calls() const;

  /// Runs `api <command>` over the event socket and returns the reply body.
  [[nodiscard]] std::string api(const std::string& command) const;

  std::uint16_t esl_port = test_support::pick_free_port();
  std::uint16_t sip_port = test_support::pick_free_port();
  std::string id;
  std::unique_ptr<test_support::temp_dir> dir;
  test_support::process_spec spec;
  test_support::child_process process;
};

/// What one sipp run did.
struct sipp_result {
  bool ok = false;
  std::string log;
};

/// How a sipp caller runs.
struct sipp_caller {
  std::string scenario;
  std::uint16_t target_port = 0;
  std::string service = "1000";
  int calls = 1;
  int rate = 10;
  std::string local_ip = "127.0.0.1";
  std::chrono::seconds limit{60};
};

/// Runs sipp as a caller to 127.0.0.1:`target_port` until it ends; ok when every call met the
/// scenario.
[[nodiscard]] sipp_result run_sipp(const sipp_caller& caller);

/// A sipp UAS on a free port running `scenario` (tests/data/sipp) until destroyed.
struct sipp_server {
  explicit sipp_server(const std::string& scenario);

  [[nodiscard]] std::string uri() const;

  /// How many INVITEs it received so far (read from its -trace_msg log).
  [[nodiscard]] int invites() const;

  std::uint16_t port = test_support::pick_free_port();
  std::unique_ptr<test_support::temp_dir> dir;
  test_support::process_spec spec;
  test_support::child_process process;
};

/// Sends `datagram` from a UDP socket bound to `from_ip` to 127.0.0.1:`port` and returns the
/// first datagram that comes back within `wait`, or nullopt.
[[nodiscard]] std::optional<std::string> udp_exchange(const std::string& from_ip,
                                                      std::uint16_t port,
                                                      const std::string& datagram,
                                                      std::chrono::milliseconds wait);

/// An out-of-dialog SIP request with `method` to the edge at `port`, sent from
/// `from_ip`:`from_port`, with `user_agent` and `extra` header lines (CRLF-terminated).
[[nodiscard]] std::string sip_request(const std::string& method, std::uint16_t port,
                                      const std::string& from_ip, std::uint16_t from_port,
                                      const std::string& user_agent,
                                      const std::string& extra = {});

/// The status code of a SIP response, 0 when `text` is not one.
[[nodiscard]] int status_of(const std::string& text);

/// Polls `predicate` every 50 ms until it holds or `timeout` passes; returns its last value.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

} // namespace callgrid::edge_test
