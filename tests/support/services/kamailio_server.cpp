#include "services/kamailio_server.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace callgrid::test_support {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// Largest request jsonrpcs reads from a datagram (JSONRPC_DGRAM_BUF_SIZE in 5.6).
constexpr std::size_t max_request_size = 65'456;

/// Receive buffer for replies; jsonrpcs sends each reply as one datagram.
constexpr std::size_t max_reply_size = 256 * 1024;

/// Per-attempt bound of the readiness probe.
constexpr milliseconds probe_timeout{500};

constexpr const char* default_request_route = R"(  if (method == "OPTIONS") {
    sl_send_reply("200", "OK");
    exit;
  }
  sl_send_reply("404", "Not Found");
  exit;
)";

std::atomic<unsigned long> rpc_counter{0};

std::string errno_text(int error) {
  return std::string{std::strerror(error)} + " (errno " + std::to_string(error) + ")";
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

std::string json_string(const std::string& text) {
  std::string result = "\"";
  for (char c : text) {
    switch (c) {
      case '"': result += "\\\""; break;
      case '\\': result += "\\\\"; break;
      case '\n': result += "\\n"; break;
      case '\r': result += "\\r"; break;
      case '\t': result += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          result += escaped;
        } else {
          result += c;
        }
    }
  }
  return result + "\"";
}

sockaddr_un unix_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto text = path.string();
  if (text.size() >= sizeof addr.sun_path)
    throw service_error("callgrid test services: the unix socket path " + text
                        + " is too long; set TMPDIR to a shorter directory");
  std::memcpy(addr.sun_path, text.c_str(), text.size() + 1);
  return addr;
}

/// A unix datagram socket bound to its own path; closes and unlinks on destruction.
class rpc_client_socket {
public:
  explicit rpc_client_socket(std::filesystem::path path) : path_(std::move(path)) {
    auto addr = unix_address(path_);
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      throw service_error("callgrid test services: socket(AF_UNIX, SOCK_DGRAM) failed: "
                          + errno_text(errno));
    int size = static_cast<int>(max_reply_size);
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    ::unlink(path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      auto error = errno;
      close(fd_);
      throw service_error("callgrid test services: cannot bind the JSON-RPC client socket "
                          + path_.string() + ": " + errno_text(error));
    }
  }

  ~rpc_client_socket() {
    close(fd_);
    ::unlink(path_.c_str());
  }

  rpc_client_socket(const rpc_client_socket&) = delete;
  rpc_client_socket& operator=(const rpc_client_socket&) = delete;

  int fd() const noexcept { return fd_; }

private:
  std::filesystem::path path_;
  int fd_ = -1;
};

} // namespace

kamailio_server::kamailio_server(kamailio_options options)
  : options_(std::move(options)), dir_("kamailio"), sip_port_(pick_free_port()) {
  // Fail early and clearly on socket paths that do not fit into sockaddr_un.
  static_cast<void>(unix_address(rpc_socket_path()));
  static_cast<void>(unix_address(ctl_socket_path()));
  static_cast<void>(unix_address(dir_.path() / "rpc-18446744073709551615.sock"));
  auto write_file = [](const std::filesystem::path& path, const std::string& content) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << content;
    out.close();
    if (!out)
      throw service_error("callgrid test services: cannot write " + path.string());
  };
  for (const auto& [name, content] : options_.files)
    write_file(dir_.path() / name, expand(content));
  write_file(config_path(), options_.config_template.empty() ? generated_config()
                                                             : expand(options_.config_template));
  start();
}

kamailio_server::~kamailio_server() {
  stop();
}

std::string kamailio_server::expand(const std::string& text) const {
  auto result = text;
  replace_all(result, "{{HOST}}", service_host);
  replace_all(result, "{{SIP_PORT}}", std::to_string(sip_port_));
  replace_all(result, "{{RUN_DIR}}", dir_.path().string());
  replace_all(result, "{{RPC_SOCKET}}", rpc_socket_path().string());
  replace_all(result, "{{CTL_SOCKET}}", ctl_socket_path().string());
  return result;
}

std::string kamailio_server::generated_config() const {
  std::string cfg = R"(#!KAMAILIO
# Generated by callgrid's kamailio_server (tests/support/services) for a throwaway test instance.

debug=2
log_stderror=yes
fork=yes
children=2
auto_aliases=no
dns=no
rev_dns=no
rundir="{{RUN_DIR}}"
listen=udp:{{HOST}}:{{SIP_PORT}}

)";
  cfg += options_.extra_global;
  cfg += R"(

