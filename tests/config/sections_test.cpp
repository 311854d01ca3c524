#define CAF_SUITE config.sections

#include <caf/test/unit_test.hpp>

#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

namespace {

daemon_config load_ok(const std::string& text) {
  auto result = test::parse(text);
  if (!result.config)
    CAF_FAIL("configuration refused:\n" << test::rendered(result));
  CAF_CHECK(result.problems.empty());
  return *result.config;
}

} // namespace

CAF_TEST(role selects what the daemon runs) {
  for (auto [word, role] : {std::pair{"node", daemon_role::node},
                            std::pair{"coordinator", daemon_role::coordinator},
                            std::pair{"all", daemon_role::all}}) {
    auto config = load_ok("role = \"" + std::string{word} + "\"\n" + test::minimal_toml());
    CAF_CHECK(config.role == role);
    CAF_CHECK_EQUAL(to_string(config.role), word);
  }
}

CAF_TEST(the node section sets identity and call limits) {
  auto config = load_ok(test::minimal_toml() + R"(
[node]
name = "fs-berlin-1"
sip_uri = "sip:10.0.0.5:5080"
capacity = 250
park_timeout = "45s"
answer_timeout = "1m30s"
)");
  node_settings expected{"fs-berlin-1", "sip:10.0.0.5:5080", 250, std::chrono::seconds{45},
                         std::chrono::seconds{90}};
  CAF_CHECK(config.node == expected);
}

CAF_TEST(the esl section sets the inbound link) {
  auto config = load_ok(R"(
[esl]
host = "::1"
port = 18021
password = "a-very-long-secret"
allow_remote = true
connect_timeout = "2s"
reconnect_max = "1m"
events = "json"
)");
  esl_settings expected{"::1",     18021, "a-very-long-secret", true, std::chrono::seconds{2},
                        std::chrono::minutes{1}, event_format::json};
  CAF_CHECK(config.esl == expected);
}

CAF_TEST(the outbound section sets the socket listener) {
  auto config = load_ok(test::minimal_toml() + R"(
[outbound]
enabled = false
listen = "127.0.0.2"
port = 9084
linger = false
allow_remote = true
)");
  outbound_settings expected{false, "127.0.0.2", 9084, false, true};
  CAF_CHECK(config.outbound == expected);
}

CAF_TEST(the database section sets the PostgreSQL connection) {
  auto config = load_ok(test::minimal_toml() + R"(
[database]
conninfo = "host=/run/postgresql dbname=callgrid"
connect_timeout = "10s"
)");
  database_settings expected{"host=/run/postgresql dbname=callgrid", std::chrono::seconds{10}};
  CAF_CHECK(config.database == expected);
}

CAF_TEST(the redis section sets the Redis client) {
  auto config = load_ok(test::minimal_toml() + R"(
[redis]
enabled = false
host = "redis.internal"
port = 6380
timeout = "20ms"
)");
  redis_settings expected{false, "redis.internal", 6380, std::chrono::milliseconds{20}};
  CAF_CHECK(config.redis == expected);
}

CAF_TEST(the records section sets the spool and the batcher) {
  auto config = load_ok(test::minimal_toml() + R"(
[records]
spool_dir = "/srv/callgrid/spool"
batch_size = 5000
max_delay = "1s"
retry_max = "1m"
group_window = "20ms"
ship_connections = 3
)");
  records_settings expected{"/srv/callgrid/spool", 5000, std::chrono::seconds{1},
                            std::chrono::minutes{1}, std::chrono::milliseconds{20}, 3};
  CAF_CHECK(config.records == expected);
}

CAF_TEST(the http section sets the metrics and admin listener) {
  auto config = load_ok(test::minimal_toml() + R"(
[http]
listen = "0.0.0.0"
port = 8080
allow_remote = true
)");
  http_settings expected{"0.0.0.0", 8080, true};
  CAF_CHECK(config.http == expected);
}

CAF_TEST(the log section sets level and format) {
  auto config = load_ok(test::minimal_toml() + "[log]\nlevel = \"debug\"\nformat = \"json\"\n");
  CAF_CHECK(config.log.level == log_level::debug);
  CAF_CHECK(config.log.format == log_format::json);
}

CAF_TEST(the scheduler section pins the CAF scheduler) {
  auto config = load_ok(test::minimal_toml()
                        + "[scheduler]\nthreads = 4\npolicy = \"stealing\"\n");
  CAF_CHECK_EQUAL(config.scheduler.threads, 4);
  CAF_CHECK(config.scheduler.policy == scheduler_policy::stealing);
}

CAF_TEST(the ivr section sets the default language) {
  auto config = load_ok(test::minimal_toml() + R"(
[ivr]
default_language = "de-CH"
)");
  CAF_CHECK_EQUAL(config.ivr.default_language, "de-CH");
}

CAF_TEST(dotted keys and inline tables work like sections) {
  auto config = load_ok("node.capacity = 7\nredis = { port = 7000 }\n" + test::minimal_toml());
  CAF_CHECK_EQUAL(config.node.capacity, 7);
  CAF_CHECK_EQUAL(config.redis.port, 7000);
}

CAF_TEST(a coordinator needs no event socket password but a node does) {
  auto coordinator = test::parse("role = \"coordinator\"\n");
  CAF_CHECK(coordinator.config.has_value());
  auto node = test::parse("role = \"node\"\n");
  CAF_CHECK(!node.config.has_value());
  CAF_CHECK_EQUAL(test::problem_about(node, "esl.password").key, "esl.password");
}

CAF_TEST(the cluster and edge sections set membership and Kamailio settings) {
  auto config = load_ok(test::minimal_toml() + R"(
[cluster]
port = 4800
coordinators = ["10.0.0.2:4800", "10.0.0.3:4800"]
suspect_after = "2s"
down_after = "6s"
drain_deadline = "1h"
[edge]
enabled = false
algorithm = "round_robin"
trusted_peers = ["192.0.2.0/24"]
)");
  CAF_CHECK_EQUAL(config.cluster.port, 4800);
  CAF_CHECK_EQUAL(config.cluster.coordinators.size(), 2u);
  CAF_CHECK(config.cluster.down_after == std::chrono::seconds{6});
  CAF_CHECK(config.cluster.drain_deadline == std::chrono::hours{1});
  CAF_CHECK(!config.edge.enabled);
  CAF_CHECK(config.edge.algorithm == dispatcher_algorithm::round_robin);
}

CAF_TEST(a node cannot be down before it is suspect and a coordinator address needs a port) {
  auto result = test::parse(test::minimal_toml() + R"(
[cluster]
suspect_after = "5s"
down_after = "5s"
coordinators = ["10.0.0.2"]
)");
  CAF_CHECK(!result.config.has_value());
  CAF_CHECK_EQUAL(test::problem_about(result, "cluster.down_after").key, "cluster.down_after");
  CAF_CHECK_EQUAL(test::problem_about(result, "cluster.coordinators").key,
                  "cluster.coordinators");
}
