#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "services/service_process.hpp"

namespace callgrid::test_support {

/// Settings of a kamailio_server; the defaults fit the Debian kamailio 5.6 package.
///
/// Every text field (and every file content) may use these placeholders, replaced before the
/// config is written: {{HOST}} (127.0.0.1), {{SIP_PORT}}, {{RUN_DIR}} (the temp dir),
/// {{RPC_SOCKET}} (JSON-RPC datagram socket) and {{CTL_SOCKET}} (ctl binrpc socket).
struct kamailio_options {
  /// The kamailio executable.
  std::filesystem::path binary = "/usr/sbin/kamailio";
  /// Core parameters placed after the generated ones (a later assignment wins), e.g.
  /// "children=4\nlisten=udp:{{HOST}}:5099\n".
  std::string extra_global;
  /// loadmodule and modparam lines placed after sl, jsonrpcs and ctl, e.g.
  /// "loadmodule \"dispatcher.so\"\nmodparam(\"dispatcher\", \"list_file\", "
  /// "\"{{RUN_DIR}}/dispatcher.list\")\n".
  std::string extra_modules;
  /// Body of request_route (without "request_route {" and "}"); empty means the default, which
  /// answers OPTIONS with "200 OK" and everything else with "404 Not Found".
  std::string request_route;
  /// Further blocks placed after request_route: route[...], failure_route[...], event_route[...].
  std::string extra_routes;
  /// A whole kamailio.cfg used instead of the generated one. It must load jsonrpcs.so with
  /// transport 4 and dgram_socket {{RPC_SOCKET}}: readiness is checked with core.version there.
  std::string config_template;
  /// Files written into the temp dir before the first start, name to content, e.g.
  /// {"dispatcher.list", "1 sip:127.0.0.1:5070\n"}.
  std::map<std::string, std::string> files;
  /// Shared memory in MiB (-m).
  int shm_mb = 64;
  /// Private memory per process in MiB (-M).
  int pkg_mb = 8;
  /// Extra arguments appended to the kamailio command line.
  std::vector<std::string> extra_args;
  /// Bound for the server to answer core.version after each start.
  std::chrono::milliseconds start_timeout = default_start_timeout;
  /// Bound for a graceful stop (SIGTERM); the server is killed with SIGKILL after it.
  std::chrono::milliseconds stop_timeout = default_stop_timeout;
};

/// Throwaway Kamailio 5.6 listening for SIP on udp:127.0.0.1 at a free port, with its config,
/// sockets and log in a temp dir named callgrid-kamailio-*. The constructor throws service_error
/// when the config is rejected or the server does not answer a JSON-RPC core.version in time;
/// the destructor stops it and removes the directory (see CALLGRID_KEEP_TEST_SERVICES). Not
/// copyable or movable.
class kamailio_server {
public:
  /// Writes kamailio.cfg and the files of `options`, starts kamailio -DD -E and waits until it
  /// answers core.version; throws service_error with the command line and the log tail (which
  /// holds config errors) when it exits or stays silent.
  explicit kamailio_server(kamailio_options options = {});

  /// Stops the server (SIGTERM, SIGKILL after the bound) and removes the directory; never fails.
  ~kamailio_server();

  kamailio_server(const kamailio_server&) = delete;
  kamailio_server& operator=(const kamailio_server&) = delete;
  kamailio_server(kamailio_server&&) = delete;
  kamailio_server& operator=(kamailio_server&&) = delete;

  /// Starts the server again with the same config and ports and waits for core.version; does
  /// nothing when it runs. Throws service_error like the constructor.
  void start();

  /// Stops the server with SIGTERM (it stops its workers) and waits for it; kills the whole
  /// process tree with SIGKILL after stop_timeout. Does nothing when it is stopped; never fails.
  void stop() noexcept;

  /// Kills the server and all its workers with SIGKILL, like a crash. Does nothing when it is
  /// stopped; never fails.
  void kill_hard() noexcept;

  /// Returns whether the main kamailio process runs; never fails.
  [[nodiscard]] bool running() const noexcept { return process_.running(); }

  /// Returns the pid of the main kamailio process, or 0 when stopped; never fails.
  [[nodiscard]] pid_t pid() const noexcept { return process_.pid(); }

  /// Returns the UDP port of the SIP listener on 127.0.0.1; stable across restarts. Never fails.
  [[nodiscard]] std::uint16_t sip_port() const noexcept { return sip_port_; }

  /// Returns the path of the JSON-RPC unix datagram socket (jsonrpcs dgram_socket); never fails.
  [[nodiscard]] std::filesystem::path rpc_socket_path() const {
    return dir_.path() / "kamailio_rpc.sock";
  }

  /// Returns the path of the ctl module's binrpc unix socket (for kamcmd -s); never fails.
  [[nodiscard]] std::filesystem::path ctl_socket_path() const {
    return dir_.path() / "kamailio_ctl";
  }

  /// Returns the path of the generated kamailio.cfg; never fails.
  [[nodiscard]] std::filesystem::path config_path() const { return dir_.path() / "kamailio.cfg"; }

  /// Returns the temp dir (Kamailio's rundir); never fails.
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_.path(); }

  /// Returns the server log (stderr of kamailio -E); never fails.
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "kamailio.log"; }

  /// Sends the JSON-RPC 2.0 request {"method": method, "params": params_json} over the datagram
  /// socket from a socket bound to its own path in the temp dir, and returns the reply document
  /// as text (a JSON-RPC "error" reply is returned, not thrown). Throws service_error with the
  /// log tail when sending fails or no reply arrives within `timeout`. Safe to call from several
  /// threads.
  [[nodiscard]] std::string rpc(const std::string& method, const std::string& params_json = "[]",
                                std::chrono::milliseconds timeout = std::chrono::seconds{5}) const;

private:
  [[nodiscard]] process_spec server_spec() const;
  [[nodiscard]] std::string expand(const std::string& text) const;
  [[nodiscard]] std::string generated_config() const;
  [[nodiscard]] std::string exchange(const std::string& request,
                                     std::chrono::milliseconds timeout) const;

  kamailio_options options_;
  temp_dir dir_;
  std::uint16_t sip_port_ = 0;
  child_process process_;
};

} // namespace callgrid::test_support