loadmodule "sl.so"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"

modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "pretty_format", 0)
modparam("jsonrpcs", "dgram_socket", "{{RPC_SOCKET}}")
modparam("ctl", "binrpc", "unix:{{CTL_SOCKET}}")

)";
  cfg += options_.extra_modules;
  cfg += "\n\nrequest_route {\n";
  cfg += options_.request_route.empty() ? std::string{default_request_route}
                                        : options_.request_route;
  cfg += "\n}\n\n";
  cfg += options_.extra_routes;
  cfg += "\n";
  return expand(cfg);
}

process_spec kamailio_server::server_spec() const {
  process_spec spec;
  spec.argv = {options_.binary.string(),
               "-f",
               config_path().string(),
               "-DD",
               "-E",
               "-m",
               std::to_string(options_.shm_mb),
               "-M",
               std::to_string(options_.pkg_mb)};
  spec.argv.insert(spec.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  spec.working_dir = dir_.path();
  spec.output_path = log_path();
  // An orderly shutdown if the test binary dies: the main process stops its workers, which a
  // SIGKILL of the main process would leave behind.
  spec.parent_death_signal = SIGTERM;
  return spec;
}

void kamailio_server::start() {
  if (process_.running())
    return;
  // Reap a server that died on its own before starting a new one.
  process_.kill_hard();
  auto spec = server_spec();
  process_ = child_process{spec};
  auto request = R"({"jsonrpc":"2.0","method":"core.version","params":[],"id":0})";
  wait_until_ready(
    process_, spec,
    [this, request] {
      try {
        return !exchange(request, probe_timeout).empty();
      } catch (const service_error&) {
        return false;
      }
    },
    options_.start_timeout,
    "Kamailio did not answer core.version on " + rpc_socket_path().string(), {log_path()});
}

void kamailio_server::stop() noexcept {
  process_.stop(SIGTERM, options_.stop_timeout);
}

void kamailio_server::kill_hard() noexcept {
  process_.kill_hard();
}

std::string kamailio_server::rpc(const std::string& method, const std::string& params_json,
                                 milliseconds timeout) const {
  auto id = std::to_string(++rpc_counter);
  auto request = R"({"jsonrpc":"2.0","method":)" + json_string(method) + R"(,"params":)"
                 + params_json + R"(,"id":)" + id + "}";
  try {
    return exchange(request, timeout);
  } catch (const service_error& error) {
    throw service_error(describe_failure(std::string{"Kamailio JSON-RPC "} + method
                                           + " failed: " + error.what(),
                                         {}, dir_.path(), {log_path()}));
  }
}

std::string kamailio_server::exchange(const std::string& request, milliseconds timeout) const {
  if (request.size() > max_request_size)
    throw service_error("the request has " + std::to_string(request.size())
                        + " bytes; jsonrpcs reads at most " + std::to_string(max_request_size));
  rpc_client_socket client{dir_.path() / ("rpc-" + std::to_string(++rpc_counter) + ".sock")};
  auto server = unix_address(rpc_socket_path());
  auto sent = sendto(client.fd(), request.data(), request.size(), 0,
                     reinterpret_cast<sockaddr*>(&server), sizeof server);
  if (sent != static_cast<ssize_t>(request.size()))
    throw service_error("sending to " + rpc_socket_path().string()
                        + " failed: " + errno_text(errno));
  auto deadline = steady::now() + timeout;
  std::string buffer(max_reply_size, '\0');
  while (true) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now());
    if (left.count() <= 0)
      throw service_error("no reply on " + rpc_socket_path().string() + " within "
                          + std::to_string(timeout.count()) + " ms");
    pollfd entry{client.fd(), POLLIN, 0};
    auto ready = poll(&entry, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0)
      throw service_error("poll failed: " + errno_text(errno));
    if (ready == 0)
      continue;
    auto got = recv(client.fd(), buffer.data(), buffer.size(), MSG_TRUNC);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      throw service_error("recv failed: " + errno_text(errno));
    if (static_cast<std::size_t>(got) > buffer.size())
      throw service_error("the reply has " + std::to_string(got) + " bytes, more than "
                          + std::to_string(buffer.size()));
    buffer.resize(static_cast<std::size_t>(got));
    return buffer;
  }
}

} // namespace callgrid::test_support
