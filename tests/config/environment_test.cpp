#define CAF_SUITE config.environment

#include <cstdlib>
#include <set>

#include <caf/test/unit_test.hpp>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

CAF_TEST(the environment name of a key is CALLGRID_ plus the dotted name in upper case) {
  CAF_CHECK_EQUAL(env_name("esl.connect_timeout"), "CALLGRID_ESL_CONNECT_TIMEOUT");
  CAF_CHECK_EQUAL(env_name("role"), "CALLGRID_ROLE");
}

CAF_TEST(no two keys share an environment variable) {
  std::set<std::string> seen;
  for (const auto& spec : key_schema()) {
    auto name = env_name(spec.name);
    if (!seen.insert(name).second)
      CAF_FAIL(spec.name << " maps to " << name << " like an earlier key");
  }
  CAF_CHECK_EQUAL(seen.size(), key_schema().size());
}

CAF_TEST(an environment variable overrides the file) {
  auto result = test::parse(test::minimal_toml() + "port = 9000\n",
                            {{"CALLGRID_ESL_PORT", "9100"}});
  CAF_REQUIRE(result.config.has_value());
  CAF_CHECK_EQUAL(result.config->esl.port, 9100);
}

CAF_TEST(environment values are parsed as the type of their key) {
  auto result = test::parse("", {{"CALLGRID_ESL_PASSWORD", "from-the-environment"},
                                 {"CALLGRID_ESL_ALLOW_REMOTE", "true"},
                                 {"CALLGRID_ESL_HOST", "10.0.0.9"},
                                 {"CALLGRID_NODE_PARK_TIMEOUT", "2m"},
                                 {"CALLGRID_LOG_LEVEL", "warn"},
                                 {"CALLGRID_OUTBOUND_ENABLED", "0"},
                                 {"CALLGRID_CLUSTER_COORDINATORS", "10.0.0.2:4710,10.0.0.3:4711"},
                                 {"CALLGRID_RECORDS_BATCH_SIZE", "250"}});
  if (!result.config)
    CAF_FAIL(test::rendered(result));
  const auto& config = *result.config;
  CAF_CHECK_EQUAL(config.esl.password, "from-the-environment");
  CAF_CHECK_EQUAL(config.esl.allow_remote, true);
  CAF_CHECK_EQUAL(config.esl.host, "10.0.0.9");
  CAF_CHECK_EQUAL(config.node.park_timeout.count(), 120'000);
  CAF_CHECK(config.log.level == log_level::warn);
  CAF_CHECK_EQUAL(config.outbound.enabled, false);
  std::vector<std::string> coordinators{"10.0.0.2:4710", "10.0.0.3:4711"};
  CAF_CHECK_EQUAL(config.cluster.coordinators, coordinators);
  CAF_CHECK_EQUAL(config.records.batch_size, 250);
}

CAF_TEST(an empty environment list clears the list of the file) {
  auto result = test::parse(test::minimal_toml() + "[edge]\ntrusted_peers = [\"10.1.0.0/16\"]\n",
                            {{"CALLGRID_EDGE_TRUSTED_PEERS", ""}});
  CAF_REQUIRE(result.config.has_value());
  CAF_CHECK(result.config->edge.trusted_peers.empty());
}

CAF_TEST(a bad environment value names the variable) {
  auto result = test::parse(test::minimal_toml(), {{"CALLGRID_ESL_PORT", "80x"},
                                                   {"CALLGRID_REDIS_TIMEOUT", "50"},
                                                   {"CALLGRID_HTTP_ALLOW_REMOTE", "yes"}});
  CAF_CHECK(!result.config.has_value());
  CAF_CHECK_EQUAL(result.problems.size(), 3u);
  auto port = test::problem_about(result, "esl.port");
  CAF_CHECK_EQUAL(port.where.file, "environment variable CALLGRID_ESL_PORT");
  CAF_CHECK_EQUAL(port.message, "\"80x\" is not an integer");
  CAF_CHECK_EQUAL(render(port), "environment variable CALLGRID_ESL_PORT: error: esl.port: "
                                "\"80x\" is not an integer; write a decimal number, e.g. 1");
  CAF_CHECK_EQUAL(test::problem_about(result, "redis.timeout").where.file,
                  "environment variable CALLGRID_REDIS_TIMEOUT");
  CAF_CHECK_EQUAL(test::problem_about(result, "http.allow_remote").message,
                  "\"yes\" is not a boolean");
}

CAF_TEST(a retired environment variable is a warning with what to use instead) {
  auto result = test::parse(test::minimal_toml(), {{"CALLGRID_DATABASE_POOL_SIZE", "8"}});
  CAF_REQUIRE(result.config.has_value());
  auto problem = test::problem_about(result, "database.pool_size");
  CAF_CHECK(problem.level == severity::warning);
  CAF_CHECK_EQUAL(problem.where.file, "environment variable CALLGRID_DATABASE_POOL_SIZE");
  CAF_CHECK(problem.hint.find("records.ship_connections") != std::string::npos);
}

CAF_TEST(a safety refusal of an environment value points at the variable) {
  auto result = test::parse("", {{"CALLGRID_ESL_PASSWORD", "ClueCon"}});
  auto problem = test::problem_about(result, "esl.password");
  CAF_CHECK_EQUAL(problem.where.file, "environment variable CALLGRID_ESL_PASSWORD");
}

CAF_TEST(an unknown CALLGRID_ variable is a warning and the configuration still loads) {
  auto result = test::parse(test::minimal_toml(), {{"CALLGRID_TEST_DATA", "/tmp/x"},
                                                   {"CALLGRID_ESL_PASWORD", "x"},
                                                   {"HOME", "/root"}});
  CAF_CHECK(result.config.has_value());
  CAF_REQUIRE_EQUAL(result.problems.size(), 2u);
  for (const auto& problem : result.problems)
    CAF_CHECK(problem.level == severity::warning);
  auto typo = std::find_if(result.problems.begin(), result.problems.end(), [](const auto& d) {
    return d.message.starts_with("CALLGRID_ESL_PASWORD");
  });
  CAF_REQUIRE(typo != result.problems.end());
  CAF_CHECK_EQUAL(typo->hint, "did you mean CALLGRID_ESL_PASSWORD?");
  CAF_CHECK(render(*typo).find("warning") != std::string::npos);
}

CAF_TEST(the process environment is read from environ) {
  auto env = process_environment();
  const char* path = std::getenv("PATH");
  CAF_REQUIRE(path != nullptr);
  CAF_CHECK_EQUAL(env["PATH"], path);
}

CAF_TEST(the automatic log format is JSON under systemd and text on a terminal) {
  CAF_CHECK(effective_log_format(log_format::automatic, {{"JOURNAL_STREAM", "8:1234"}})
            == log_format::json);
  CAF_CHECK(effective_log_format(log_format::automatic, {}) == log_format::text);
  CAF_CHECK(effective_log_format(log_format::text, {{"JOURNAL_STREAM", "8:1234"}})
            == log_format::text);
}
