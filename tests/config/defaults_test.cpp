#define CAF_SUITE config.defaults

#include <unistd.h>

#include <caf/test/unit_test.hpp>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;
using namespace std::chrono_literals;

namespace {

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0)
    return "";
  return buffer;
}

} // namespace

CAF_TEST(a file with only the ESL password loads without any problem) {
  auto result = test::parse(test::minimal_toml());
  CAF_CHECK(result.problems.empty());
  CAF_MESSAGE(test::rendered(result));
  CAF_REQUIRE(result.config.has_value());
}

CAF_TEST(the defaults of the key schema equal the member defaults of daemon_config) {
  auto result = test::parse(test::minimal_toml());
  CAF_REQUIRE(result.config.has_value());
  daemon_config expected;
  expected.esl.password = std::string{test::good_password};
  expected.node.name = result.config->node.name;
  if (!(*result.config == expected))
    CAF_FAIL("loaded defaults:\n" << render_effective(*result.config, secrets::shown)
                                  << "\ndaemon_config{}:\n"
                                  << render_effective(expected, secrets::shown));
}

CAF_TEST(the defaults are the documented ones) {
  auto result = test::parse(test::minimal_toml());
  CAF_REQUIRE(result.config.has_value());
  const auto& config = *result.config;
  CAF_CHECK(config.role == daemon_role::all);
  CAF_CHECK_EQUAL(config.node.sip_uri, "sip:127.0.0.1:5060");
  CAF_CHECK_EQUAL(config.node.capacity, 1000);
  CAF_CHECK_EQUAL(config.node.park_timeout.count(), 30'000);
  CAF_CHECK_EQUAL(config.esl.host, "127.0.0.1");
  CAF_CHECK_EQUAL(config.esl.port, 8021);
  CAF_CHECK_EQUAL(config.esl.allow_remote, false);
  CAF_CHECK_EQUAL(config.esl.connect_timeout.count(), 5'000);
  CAF_CHECK_EQUAL(config.esl.reconnect_max.count(), 15'000);
  CAF_CHECK(config.esl.events == event_format::plain);
  CAF_CHECK_EQUAL(config.outbound.enabled, true);
  CAF_CHECK_EQUAL(config.outbound.listen, "127.0.0.1");
  CAF_CHECK_EQUAL(config.outbound.port, 8084);
  CAF_CHECK_EQUAL(config.outbound.linger, true);
  CAF_CHECK_EQUAL(config.database.conninfo, "");
  CAF_CHECK_EQUAL(config.records.ship_connections, 2);
  CAF_CHECK_EQUAL(config.redis.enabled, true);
  CAF_CHECK_EQUAL(config.redis.port, 6379);
  CAF_CHECK_EQUAL(config.redis.timeout.count(), 50);
  CAF_CHECK_EQUAL(config.records.spool_dir, "/var/spool/callgrid/records");
  CAF_CHECK_EQUAL(config.records.batch_size, 1000);
  CAF_CHECK_EQUAL(config.records.max_delay.count(), 200);
  CAF_CHECK_EQUAL(config.records.group_window.count(), 100);
  CAF_CHECK_EQUAL(config.records.retry_max.count(), 10'000);
  CAF_CHECK_EQUAL(config.http.listen, "127.0.0.1");
  CAF_CHECK_EQUAL(config.http.port, 9464);
  CAF_CHECK_EQUAL(config.http.allow_remote, false);
  CAF_CHECK(config.log.level == log_level::info);
  CAF_CHECK(config.log.format == log_format::automatic);
  CAF_CHECK_EQUAL(config.scheduler.threads, 1);
  CAF_CHECK(config.scheduler.policy == scheduler_policy::io);
  CAF_CHECK_EQUAL(config.ivr.default_language, "en");
}

CAF_TEST(an empty node name becomes the host name) {
  auto result = test::parse(test::minimal_toml());
  CAF_REQUIRE(result.config.has_value());
  auto expected = host_name();
  CAF_REQUIRE(!expected.empty());
  CAF_CHECK_EQUAL(result.config->node.name, expected);
}

CAF_TEST(every key is documented with a description and a default or is required) {
  std::size_t required = 0;
  for (const auto& spec : key_schema()) {
    CAF_CHECK(!spec.description.empty());
    CAF_CHECK(spec.store != nullptr);
    CAF_CHECK(spec.load != nullptr);
    if (spec.default_toml.empty())
      ++required;
    if (spec.kind == value_kind::integer || spec.kind == value_kind::duration)
      CAF_CHECK_LESS(spec.min, spec.max);
    if (spec.kind == value_kind::choice)
      CAF_CHECK(!spec.choices.empty());
  }
  // Only the ESL password has no default.
  CAF_CHECK_EQUAL(required, 1u);
  const auto* password = find_key("esl.password");
  CAF_REQUIRE(password != nullptr);
  CAF_CHECK(password->default_toml.empty());
}
