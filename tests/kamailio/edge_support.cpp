#include "edge_support.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kamailio/dispatcher_list.hpp"

namespace callgrid::edge_test {

namespace {

using namespace std::chrono_literals;
using test_support::service_error;

const std::string fsemu_binary = std::string{CALLGRID_BINARY_DIR} + "/tools/fsemu/fsemu";
const std::string sipp_dir = std::string{CALLGRID_TEST_DATA_DIR} + "/sipp/";

/// Render-time stand-ins replaced by the launcher's placeholders: the launcher picks the
/// directory and the SIP port only when it starts.
constexpr const char* run_dir_stand_in = "/callgrid-edge-run";
constexpr std::uint16_t sip_port_stand_in = 1;

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

/// A TCP connection with blocking reads bounded by a poll timeout.
class tcp_link {
public:
  explicit tcp_link(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw service_error("cannot connect to fsemu's ESL port " + std::to_string(port) + ": "
                          + std::strerror(errno));
  }
  ~tcp_link() { ::close(fd_); }
  tcp_link(const tcp_link&) = delete;
  tcp_link& operator=(const tcp_link&) = delete;

  void send(const std::string& text) {
    if (::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
      throw service_error("ESL send failed");
  }

  /// Reads one ESL frame: headers up to a blank line, then Content-Length bytes of body.
  std::string frame_body() {
    while (buffer_.find("\n\n") == std::string::npos)
      fill();
    auto end = buffer_.find("\n\n");
    auto headers = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    std::size_t length = 0;
    if (auto at = headers.find("Content-Length: "); at != std::string::npos)
      length = std::stoul(headers.substr(at + 16));
    while (buffer_.size() < length)
      fill();
    auto body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return body;
  }

private:
  void fill() {
    pollfd entry{fd_, POLLIN, 0};
    if (::poll(&entry, 1, 5000) <= 0)
      throw service_error("no ESL answer within 5 s");
    char chunk[4096];
    auto got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0)
      throw service_error("the ESL connection closed");
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }

