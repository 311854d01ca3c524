#define CAF_SUITE kamailio.edge_render

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "edge_support.hpp"
#include "services/service_process.hpp"

using namespace callgrid;
using namespace std::chrono_literals;

namespace {

const std::string callgridctl = std::string{CALLGRID_BINARY_DIR} + "/apps/callgridctl/callgridctl";

std::string read(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
}

/// A callgridd.toml with an [edge] section pointing into a temp dir, and a way to run
/// `callgridctl edge render` on it.
struct fixture {
  test_support::temp_dir dir{"edge-render"};
  std::filesystem::path toml = dir.path() / "callgridd.toml";
  std::string output;

  std::string edge_section(const std::string& extra = {}) {
    auto d = dir.path().string();
    return "[esl]\npassword = \"a-long-test-password\"\n\n[edge]\nsip_listen = \"127.0.0.1\"\n"
           "sip_port = 5099\ndispatcher_list = \"" + d + "/dispatcher.list\"\n"
           "address_list = \"" + d + "/address.list\"\nrpc_socket = \"" + d + "/rpc.sock\"\n"
           "runtime_dir = \"" + d + "\"\nalgorithm = \"round_robin\"\n"
           "trusted_peers = [\"127.0.0.1\", \"192.0.2.0/24\"]\n" + extra;
  }

  /// Runs callgridctl with `args`; returns its exit status, its output in `output`.
  int run(std::vector<std::string> args) {
    test_support::process_spec spec;
    spec.argv = {callgridctl};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    auto log = dir.path() / ("run-" + std::to_string(++runs) + ".log");
    spec.output_path = log;
    test_support::child_process process{spec};
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (process.running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    auto how = process.stop(SIGKILL, 0ms);
    output = read(log);
    if (how.rfind("exited with status ", 0) != 0)
      return -1;
    return std::stoi(how.substr(19));
  }

  int runs = 0;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(edge_render_tests, fixture)

CAF_TEST(edge render writes a config kamailio accepts with its address and list files) {
  write(toml, edge_section());
  auto cfg = dir.path() / "kamailio.cfg";
  auto status = run({"edge", "render", "--config", toml.string(), "--check", "-o", cfg.string()});
  CAF_MESSAGE(output);
  CAF_CHECK_EQUAL(status, 0);
  auto text = read(cfg);
  CAF_CHECK_NOT_EQUAL(text.find("listen=udp:127.0.0.1:5099\n"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find(R"(ds_select_dst("1", "4"))"), std::string::npos);
  auto addresses = read(dir.path() / "address.list");
  CAF_CHECK_NOT_EQUAL(addresses.find("1 127.0.0.1 32 0\n"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(addresses.find("1 192.0.2.0 24 0\n"), std::string::npos);
  CAF_CHECK(std::filesystem::exists(dir.path() / "dispatcher.list"));
}

CAF_TEST(edge render leaves an existing dispatcher list alone and prints to stdout) {
  write(toml, edge_section());
  write(dir.path() / "dispatcher.list", "1 sip:10.0.0.1:5060 4 0 weight=10\n");
  auto status = run({"edge", "render", "--config", toml.string()});
  CAF_CHECK_EQUAL(status, 0);
  CAF_CHECK_NOT_EQUAL(output.find("#!KAMAILIO"), std::string::npos);
  CAF_CHECK(!std::filesystem::exists(dir.path() / "address.list"));
  auto list = read(dir.path() / "dispatcher.list");
  CAF_CHECK_EQUAL(list, "1 sip:10.0.0.1:5060 4 0 weight=10\n");
}

CAF_TEST(edge render refuses call_load and a configuration with errors) {
  write(toml, edge_section("algorithm = \"call_load\"\n").replace(
                  edge_section().find("algorithm = \"round_robin\"\n"),
                  std::string{"algorithm = \"round_robin\"\n"}.size(), ""));
  auto status = run({"edge", "render", "--config", toml.string()});
  CAF_CHECK_EQUAL(status, 4);
  // Refused by the configuration's schema or by the renderer; either way it is named.
  CAF_CHECK_NOT_EQUAL(output.find("call_load"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(output.find("edge.algorithm"), std::string::npos);
  write(toml, edge_section("sip_port = \"many\"\n"));
  status = run({"edge", "render", "--config", toml.string()});
  CAF_CHECK_EQUAL(status, 4);
  CAF_CHECK_NOT_EQUAL(output.find("callgridd.toml"), std::string::npos);
}

CAF_TEST(edge render with reload makes the running kamailio trust a new peer at once) {
  // A running edge that trusts 127.0.0.1 only.
  edge_test::edge_instance edge{edge_test::test_settings(), {}};
  auto port = edge.server->sip_port();
  auto options_from = [&](const std::string& ip) {
    auto reply = edge_test::udp_exchange(
      ip, port, edge_test::sip_request("OPTIONS", port, ip, 5999, "trunk/1.0"), 2s);
    return reply ? edge_test::status_of(*reply) : 0;
  };
  CAF_REQUIRE_EQUAL(options_from("127.0.0.2"), 403);
  // The operator adds 127.0.0.2 to edge.trusted_peers and renders with --reload.
  auto run_dir = edge.server->directory().string();
  auto config = "[esl]\npassword = \"a-long-test-password\"\n\n[edge]\nsip_listen = \"127.0.0.1\"\n"
                "sip_port = " + std::to_string(port) + "\ndispatcher_list = \"" + run_dir
                + "/dispatcher.list\"\naddress_list = \"" + run_dir + "/address.list\"\n"
                "rpc_socket = \"" + edge.server->rpc_socket_path().string()
                + "\"\nruntime_dir = \"" + run_dir
                + "\"\nalgorithm = \"round_robin\"\n"
                  "trusted_peers = [\"127.0.0.1\", \"127.0.0.2\"]\n";
  write(toml, config);
  auto cfg = dir.path() / "kamailio.cfg";
  auto status = run({"edge", "render", "--config", toml.string(), "-o", cfg.string(), "--reload"});
  CAF_MESSAGE(output);
  CAF_CHECK_EQUAL(status, 0);
  CAF_CHECK_NOT_EQUAL(output.find("Kamailio reloaded the trusted peers"), std::string::npos);
  CAF_CHECK_EQUAL(options_from("127.0.0.2"), 200);
  CAF_CHECK_EQUAL(options_from("127.0.0.3"), 403);
  // No Kamailio on the socket: the files are written, the reload failure is named, exit 1.
  edge.server->stop();
  status = run({"edge", "render", "--config", toml.string(), "-o", cfg.string(), "--reload"});
  CAF_CHECK_EQUAL(status, 1);
  CAF_CHECK_NOT_EQUAL(output.find("did not reload the trusted peers"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(output.find("edge.rpc_socket = " + run_dir), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
