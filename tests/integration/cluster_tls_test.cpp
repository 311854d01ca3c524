#define CAF_SUITE integration.cluster_tls

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "coordinator_process.hpp"
#include "platform.hpp"

// TLS on the cluster link (issue 6): certificates made with the openssl command line, a
// coordinator callgridd and node callgridds with and without them. A node with a certificate from
// the cluster's CA is admitted; a node without TLS and one with a certificate from another CA are
// refused in the handshake, and the coordinator's log says why.

using namespace callgrid::test_support;
using namespace std::chrono_literals;

namespace {

const std::string binary_dir = CALLGRID_BINARY_DIR;

/// A CA and certificates signed by it, made by the openssl command line in `dir`.
struct test_ca {
  std::filesystem::path dir;
  std::string name;

  test_ca(std::filesystem::path where, std::string ca_name)
    : dir(std::move(where)), name(std::move(ca_name)) {
    std::filesystem::create_directories(dir);
    auto made = run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                            "-nodes -sha256 -days 2 -subj '/CN="
                            + name + "' -keyout " + (dir / "ca.key").string() + " -out "
                            + ca_file());
    if (made.exit_code != 0)
      CAF_FAIL("openssl req (CA) failed: " << made.output);
  }

  [[nodiscard]] std::string ca_file() const { return (dir / "ca.pem").string(); }

  /// Makes `who`.key and `who`.pem signed by this CA; returns the `[cluster]` keys using them.
  [[nodiscard]] std::string issue(const std::string& who) const {
    auto key = (dir / (who + ".key")).string();
    auto csr = (dir / (who + ".csr")).string();
    auto pem = (dir / (who + ".pem")).string();
    auto made = run_command("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                            "-subj '/CN=" + who + "' -keyout " + key + " -out " + csr
                            + " && openssl x509 -req -sha256 -days 2 -in " + csr + " -CA "
                            + ca_file() + " -CAkey " + (dir / "ca.key").string()
                            + " -CAcreateserial -out " + pem);
    if (made.exit_code != 0)
      CAF_FAIL("openssl x509 (" << who << ") failed: " << made.output);
    return "tls_certificate = \"" + pem + "\"\ntls_key = \"" + key + "\"\n";
  }
};

std::string tls_keys(const test_ca& ca, const std::string& who, const std::string& trusted_ca) {
  return ca.issue(who) + "tls_ca_file = \"" + trusted_ca + "\"\n";
}

std::string state_of(const coordinator_process& coordinator, const std::string& node) {
  auto m = coordinator.member(node);
  return m.is_object() ? m.value("state", std::string{}) : std::string{};
}

/// Runs callgridd with `config_text` until it exits by itself (at most 30 s).
command_result run_callgridd(const std::filesystem::path& dir, const std::string& config_text) {
  auto path = dir / "refused.toml";
  std::ofstream{path} << config_text;
  return run_command("timeout 30 " + binary_dir + "/apps/callgridd/callgridd --config "
                     + path.string());
}

} // namespace

