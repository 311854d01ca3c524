// fsemu: a FreeSWITCH emulator for tests, benchmarks and demos (see tools/fsemu/README.md).
//
// Startup errors are printed to stderr: a busy port exits with code 1, bad or missing options
// with CLI11's codes; SIGINT, SIGTERM and `fsctl shutdown` end the process cleanly with code 0.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <random>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "esl_listener.hpp"
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
  app.add_option("--esl-port", esl_port, "TCP port of the event socket (FreeSWITCH uses 8021)")
    ->required()
    ->check(CLI::Range(1, 65535));
  app.add_option("--esl-password", password,
                 "Password clients must give with 'auth' (FreeSWITCH's default is ClueCon)")
    ->required()
    ->check(
      [](const std::string& value) { return value.empty() ? "must not be empty" : std::string{}; },
      "non-empty");
  app.add_option("--listen", listen_address, "Address the event socket listens on")
    ->capture_default_str();
  app.add_option("--max-sessions", max_sessions,
                 "Channel limit: reported by 'status' (\"N session(s) max\"); originate is "
                 "refused beyond it")
    ->capture_default_str()
    ->check(CLI::Range(1u, 10'000'000u));
  std::string socket_target;
  app.add_option("--socket-target", socket_target,
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
  app.add_option("--hostname", hostname,
                 "Host name the switch reports (FreeSWITCH-Hostname, 'hostname')")
    ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

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
  if (!socket_target.empty())
    for (auto& extension : config.dialplan)
      if (extension.action == fsemu::extension_action::socket)
        extension.socket_address = socket_target;
  std::mt19937_64 core_uuid_random{config.seed ^ 0x9e3779b97f4a7c15ULL};
  config.identity.core_uuid = fsemu::random_uuid(core_uuid_random);
  fsemu::switch_core switch_node{config, now_us()};

  boost::asio::io_context io{1};
  fsemu::esl_listener listener{io, switch_node, [&io] { io.stop(); }};
  if (auto err = listener.open(listen_address, esl_port)) {
    std::cerr << "fsemu: " << err->what << '\n';
    return 1;
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
  io.run();
  return 0;
}
