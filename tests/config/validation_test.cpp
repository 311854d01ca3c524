#define CAF_SUITE config.validation

#include <caf/test/unit_test.hpp>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(a misspelt key is refused with its position and the key it was probably meant to be) {
  auto result = test::parse("[esl]\npassword = \"x7Rq-b41s-Lm2Z\"\n  pasword = \"x\"\n");
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE_EQUAL(result.problems.size(), 1u);
  const auto problem = result.problems.front();
  CAF_CHECK(problem.level == severity::error);
  CAF_CHECK_EQUAL(problem.key, "esl.pasword");
  CAF_CHECK_EQUAL(problem.where.file, "callgridd.toml");
  CAF_CHECK_EQUAL(problem.where.line, 3);
  CAF_CHECK_EQUAL(problem.where.column, 3);
  CAF_CHECK_EQUAL(problem.message, "unknown key");
  CAF_CHECK_EQUAL(problem.hint, "did you mean esl.password?");
  CAF_CHECK_EQUAL(render(problem), "callgridd.toml:3:3: error: esl.pasword: unknown key; did you "
                                   "mean esl.password?");
}

CAF_TEST(a key in the wrong section points to the sections that have it) {
  auto result = test::parse(test::minimal_toml() + "[node]\nport = 5060\n");
  auto problem = test::problem_about(result, "node.port");
  CAF_CHECK_EQUAL(problem.message, "unknown key");
  CAF_CHECK(contains(problem.hint, "esl.port"));
  CAF_CHECK(contains(problem.hint, "http.port"));
}

CAF_TEST(an unknown key without a near miss lists the keys of its section) {
  auto result = test::parse(test::minimal_toml() + "[log]\ncolour = true\n");
  auto problem = test::problem_about(result, "log.colour");
  CAF_CHECK_EQUAL(problem.message, "unknown key");
  CAF_CHECK_EQUAL(problem.hint, "the keys of [log] are level, format");
}

CAF_TEST(a retired key is refused with what to use instead) {
  auto result = test::parse(test::minimal_toml()
                            + "[database]\npool_size = 8\n[ivr]\nflow_files = [\"/a.yaml\"]\n");
  CAF_CHECK(!result.config.has_value());
  auto pool = test::problem_about(result, "database.pool_size");
  CAF_CHECK_EQUAL(pool.message, "is no longer a configuration key");
  CAF_CHECK(contains(pool.hint, "records.ship_connections"));
  auto flows = test::problem_about(result, "ivr.flow_files");
  CAF_CHECK_EQUAL(flows.message, "is no longer a configuration key");
  CAF_CHECK(contains(flows.hint, "callgridctl flow import"));
}

CAF_TEST(an unknown section is refused once with a suggestion) {
  auto result = test::parse(test::minimal_toml() + "[esll]\nhost = \"x\"\nport = 1\n");
  CAF_REQUIRE_EQUAL(result.problems.size(), 1u);
  const auto problem = result.problems.front();
  CAF_CHECK_EQUAL(problem.key, "esll");
  CAF_CHECK_EQUAL(problem.message, "unknown section");
  CAF_CHECK_EQUAL(problem.hint, "did you mean [esl]?");
  CAF_CHECK_EQUAL(problem.where.line, 3);
}

CAF_TEST(a section written as a value is refused) {
  auto result = test::parse("log = \"debug\"\n" + test::minimal_toml());
  auto problem = test::problem_about(result, "log");
  CAF_CHECK_EQUAL(problem.message, "is a section, not a value");
  CAF_CHECK(!result.config.has_value());
}

CAF_TEST(a value of the wrong type is refused at the position of the value) {
  auto result = test::parse(test::minimal_toml() + "port = \"8021\"\n");
  auto problem = test::problem_about(result, "esl.port");
  CAF_CHECK_EQUAL(problem.message, "expects an integer, got a string");
  CAF_CHECK_EQUAL(problem.hint, "write the value without quotes");
  CAF_CHECK_EQUAL(problem.where.line, 3);
  CAF_CHECK_EQUAL(problem.where.column, 8);
  CAF_CHECK(!result.config.has_value());
}

CAF_TEST(a boolean written as a string and a string written bare are refused) {
  auto result = test::parse(test::minimal_toml() + "allow_remote = \"yes\"\n[log]\nlevel = 3\n");
  CAF_CHECK_EQUAL(test::problem_about(result, "esl.allow_remote").message,
                  "expects true or false, got a string");
  CAF_CHECK_EQUAL(test::problem_about(result, "log.level").message,
                  "expects a string, got an integer");
}

CAF_TEST(a duration written as a number is refused with a hint to add a unit) {
  auto result = test::parse(test::minimal_toml() + "[node]\npark_timeout = 30\n");
  auto problem = test::problem_about(result, "node.park_timeout");
  CAF_CHECK(contains(problem.message, "expects a duration"));
  CAF_CHECK(contains(problem.hint, "\"30s\""));
}

CAF_TEST(bad durations are refused) {
  for (std::string text : {"5", "5 s", "1.5s", "5sec", "-5s", "s", "", "30s1m", "1s1s",
                           "99999999999999999999ms"}) {
    auto result = test::parse(test::minimal_toml() + "connect_timeout = \"" + text + "\"\n");
    auto problem = test::problem_about(result, "esl.connect_timeout");
    CAF_CHECK_EQUAL(problem.message, "\"" + text + "\" is not a duration");
    CAF_CHECK(!result.config.has_value());
  }
}