CAF_TEST(a node with a certificate from the cluster CA is admitted over TLS and others are refused) {
  platform p;
  test_ca cluster_ca{p.dir() / "ca", "callgrid cluster test CA"};
  test_ca other_ca{p.dir() / "other-ca", "some other CA"};
  auto dir = p.dir() / "coordinator";
  coordinator_process coordinator{
    p, dir / "dispatcher.list", dir / "no-kamailio.sock",
    tls_keys(cluster_ca, "coordinator", cluster_ca.ca_file())};
  p.start_fsemu("");
  p.start_callgridd(0, coordinator.node_cluster_section("60s")
                         + tls_keys(cluster_ca, "node-it", cluster_ca.ca_file()));
  bool active = eventually([&] { return state_of(coordinator, "node-it") == "active"; }, 40s);
  if (!active)
    CAF_MESSAGE("coordinator log:\n" << coordinator.log() << "\nnode log:\n"
                                     << p.callgridd_log());
  CAF_REQUIRE(active);
  CAF_CHECK(coordinator.log().find("TLS: peers need a certificate") != std::string::npos);

  // A node without TLS, and a node with a certificate from another CA (it trusts both CAs, so
  // that it accepts the coordinator and the coordinator is the one to refuse).
  media_node plain{p, "node-plain"};
  plain.start(coordinator.node_cluster_section("60s"));
  auto both_cas = (p.dir() / "both-cas.pem").string();
  std::ofstream{both_cas} << read_text(cluster_ca.ca_file()) << read_text(other_ca.ca_file());
  media_node foreign{p, "node-foreign"};
  foreign.start(coordinator.node_cluster_section("60s")
                + tls_keys(other_ca, "node-foreign", both_cas));
  // Both keep trying every second; give them several rounds. The coordinator says why: the
  // foreign certificate does not verify, and the plain node does not speak TLS at all. In one
  // CI run (and three local runs right after it) the plain node's "wrong version number" came
  // only 22 s after it started; most likely its CAF client waits for the server to speak
  // first, as the TLS server does, until something times out. Not pinned down.
  bool refusals_logged = eventually(
    [&] {
      auto log = coordinator.log();
      return log.find("TLS handshake failed (coordinator)") != std::string::npos
             && log.find("certificate verify failed") != std::string::npos
             && log.find("wrong version number") != std::string::npos;
    },
    45s);
  std::this_thread::sleep_for(3s);
  auto log = coordinator.log();
  if (!refusals_logged)
    CAF_MESSAGE("coordinator log:\n" << log << "\n" << plain.logs() << "\n" << foreign.logs());
  CAF_CHECK(refusals_logged);
  auto members = coordinator.members();
  CAF_CHECK_EQUAL(members.size(), 1u);
  CAF_CHECK(coordinator.member("node-plain").empty());
  CAF_CHECK(coordinator.member("node-foreign").empty());
  // The admitted node is not disturbed by them.
  CAF_CHECK_EQUAL(state_of(coordinator, "node-it"), "active");
}

CAF_TEST(callgridd refuses to start with a partial or mismatched TLS setup and names the key) {
  platform p;
  test_ca cluster_ca{p.dir() / "ca", "callgrid cluster test CA"};
  test_ca other_ca{p.dir() / "other-ca", "some other CA"};
  auto base = "role = \"coordinator\"\n[node]\nname = \"tls-check\"\n[database]\nconninfo = \""
              + p.postgres.conninfo() + "\"\n[http]\nport = " + std::to_string(pick_free_port())
              + "\n[edge]\nenabled = false\n[cluster]\nport = "
              + std::to_string(pick_free_port()) + "\n";

  // A certificate without its key and CA: a configuration error naming the missing keys.
  auto partial_keys = cluster_ca.issue("partial");
  auto partial = run_callgridd(p.dir(),
                               base + partial_keys.substr(0, partial_keys.find('\n') + 1));
  CAF_MESSAGE("partial: " << partial.output);
  CAF_CHECK_NOT_EQUAL(partial.exit_code, 0);
  CAF_CHECK(partial.output.find("cluster.tls_key") != std::string::npos);
  CAF_CHECK(partial.output.find("cluster.tls_ca_file") != std::string::npos);

  // A certificate the configured CA did not sign: refused at start, naming the certificate.
  auto mismatched = run_callgridd(p.dir(),
                                  base + tls_keys(other_ca, "stray", cluster_ca.ca_file()));
  CAF_MESSAGE("mismatched: " << mismatched.output);
  CAF_CHECK_EQUAL(mismatched.exit_code, 1);
  CAF_CHECK(mismatched.output.find("cluster.tls_certificate") != std::string::npos);
  CAF_CHECK(mismatched.output.find("is not accepted by the CA") != std::string::npos);

  // A key that belongs to another certificate.
  auto good_keys = cluster_ca.issue("good");
  auto swapped = good_keys.substr(0, good_keys.find('\n') + 1) + "tls_key = \""
                 + (other_ca.dir / "stray.key").string()
                 + "\"\ntls_ca_file = \"" + cluster_ca.ca_file() + "\"\n";
  auto wrong_key = run_callgridd(p.dir(), base + swapped);
  CAF_MESSAGE("wrong key: " << wrong_key.output);
  CAF_CHECK_EQUAL(wrong_key.exit_code, 1);
  CAF_CHECK(wrong_key.output.find("cluster.tls_key") != std::string::npos);
  CAF_CHECK(wrong_key.output.find("does not belong to the certificate") != std::string::npos);
}
