#define CAF_SUITE config.safety

#include <caf/test/unit_test.hpp>

#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

namespace {

load_result with_password(const std::string& password, const std::string& more = "") {
  return test::parse("[esl]\npassword = \"" + password + "\"\n" + more);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(the default password of FreeSWITCH is refused in any case) {
  for (std::string password : {"ClueCon", "cluecon", "CLUECON"}) {
    auto result = with_password(password);
    CAF_CHECK(!result.config.has_value());
    CAF_REQUIRE_EQUAL(result.problems.size(), 1u);
    const auto problem = result.problems.front();
    CAF_CHECK_EQUAL(problem.key, "esl.password");
    CAF_CHECK_EQUAL(problem.message, "is FreeSWITCH's default password \"ClueCon\"");
    CAF_CHECK_EQUAL(problem.where.line, 2);
  }
}

CAF_TEST(an empty password is refused) {
  auto result = with_password("");
  CAF_CHECK(!result.config.has_value());
  CAF_CHECK_EQUAL(test::problem_about(result, "esl.password").message, "is empty");
}

CAF_TEST(a password shorter than 12 characters is refused and 12 are enough) {
  auto short_one = with_password("abcdefghijk");
  CAF_CHECK(!short_one.config.has_value());
  auto problem = test::problem_about(short_one, "esl.password");
  CAF_CHECK_EQUAL(problem.message, "is shorter than 12 characters");
  CAF_CHECK(contains(problem.hint, "event_socket.conf.xml"));
  // Characters, not bytes: eleven umlauts are 22 bytes but still too short.
  CAF_CHECK(!with_password("ääääääääääß").config.has_value());
  CAF_CHECK(with_password("abcdefghijkl").config.has_value());
}

CAF_TEST(a missing password is refused and the hint names the environment variable) {
  auto result = test::parse("role = \"node\"\n");
  CAF_CHECK(!result.config.has_value());
  auto problem = test::problem_about(result, "esl.password");
  CAF_CHECK_EQUAL(problem.message, "is required but not set");
  CAF_CHECK(contains(problem.hint, "CALLGRID_ESL_PASSWORD"));
  CAF_CHECK(contains(problem.hint, "[esl]"));
}

CAF_TEST(a remote ESL host is refused unless allowed) {
  auto refused = test::parse(test::minimal_toml() + "host = \"10.1.2.3\"\n");
  CAF_CHECK(!refused.config.has_value());
  auto problem = test::problem_about(refused, "esl.host");
  CAF_CHECK_EQUAL(problem.message, "\"10.1.2.3\" is not a loopback address");
  CAF_CHECK(contains(problem.hint, "esl.allow_remote = true"));
  CAF_CHECK_EQUAL(problem.where.line, 3);
  auto allowed = test::parse(test::minimal_toml() + "host = \"10.1.2.3\"\nallow_remote = true\n");
  CAF_CHECK(allowed.config.has_value());
  auto by_name = test::parse(test::minimal_toml() + "host = \"fs1.example.net\"\n");
  CAF_CHECK(!by_name.config.has_value());
}

CAF_TEST(every loopback form is accepted for the ESL host) {
  for (std::string host : {"127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"}) {
    auto result = test::parse(test::minimal_toml() + "host = \"" + host + "\"\n");
    CAF_CHECK(result.config.has_value());
    CAF_CHECK(result.problems.empty());
  }
}

CAF_TEST(a non-loopback HTTP listener is refused unless allowed) {
  auto refused = test::parse(test::minimal_toml() + "[http]\nlisten = \"0.0.0.0\"\n");
  CAF_CHECK(!refused.config.has_value());
  auto problem = test::problem_about(refused, "http.listen");
  CAF_CHECK_EQUAL(problem.message, "\"0.0.0.0\" is not a loopback address");
  CAF_CHECK(contains(problem.hint, "http.allow_remote = true"));
  auto allowed = test::parse(test::minimal_toml()
                             + "[http]\nlisten = \"0.0.0.0\"\nallow_remote = true\n");
  CAF_CHECK(allowed.config.has_value());
}

CAF_TEST(a non-loopback outbound listener is refused only while the listener is enabled) {
  auto refused = test::parse(test::minimal_toml() + "[outbound]\nlisten = \"::\"\n");
  CAF_CHECK_EQUAL(test::problem_about(refused, "outbound.listen").message,
                  "\"::\" is not a loopback address");
  auto disabled = test::parse(test::minimal_toml()
                              + "[outbound]\nlisten = \"::\"\nenabled = false\n");
  CAF_CHECK(disabled.config.has_value());
}

CAF_TEST(the HTTP and outbound listeners cannot share a port) {
  auto result = test::parse(test::minimal_toml() + "[http]\nport = 8084\n");
  CAF_CHECK(!result.config.has_value());
  CAF_CHECK_EQUAL(test::problem_about(result, "http.port").message,
                  "8084 is also outbound.port on the same address");
  CAF_CHECK_EQUAL(test::problem_about(result, "http.port").where.line, 4);
  auto outbound = test::parse(test::minimal_toml() + "[outbound]\nport = 9464\n");
  CAF_CHECK_EQUAL(test::problem_about(outbound, "outbound.port").message,
                  "9464 is also http.port on the same address");
  auto apart = test::parse(test::minimal_toml()
                           + "[outbound]\nport = 9464\nlisten = \"127.0.0.2\"\n");
  CAF_CHECK(apart.config.has_value());
}

CAF_TEST(all safety refusals are reported together) {
  auto result = test::parse(R"([esl]
password = "ClueCon"
host = "192.0.2.1"
[http]
listen = "192.0.2.1"
)");
  CAF_CHECK_EQUAL(result.problems.size(), 3u);
  CAF_CHECK(!test::problem_about(result, "esl.password").message.empty());
  CAF_CHECK(!test::problem_about(result, "esl.host").message.empty());
  CAF_CHECK(!test::problem_about(result, "http.listen").message.empty());
}