CAF_TEST(durations take hours minutes seconds and milliseconds) {
  CAF_CHECK_EQUAL(parse_duration("250ms")->count(), 250);
  CAF_CHECK_EQUAL(parse_duration("5s")->count(), 5'000);
  CAF_CHECK_EQUAL(parse_duration("2m")->count(), 120'000);
  CAF_CHECK_EQUAL(parse_duration("1h")->count(), 3'600'000);
  CAF_CHECK_EQUAL(parse_duration("1m30s")->count(), 90'000);
  CAF_CHECK_EQUAL(parse_duration("1h2m3s4ms")->count(), 3'723'004);
  CAF_CHECK(!parse_duration("2m1h"));
  CAF_CHECK_EQUAL(format_duration(std::chrono::milliseconds{90'000}), "1m30s");
  CAF_CHECK_EQUAL(format_duration(std::chrono::milliseconds{250}), "250ms");
  CAF_CHECK_EQUAL(format_duration(std::chrono::hours{1}), "1h");
}

CAF_TEST(out of range values are refused with the allowed range) {
  auto result = test::parse(test::minimal_toml() + R"(port = 70000
[node]
capacity = 0
park_timeout = "0s"
[scheduler]
threads = -1
)");
  CAF_CHECK_EQUAL(test::problem_about(result, "esl.port").message, "70000 is out of range");
  CAF_CHECK_EQUAL(test::problem_about(result, "esl.port").hint, "use a value from 1 to 65535");
  CAF_CHECK_EQUAL(test::problem_about(result, "node.capacity").message, "0 is out of range");
  CAF_CHECK_EQUAL(test::problem_about(result, "node.park_timeout").hint,
                  "use a duration from 1s to 1h");
  CAF_CHECK_EQUAL(test::problem_about(result, "scheduler.threads").message,
                  "-1 is out of range");
  CAF_CHECK_EQUAL(result.problems.size(), 4u);
}

CAF_TEST(a word that is not one of the choices is refused with the choices) {
  auto result = test::parse(test::minimal_toml() + "events = \"xml\"\n[log]\nlevel = \"inf\"\n");
  auto events = test::problem_about(result, "esl.events");
  CAF_CHECK_EQUAL(events.message, "\"xml\" is not one of plain, json");
  CAF_CHECK_EQUAL(events.hint, "");
  auto level = test::problem_about(result, "log.level");
  CAF_CHECK_EQUAL(level.hint, "did you mean \"info\"?");
}

CAF_TEST(malformed strings are refused by the check of their key) {
  auto result = test::parse(test::minimal_toml() + R"(host = "127.0.0.1:8021"
[node]
sip_uri = "10.0.0.5:5060"
[ivr]
default_language = "1"
[edge]
trusted_peers = ["10.0.0.0/8", ""]
[records]
spool_dir = ""
)");
  CAF_CHECK_EQUAL(test::problem_about(result, "esl.host").hint,
                  "write the address alone; the port is a key of its own");
  CAF_CHECK(contains(test::problem_about(result, "node.sip_uri").message, "is not a SIP URI"));
  auto peers = test::problem_about(result, "edge.trusted_peers");
  CAF_CHECK_EQUAL(peers.message, "element \"\": is empty");
  CAF_CHECK_EQUAL(peers.where.column, 32);
  CAF_CHECK(contains(test::problem_about(result, "ivr.default_language").message,
                     "not a language tag"));
  CAF_CHECK_EQUAL(test::problem_about(result, "records.spool_dir").message, "is empty");
}

CAF_TEST(every problem of a file is reported at once in file order) {
  auto result = test::parse(R"(role = "leader"
[esl]
password = "ClueCon"
port = "x"
colour = 1
[redis]
timeout = "fast"
[nope]
)");
  CAF_CHECK(!result.config.has_value());
  std::vector<std::string> keys;
  for (const auto& problem : result.problems)
    keys.push_back(problem.key);
  std::vector<std::string> expected{"role",          "esl.port", "esl.colour",
                                    "redis.timeout", "nope",     "esl.password"};
  CAF_CHECK_EQUAL(keys, expected);
  CAF_MESSAGE(test::rendered(result));
}

CAF_TEST(a TOML syntax error is reported with line and column) {
  auto result = test::parse("[esl]\nport = = 1\n");
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE(!result.problems.empty());
  const auto problem = result.problems.front();
  CAF_CHECK_EQUAL(problem.where.file, "callgridd.toml");
  CAF_CHECK_EQUAL(problem.where.line, 2);
  CAF_CHECK_GREATER(problem.where.column, 0);
  CAF_CHECK(problem.message.starts_with("TOML syntax error: "));
  CAF_CHECK(render(problem).starts_with("callgridd.toml:2:"));
}

CAF_TEST(a duplicate key is a syntax error) {
  auto result = test::parse(test::minimal_toml() + "port = 1\nport = 2\n");
  CAF_REQUIRE(!result.problems.empty());
  const auto problem = result.problems.front();
  CAF_CHECK_EQUAL(problem.where.line, 4);
  CAF_CHECK(problem.message.starts_with("TOML syntax error: "));
}
