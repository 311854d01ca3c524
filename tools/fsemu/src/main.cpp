// fsemu: a FreeSWITCH emulator for tests, benchmarks and demos (see tools/fsemu/README.md).
//
// Startup errors are printed to stderr: a busy port exits with code 1, a bad configuration
// file with 2 (every problem with file:line:column and key), bad or missing options with CLI11's
// codes; SIGINT, SIGTERM and `fsctl shutdown` end the process cleanly with code 0. With
// `--exit-after-callers` it exits 0 after the callers' summary, 1 if a call failed its script.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "caller_runner.hpp"
#include "esl_listener.hpp"
#include "fsemu_config.hpp"
#include "sip_socket.hpp"
#include "switch_core.hpp"

namespace {

using namespace callgrid;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The local time zone's current offset from UTC in seconds (0 if it cannot be read).
std::int32_t local_utc_offset() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  if (::localtime_r(&now, &local) == nullptr)
    return 0;
  return static_cast<std::int32_t>(local.tm_gmtoff);
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0')
    return "localhost";
  return buffer;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"fsemu: emulates a FreeSWITCH 1.10.12 node's event socket (ESL, inbound and outbound) for "
               "tests, benchmarks and demos"};
  std::string listen_address = "127.0.0.1";
  std::uint16_t esl_port = 0;
  std::string password;
  std::uint32_t max_sessions = 1000;
  std::string hostname = host_name();
  auto* port_option
    = app.add_option("--esl-port", esl_port,
                     "TCP port of the event socket (FreeSWITCH uses 8021); required here or as "
                     "[switch] esl_port in --config")
        ->check(CLI::Range(1, 65535));
  auto* password_option
    = app.add_option("--esl-password", password,
                     "Password clients must give with 'auth' (FreeSWITCH's default is ClueCon); "
                     "required here or as [switch] esl_password in --config")
        ->check(
      [](const std::string& value) { return value.empty() ? "must not be empty" : std::string{}; },
      "non-empty");
  auto* listen_option
    = app.add_option("--listen", listen_address, "Address the event socket listens on")
        ->capture_default_str();
  auto* sessions_option = app.add_option("--max-sessions", max_sessions,
                 "Channel limit: reported by 'status' (\"N session(s) max\"); originate is "
                 "refused beyond it")
    ->capture_default_str()
    ->check(CLI::Range(1u, 10'000'000u));
  std::string socket_target;
  auto* target_option = app.add_option("--socket-target", socket_target,
                 "HOST:PORT the dialplan's outbound socket extension (8084, 'socket "
                 "127.0.0.1:8084 async full') connects to instead of 127.0.0.1:8084")
    ->check(
      [](const std::string& value) {
        auto colon = value.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == value.size())
          return std::string{"must be HOST:PORT"};
        auto port = value.substr(colon + 1);
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5
            || std::stoul(port) == 0 || std::stoul(port) > 65535)
          return std::string{"must be HOST:PORT with a port of 1-65535"};
        return std::string{};
      },
      "HOST:PORT");
  auto* hostname_option
    = app.add_option("--hostname", hostname,
                     "Host name the switch reports (FreeSWITCH-Hostname, 'hostname')")
        ->capture_default_str();
  std::string config_path;
  app.add_option("--config", config_path,
                 "TOML configuration file ([switch], [[dialplan]], [prompts], [[callers]]; see "
                 "tools/fsemu/README.md); command-line options override it");
  double heartbeat_seconds = -1;
  auto* heartbeat_option
    = app.add_option("--heartbeat", heartbeat_seconds,
                     "Seconds between HEARTBEAT events (FreeSWITCH: 20; 0 = none)")
        ->check(CLI::Range(0.0, 86400.0));
  bool run_callers = false;
  app.add_flag("--run-callers", run_callers,
               "Run the configuration's [[callers]] scenarios once the event socket listens");
  double caller_time_limit = 0;
  app.add_option("--caller-time-limit", caller_time_limit,
                 "Seconds after which running callers are stopped (hung up, counted as failed) "
                 "and the summary is printed; 0 = no limit")
    ->check(CLI::Range(0.0, 1e7));
  std::string summary_json;
  app.add_option("--summary-json", summary_json,
                 "Also write the callers' summary as JSON to this file");
  bool exit_after_callers = false;
  app.add_flag("--exit-after-callers", exit_after_callers,
               "Exit after the callers' summary: 0 if every call met its script, 1 otherwise");
  std::size_t event_queue_limit = 100'000;
  app.add_option("--event-queue-limit", event_queue_limit,
                 "Events a client may have queued unwritten before further events for it are "
                 "lost (mod_event_socket's MAX_QUEUE_LEN); more than 500 lost in a row close it")
    ->capture_default_str()
    ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  std::uint16_t sip_port = 0;
  auto* sip_port_option
    = app.add_option("--sip-port", sip_port,
                     "UDP port of the SIP user agent server on the --listen address (INVITE, "
                     "ACK, BYE, CANCEL, OPTIONS, INFO; no media); default none")
        ->check(CLI::Range(1, 65535));
  std::string sip_context = "default";
  auto* sip_context_option
    = app.add_option("--sip-context", sip_context,
                     "Dialplan context SIP calls arrive in (the captured box routes its "
                     "'internal' profile to 'default')")
        ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::optional<fsemu::file_config> file;
  if (!config_path.empty()) {
    auto loaded = fsemu::load_config(config_path);
    if (!loaded.problems.empty()) {
      for (const auto& problem : loaded.problems)
        std::cerr << "fsemu: " << problem.to_string() << '\n';
      return 2;
    }
    file = std::move(loaded.config);
    // The file's settings apply where the command line gave none.
    if (port_option->count() == 0 && file->esl_port)
      esl_port = *file->esl_port;
    if (password_option->count() == 0 && file->esl_password)
      password = *file->esl_password;
    if (listen_option->count() == 0 && file->listen)
      listen_address = *file->listen;
    if (sessions_option->count() == 0 && file->max_sessions)
      max_sessions = *file->max_sessions;
    if (hostname_option->count() == 0 && file->hostname)
      hostname = *file->hostname;
    if (target_option->count() == 0 && file->socket_target)
      socket_target = *file->socket_target;
    run_callers = run_callers || file->run_callers;
    if (sip_port_option->count() == 0 && file->sip_port)
      sip_port = *file->sip_port;
    if (sip_context_option->count() == 0 && file->sip_context)
      sip_context = *file->sip_context;
  }
  // CLI11's exit code for a missing required option.
  constexpr int missing_option_exit = 106;
  if (esl_port == 0) {
    std::cerr << "fsemu: --esl-port is required (or [switch] esl_port in --config)\n";
    return missing_option_exit;
  }
  if (password.empty()) {
    std::cerr << "fsemu: --esl-password is required (or [switch] esl_password in --config)\n";
    return missing_option_exit;
  }
  if (run_callers && (!file || file->callers.empty())) {
    std::cerr << "fsemu: --run-callers needs a --config with [[callers]]\n";
    return 2;
  }

  std::random_device entropy;
  fsemu::switch_config config;
  config.seed = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
  config.password = password;
  config.max_sessions = max_sessions;
  config.identity.hostname = hostname;
  config.identity.switchname = hostname;
  config.identity.ipv4 = listen_address;
  config.identity.ipv6 = "::1";
  config.local_ip_v4 = listen_address;
  config.utc_offset_seconds = local_utc_offset();
  config.heartbeat_interval_us = 20'000'000;
  if (file) {
    file->apply_to(config);
    // The command line wins over the file (apply_to set the file's values).
    config.password = password;
    config.max_sessions = max_sessions;
    config.identity.hostname = hostname;
    config.identity.switchname = hostname;
  }
  if (heartbeat_option->count() > 0)
    config.heartbeat_interval_us = static_cast<std::int64_t>(heartbeat_seconds * 1e6);
  if (!socket_target.empty())
    for (auto& extension : config.dialplan)
      if (extension.action == fsemu::extension_action::socket)
        extension.socket_address = socket_target;
  std::mt19937_64 core_uuid_random{config.seed ^ 0x9e3779b97f4a7c15ULL};
  config.identity.core_uuid = fsemu::random_uuid(core_uuid_random);
  fsemu::switch_core switch_node{config, now_us()};

  boost::asio::io_context io{1};
  fsemu::esl_listener listener{io, switch_node, [&io] { io.stop(); }};
  listener.set_event_queue_limit(event_queue_limit);
  if (auto err = listener.open(listen_address, esl_port)) {
    std::cerr << "fsemu: " << err->what << '\n';
    return 1;
  }
  std::unique_ptr<fsemu::sip_socket> sip;
  if (sip_port != 0) {
    sip = std::make_unique<fsemu::sip_socket>(
      io, switch_node, listener,
      fsemu::sip_uas_config{.address = listen_address, .port = sip_port, .context = sip_context});
    if (auto err = sip->open()) {
      std::cerr << "fsemu: " << err->what << '\n';
      return 1;
    }
    std::cerr << "fsemu: SIP listening on " << listen_address << ':' << sip->port() << " (udp)\n";
  }
  boost::asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec)
      return;
    std::cerr << "fsemu: signal " << signal_number << ", stopping\n";
    listener.close();
    io.stop();
  });
  std::cerr << "fsemu: event socket listening on " << listen_address << ':' << listener.port()
            << '\n';

  // Scripted callers: placed after start, progress on stderr every 2 s, a summary at the end.
  int exit_code = 0;
  std::unique_ptr<fsemu::caller_runner> callers;
  boost::asio::steady_timer progress{io};
  boost::asio::steady_timer time_limit{io};
  bool summarised = false;
  auto summarise = [&] {
    if (summarised)
      return;
    summarised = true;
    progress.cancel();
    time_limit.cancel();
    auto summary = callers->summary();
    std::cout << summary.to_text() << std::flush;
    if (!summary_json.empty()) {
      std::ofstream json{summary_json, std::ios::trunc};
      json << summary.to_json();
      if (!json)
        std::cerr << "fsemu: cannot write the summary to " << summary_json << '\n';
    }
    if (exit_after_callers) {
      exit_code = summary.any_failed() ? 1 : 0;
      listener.attach_callers(nullptr, {});
      listener.close();
      io.stop();
    }
  };
  std::function<void()> report_progress = [&] {
    progress.expires_after(std::chrono::seconds(2));
    progress.async_wait([&](const boost::system::error_code& ec) {
      if (ec || summarised)
        return;
      std::cerr << callers->progress_line() << '\n';
      report_progress();
    });
  };
  if (run_callers) {
    callers = std::make_unique<fsemu::caller_runner>(file->callers, config.seed ^ 0x5bd1e995ULL);
    callers->start(now_us());
    listener.attach_callers(callers.get(), summarise);
    report_progress();
    if (caller_time_limit > 0) {
      time_limit.expires_after(
        std::chrono::microseconds(static_cast<std::int64_t>(caller_time_limit * 1e6)));
      time_limit.async_wait([&](const boost::system::error_code& ec) {
        if (ec || summarised)
          return;
        std::cerr << "fsemu: caller time limit reached, stopping the callers\n";
        callers->stop(switch_node, now_us());
        listener.poke();
        summarise();
      });
    }
  }
  io.run();
  return exit_code;
}
