#define CAF_SUITE config.render

#include <caf/test/unit_test.hpp>

#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

daemon_config busy_config() {
  auto result = test::parse(R"(role = "node"
[node]
name = "n1"
capacity = 12
park_timeout = "1m30s"
[esl]
password = "a \"quoted\" \\ secret"
events = "json"
[database]
conninfo = "host=db password=hunter2-hunter2 dbname=cg"
[edge]
trusted_peers = ["192.0.2.0/24", "2001:db8::/32"]
)");
  if (!result.config)
    CAF_FAIL(test::rendered(result));
  return *result.config;
}

} // namespace

CAF_TEST(the effective configuration parses back to the same configuration) {
  auto config = busy_config();
  auto text = render_effective(config, secrets::shown);
  auto again = test::parse(text);
  if (!again.config)
    CAF_FAIL(test::rendered(again) << "\n" << text);
  CAF_CHECK(*again.config == config);
}

CAF_TEST(the effective configuration masks the ESL password and the database password) {
  auto text = render_effective(busy_config());
  CAF_CHECK(contains(text, "password = \"********\""));
  CAF_CHECK(contains(text, "conninfo = \"host=db password=******** dbname=cg\""));
  CAF_CHECK(!contains(text, "hunter2"));
  CAF_CHECK(!contains(text, "quoted"));
  CAF_CHECK(contains(text, "\n[esl]\n"));
  CAF_CHECK(contains(text, "park_timeout = \"1m30s\""));
  CAF_CHECK(contains(text, "trusted_peers = [\"192.0.2.0/24\", \"2001:db8::/32\"]"));
}

CAF_TEST(passwords in every conninfo form are masked) {
  daemon_config config;
  auto masked = [&](const std::string& conninfo) {
    config.database.conninfo = conninfo;
    auto text = render_effective(config);
    auto start = text.find("conninfo = ");
    return text.substr(start, text.find('\n', start) - start);
  };
  CAF_CHECK_EQUAL(masked("password = 'it\\'s secret' host=x"),
                  "conninfo = \"password = ******** host=x\"");
  CAF_CHECK_EQUAL(masked("postgresql://cg:s3cret@db:5432/callgrid"),
                  "conninfo = \"postgresql://cg:********@db:5432/callgrid\"");
  CAF_CHECK_EQUAL(masked("postgres://db/callgrid?user=cg&password=s3cret&sslmode=require"),
                  "conninfo = \"postgres://db/callgrid?user=cg&password=********"
                  "&sslmode=require\"");
  CAF_CHECK_EQUAL(masked("host=db dbname=cg"), "conninfo = \"host=db dbname=cg\"");
}

CAF_TEST(a diagnostic renders as file line column severity key message and hint) {
  diagnostic problem{severity::error, {"callgridd.toml", 12, 3}, "esl.password", "is empty",
                     "set it"};
  CAF_CHECK_EQUAL(render(problem), "callgridd.toml:12:3: error: esl.password: is empty; set it");
  diagnostic whole_file{severity::error, {"/etc/callgrid/callgridd.toml"}, "",
                        "cannot be read: Permission denied", ""};
  CAF_CHECK_EQUAL(render(whole_file),
                  "/etc/callgrid/callgridd.toml: error: cannot be read: Permission denied");
}

CAF_TEST(changed keys are named in schema order) {
  daemon_config before;
  auto after = before;
  CAF_CHECK(changed_keys(before, after).empty());
  after.log.level = log_level::debug;
  after.node.capacity = 7;
  after.esl.password = "another-secret-value";
  std::vector<std::string> expected{"node.capacity", "esl.password", "log.level"};
  CAF_CHECK_EQUAL(changed_keys(before, after), expected);
}
