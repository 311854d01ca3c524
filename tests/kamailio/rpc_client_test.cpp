#define CAF_SUITE kamailio.rpc_client

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kamailio/rpc_client.hpp"

using namespace callgrid;
using namespace std::chrono_literals;
using kamailio::target_state;

namespace {

// A dispatcher.list result as Kamailio 5.6 answers it (set 2 first, targets in reverse file
// order).
constexpr const char* listing = R"({"NRSETS":2,"RECORDS":[
  {"SET":{"ID":2,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:25073","FLAGS":"IX","PRIORITY":0,
    "ATTRS":{"BODY":"duid=n3","DUID":"n3","MAXLOAD":0,"WEIGHT":0,"RWEIGHT":0,"SOCKET":null,
    "SOCKNAME":null,"OBPROXY":null}}}]}},
  {"SET":{"ID":1,"TARGETS":[
    {"DEST":{"URI":"sip:127.0.0.1:25072","FLAGS":"DX","PRIORITY":5,"ATTRS":{"BODY":
      "weight=30;duid=n2","DUID":"n2","MAXLOAD":0,"WEIGHT":30,"RWEIGHT":0}}},
    {"DEST":{"URI":"sip:127.0.0.1:25071","FLAGS":"AP","PRIORITY":0,"ATTRS":{"BODY":
      "weight=50;duid=n1","DUID":"n1","MAXLOAD":0,"WEIGHT":50,"RWEIGHT":0}}}]}}]})";

} // namespace

CAF_TEST(a dispatcher listing parses into targets with their states) {
  auto parsed = kamailio::parse_dispatcher_listing(nlohmann::json::parse(listing));
  CAF_REQUIRE(parsed);
  CAF_REQUIRE_EQUAL(parsed->size(), 3u);
  const auto& n3 = (*parsed)[0];
  CAF_CHECK_EQUAL(n3.target.set, 2);
  CAF_CHECK_EQUAL(n3.target.state, target_state::inactive);
  CAF_CHECK_EQUAL(n3.flags, "IX");
  const auto& n2 = (*parsed)[1];
  CAF_CHECK_EQUAL(n2.target.state, target_state::disabled);
  CAF_CHECK_EQUAL(n2.target.weight, 30);
  CAF_CHECK_EQUAL(n2.target.priority, 5);
  CAF_CHECK_EQUAL(n2.target.node_id, "n2");
  const auto& n1 = (*parsed)[2];
  CAF_CHECK_EQUAL(n1.target.state, target_state::probing);
  CAF_CHECK_EQUAL(n1.target.uri, "sip:127.0.0.1:25071");
}

CAF_TEST(a listing of another shape is a bad reply) {
  auto parsed = kamailio::parse_dispatcher_listing(nlohmann::json::parse(R"({"RECORDS":[{"X":1}]})"));
  CAF_REQUIRE(!parsed);
  CAF_CHECK_EQUAL(parsed.error().code, kamailio::errc::rpc_bad_reply);
  auto empty = kamailio::parse_dispatcher_listing(nlohmann::json::parse(R"({"NRSETS":0})"));
  CAF_REQUIRE(empty);
  CAF_CHECK(empty->empty());
}

CAF_TEST(the check after a reload names each difference) {
  std::vector<kamailio::dispatcher_target> written(3);
  written[0].uri = "sip:127.0.0.1:25071";
  written[0].weight = 50;
  written[0].node_id = "n1";
  written[1].uri = "sip:127.0.0.1:25072";
  written[1].weight = 30;
  written[1].priority = 5;
  written[1].node_id = "n2";
  written[2].uri = "sip:127.0.0.1:25074";
  written[2].weight = 20;
  written[2].node_id = "n4";
  auto listed = kamailio::parse_dispatcher_listing(nlohmann::json::parse(listing));
  CAF_REQUIRE(listed);
  auto differences = kamailio::listing_differences(written, *listed);
  CAF_REQUIRE_EQUAL(differences.size(), 3u);
  CAF_CHECK_EQUAL(differences[0], "set 1 sip:127.0.0.1:25072 should not be disabled but is disabled");
  CAF_CHECK_EQUAL(differences[1], "set 1 sip:127.0.0.1:25074 is in the list file but not in Kamailio");
  CAF_CHECK_EQUAL(differences[2], "set 2 sip:127.0.0.1:25073 is in Kamailio but not in the list file");
}

CAF_TEST(a call to a socket nobody listens on fails at once) {
  kamailio::rpc_client client{{.socket_path = "/nonexistent/kamailio_rpc.sock", .timeout = 500ms}};
  auto reply = client.call("core.version");
  CAF_REQUIRE(!reply);
  CAF_CHECK_EQUAL(reply.error().code, kamailio::errc::rpc_unavailable);
  CAF_CHECK_NOT_EQUAL(reply.error().message.find("/nonexistent/kamailio_rpc.sock"),
                      std::string::npos);
}

CAF_TEST(a silent server makes the call time out within its budget) {
  auto path = std::filesystem::temp_directory_path()
              / ("callgrid-silent-" + std::to_string(::getpid()) + ".sock");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ::unlink(path.c_str());
  CAF_REQUIRE_EQUAL(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  kamailio::rpc_client client{{.socket_path = path, .timeout = 300ms}};
  auto start = std::chrono::steady_clock::now();
  auto reply = client.call("dispatcher.reload");
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ::unlink(path.c_str());
  CAF_REQUIRE(!reply);
  CAF_CHECK_EQUAL(reply.error().code, kamailio::errc::rpc_timeout);
  CAF_CHECK(took >= 300ms);
  CAF_CHECK(took < 2s);
}
