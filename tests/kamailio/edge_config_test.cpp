#define CAF_SUITE kamailio.edge_config

#include <caf/test/unit_test.hpp>

#include <string>

#include "kamailio/edge_config.hpp"

using namespace callgrid;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(the rendered config carries every setting and no placeholder) {
  kamailio::edge_settings edge;
  edge.sip_host = "203.0.113.10";
  edge.sip_port = 5070;
  edge.set_id = 3;
  edge.algorithm = "weight";
  edge.probe_interval_s = 7;
  edge.probing_threshold = 4;
  edge.inactive_threshold = 2;
  edge.pike_window_s = 3;
  edge.pike_requests = 40;
  edge.ban_time_s = 600;
  edge.max_message_bytes = 4096;
  edge.failover_timeout_ms = 1500;
  edge.rpc_socket = "/run/edge/rpc.sock";
  edge.runtime_dir = "/run/edge";
  edge.dispatcher_list = "/var/lib/edge/d.list";
  edge.address_list = "/var/lib/edge/a.list";
  auto cfg = kamailio::render_edge_config(edge);
  CAF_REQUIRE(cfg);
  CAF_CHECK(!contains(*cfg, "@@"));
  CAF_CHECK(contains(*cfg, "listen=udp:203.0.113.10:5070\n"));
  CAF_CHECK(contains(*cfg, "rundir=\"/run/edge\""));
  CAF_CHECK(contains(*cfg, R"(modparam("jsonrpcs", "dgram_socket", "/run/edge/rpc.sock"))"));
  CAF_CHECK(contains(*cfg, R"(modparam("dispatcher", "list_file", "/var/lib/edge/d.list"))"));
  CAF_CHECK(contains(*cfg, R"(modparam("permissions", "address_file", "/var/lib/edge/a.list"))"));
  CAF_CHECK(contains(*cfg, R"(ds_select_dst("3", "9"))"));
  CAF_CHECK(contains(*cfg, R"(modparam("dispatcher", "ds_ping_interval", 7))"));
  CAF_CHECK(contains(*cfg, R"(modparam("dispatcher", "ds_probing_threshold", 4))"));
  CAF_CHECK(contains(*cfg, R"(modparam("dispatcher", "ds_inactive_threshold", 2))"));
  CAF_CHECK(contains(*cfg, R"(modparam("pike", "sampling_time_unit", 3))"));
  CAF_CHECK(contains(*cfg, R"(modparam("pike", "reqs_density_per_unit", 40))"));
  CAF_CHECK(contains(*cfg, "ipban=>size=8;autoexpire=600;"));
  CAF_CHECK(contains(*cfg, "if ($ml > 4096)"));
  CAF_CHECK(contains(*cfg, R"(modparam("tm", "fr_timer", 1500))"));
}

CAF_TEST(probes count 404 and 486 as alive but never a local 408) {
  auto cfg = kamailio::render_edge_config({});
  CAF_REQUIRE(cfg);
  auto start = cfg->find(R"(modparam("dispatcher", "ds_ping_reply_codes", ")");
  CAF_REQUIRE_NOT_EQUAL(start, std::string::npos);
  auto line = cfg->substr(start, cfg->find('\n', start) - start);
  CAF_CHECK(contains(line, "code=404"));
  CAF_CHECK(contains(line, "code=486"));
  CAF_CHECK(!contains(line, "408"));
  CAF_CHECK(!contains(line, "class=4"));
}

CAF_TEST(failover happens on 500 and local timeouts only) {
  auto cfg = kamailio::render_edge_config({});
  CAF_REQUIRE(cfg);
  CAF_CHECK(contains(*cfg, R"(t_check_status("500") || (t_check_status("408") && t_branch_timeout()))"));
  CAF_CHECK(!contains(*cfg, R"(t_check_status("486)"));
  CAF_CHECK(!contains(*cfg, "603\")"));
}

CAF_TEST(algorithm words map to Kamailio numbers and call_load is refused) {
  CAF_CHECK_EQUAL(kamailio::algorithm_number("hash_callid"), 0);
  CAF_CHECK_EQUAL(kamailio::algorithm_number("round_robin"), 4);
  CAF_CHECK_EQUAL(kamailio::algorithm_number("random"), 6);
  CAF_CHECK_EQUAL(kamailio::algorithm_number("weight"), 9);
  CAF_CHECK(!kamailio::algorithm_number("call_load"));
  kamailio::edge_settings edge;
  edge.algorithm = "call_load";
  auto cfg = kamailio::render_edge_config(edge);
  CAF_REQUIRE(!cfg);
  CAF_CHECK_EQUAL(cfg.error().code, kamailio::errc::invalid_settings);
  CAF_CHECK(contains(cfg.error().message, "call_load disables dispatcher.reload"));
}

CAF_TEST(every bad setting is named at once) {
  kamailio::edge_settings edge;
  edge.sip_host = "edge.example.net";
  edge.sip_port = 0;
  edge.rpc_socket = "relative.sock";
  edge.runtime_dir = "/run/\"x\"";
  edge.probe_interval_s = 0;
  edge.max_message_bytes = 100'000;
  edge.trusted_peers = {"10.0.0.1", "gw.example.net"};
  auto problems = kamailio::validate_edge_settings(edge);
  CAF_CHECK_EQUAL(problems.size(), 7u);
  auto cfg = kamailio::render_edge_config(edge);
  CAF_REQUIRE(!cfg);
  const auto& text = cfg.error().message;
  CAF_CHECK(contains(text, "sip_host 'edge.example.net' is not an IPv4 or IPv6 address"));
  CAF_CHECK(contains(text, "sip_port"));
  CAF_CHECK(contains(text, "rpc_socket 'relative.sock' must be an absolute path"));
  CAF_CHECK(contains(text, "runtime_dir"));
  CAF_CHECK(contains(text, "probe_interval is 0"));
  CAF_CHECK(contains(text, "max_message_bytes is 100000"));
  CAF_CHECK(contains(text, "trusted peer 'gw.example.net'"));
}

CAF_TEST(trusted peers become address file lines with prefix and port) {
  kamailio::edge_settings edge;
  edge.trusted_peers = {"192.0.2.7", "198.51.100.0/24", "203.0.113.5:5061", "2001:db8::1",
                        "[2001:db8::2]:5060", "2001:db8:1::/48"};
  auto list = kamailio::render_address_list(edge);
  CAF_REQUIRE(list);
  CAF_CHECK(contains(*list, "1 192.0.2.7 32 0\n"));
  CAF_CHECK(contains(*list, "1 198.51.100.0 24 0\n"));
  CAF_CHECK(contains(*list, "1 203.0.113.5 32 5061\n"));
  CAF_CHECK(contains(*list, "1 [2001:db8::1] 128 0\n"));
  CAF_CHECK(contains(*list, "1 [2001:db8::2] 128 5060\n"));
  CAF_CHECK(contains(*list, "1 [2001:db8:1::] 48 0\n"));
  for (auto bad : {"10.0.0.1/33", "10.0.0.1:0", "[::1", "10.0.0.300", ""}) {
    auto peer = kamailio::parse_trusted_peer(bad);
    CAF_CHECK(!peer);
  }
}

CAF_TEST(an edge with no trusted peer renders an address file that allows nobody) {
  auto list = kamailio::render_address_list({});
  CAF_REQUIRE(list);
  CAF_CHECK(!contains(*list, "\n1 "));
}