  int fd_ = -1;
  std::string buffer_;
};

bool accepts_connections(std::uint16_t port) {
  try {
    tcp_link link{port};
    return true;
  } catch (const service_error&) {
    return false;
  }
}

} // namespace

kamailio::edge_settings test_settings() {
  kamailio::edge_settings s;
  s.sip_host = "127.0.0.1";
  s.sip_port = sip_port_stand_in;
  s.runtime_dir = run_dir_stand_in;
  s.rpc_socket = std::string{run_dir_stand_in} + "/kamailio_rpc.sock";
  s.dispatcher_list = std::string{run_dir_stand_in} + "/dispatcher.list";
  s.address_list = std::string{run_dir_stand_in} + "/address.list";
  s.algorithm = "round_robin";
  s.trusted_peers = {"127.0.0.1"};
  s.probe_interval_s = 1;
  s.probing_threshold = 1;
  s.inactive_threshold = 1;
  s.children = 2;
  s.failover_timeout_ms = 1000;
  return s;
}

edge_instance::edge_instance(const kamailio::edge_settings& settings,
                             const std::vector<kamailio::dispatcher_target>& targets) {
  auto cfg = kamailio::render_edge_config(settings);
  if (!cfg)
    throw service_error(kamailio::render_error(cfg.error()));
  auto addresses = kamailio::render_address_list(settings);
  if (!addresses)
    throw service_error(kamailio::render_error(addresses.error()));
  auto text = *cfg;
  replace_all(text, "listen=udp:127.0.0.1:" + std::to_string(sip_port_stand_in) + "\n",
              "listen=udp:{{HOST}}:{{SIP_PORT}}\n");
  replace_all(text, run_dir_stand_in, "{{RUN_DIR}}");
  test_support::kamailio_options options;
  options.config_template = text;
  options.files["dispatcher.list"] = kamailio::render_dispatcher_list(targets);
  options.files["address.list"] = *addresses;
  server = std::make_unique<test_support::kamailio_server>(options);
}

fsemu_node::fsemu_node(std::vector<std::string> extra_args)
  : id("node-" + std::to_string(sip_port)), dir(std::make_unique<test_support::temp_dir>("fsemu")) {
  spec.argv = {fsemu_binary, "--esl-port", std::to_string(esl_port), "--esl-password", "ClueCon",
               "--sip-port", std::to_string(sip_port), "--hostname", id};
  spec.argv.insert(spec.argv.end(), extra_args.begin(), extra_args.end());
  spec.output_path = dir->path() / "fsemu.log";
  process = test_support::child_process{spec};
  test_support::wait_until_ready(
    process, spec, [this] { return accepts_connections(esl_port); }, 10'000ms,
    "fsemu did not listen on port " + std::to_string(esl_port), {spec.output_path});
}

kamailio::dispatcher_target fsemu_node::target(int set, int weight) const {
  kamailio::dispatcher_target t;
  t.set = set;
  t.uri = uri();
  t.weight = weight;
  t.node_id = id;
  return t;
}

std::string fsemu_node::uri() const {
  return "sip:127.0.0.1:" + std::to_string(sip_port);
}

std::string fsemu_node::api(const std::string& command) const {
  tcp_link link{esl_port};
  link.frame_body();
  link.send("auth ClueCon\n\n");
  link.frame_body();
  link.send("api " + command + "\n\n");
  return link.frame_body();
}

int fsemu_node::calls() const {
  auto status = api("status");
  auto at = status.find(" session(s) since startup");
  if (at == std::string::npos)
    throw service_error("fsemu status without a session count: " + status);
  auto start = status.rfind('\n', at);
  return std::stoi(status.substr(start == std::string::npos ? 0 : start + 1));
}

sipp_result run_sipp(const sipp_caller& caller) {
  test_support::temp_dir dir{"sipp"};
  test_support::process_spec spec;
  spec.argv = {"/usr/bin/sipp", "127.0.0.1:" + std::to_string(caller.target_port), "-sf",
               sipp_dir + caller.scenario, "-s", caller.service, "-i", caller.local_ip, "-p",
               std::to_string(test_support::pick_free_port()), "-m", std::to_string(caller.calls),
               "-r", std::to_string(caller.rate), "-l", std::to_string(caller.rate),
               "-timeout", std::to_string(caller.limit.count()) + "s", "-timeout_error",
               "-nostdin", "-nd", "-trace_err", "-error_file", (dir.path() / "errors.log").string()};
  spec.working_dir = dir.path();
  spec.output_path = dir.path() / "sipp.out";
  test_support::child_process sipp{spec};
  auto deadline = std::chrono::steady_clock::now() + caller.limit + 5s;
  while (sipp.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto how = sipp.stop(SIGKILL, 0ms);
  sipp_result result;
  result.ok = sipp.exited_successfully();
  result.log = how + "\n" + test_support::tail_file(dir.path() / "errors.log", 40) + "\n"
               + test_support::tail_file(dir.path() / "sipp.out", 20);
  return result;
}

sipp_server::sipp_server(const std::string& scenario)
  : dir(std::make_unique<test_support::temp_dir>("sipp-uas")) {
  spec.argv = {"/usr/bin/sipp", "-sf", sipp_dir + scenario, "-i", "127.0.0.1", "-p",
               std::to_string(port), "-nostdin", "-nd", "-trace_msg", "-message_file",
               (dir->path() / "messages.log").string()};
  spec.working_dir = dir->path();
  spec.output_path = dir->path() / "sipp.out";
  process = test_support::child_process{spec};
  // sipp binds at once; give it a moment before Kamailio sends it anything.
  std::this_thread::sleep_for(300ms);
  if (!process.running())
    throw service_error("sipp as UAS exited at once:\n"
                        + test_support::tail_file(dir->path() / "sipp.out", 20));
}

std::string sipp_server::uri() const {
  return "sip:127.0.0.1:" + std::to_string(port);
}

int sipp_server::invites() const {
  std::ifstream in{dir->path() / "messages.log"};
  std::string line;
  int count = 0;
  while (std::getline(in, line))
    if (line.rfind("INVITE sip:", 0) == 0)
      ++count;
  return count;
}

std::optional<std::string> udp_exchange(const std::string& from_ip, std::uint16_t port,
                                        const std::string& datagram,
                                        std::chrono::milliseconds wait) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw service_error("socket(AF_INET, SOCK_DGRAM) failed");
  sockaddr_in self{};
  self.sin_family = AF_INET;
  ::inet_pton(AF_INET, from_ip.c_str(), &self.sin_addr);
  self.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
    ::close(fd);
    throw service_error("cannot bind a UDP socket to " + from_ip);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd entry{fd, POLLIN, 0};
  std::optional<std::string> reply;
  if (::poll(&entry, 1, static_cast<int>(wait.count())) > 0) {
    std::string buffer(65536, '\0');
    auto got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got > 0)
      reply = buffer.substr(0, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return reply;
}

std::string sip_request(const std::string& method, std::uint16_t port, const std::string& from_ip,
                        std::uint16_t from_port, const std::string& user_agent,
                        const std::string& extra) {
  static int counter = 0;
  auto n = std::to_string(++counter);
  auto edge = "127.0.0.1:" + std::to_string(port);
  auto self = from_ip + ":" + std::to_string(from_port);
  std::string text = method + " sip:1000@" + edge + " SIP/2.0\r\n";
  text += "Via: SIP/2.0/UDP " + self + ";branch=z9hG4bK-edge-" + n + ";rport\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: <sip:probe@" + self + ">;tag=t" + n + "\r\n";
  text += "To: <sip:1000@" + edge + ">\r\n";
  text += "Call-ID: edge-test-" + n + "@" + from_ip + "\r\n";
  text += "CSeq: 1 " + method + "\r\n";
  text += "Contact: <sip:probe@" + self + ">\r\n";
  if (!user_agent.empty())
    text += "User-Agent: " + user_agent + "\r\n";
  text += extra;
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

int status_of(const std::string& text) {
  if (text.rfind("SIP/2.0 ", 0) != 0 || text.size() < 11)
    return 0;
  return std::stoi(text.substr(8, 3));
}

} // namespace callgrid::edge_test
