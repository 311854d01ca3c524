#define CAF_SUITE fsemu.config

#include <caf/test/unit_test.hpp>

#include <string>

#include "fsemu_config.hpp"

using namespace callgrid;

namespace {

// fsemu's TOML configuration: what it sets, and every problem reported with file:line:column
// and the key, never a crash.

fsemu::config_load_result parse(const std::string& text) {
  return fsemu::parse_config(text, "test.toml");
}

/// The single problem of `text`, rendered; fails the test when there is not exactly one.
std::string only_problem(const std::string& text) {
  auto result = parse(text);
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE_EQUAL(result.problems.size(), 1u);
  return result.problems[0].to_string();
}

} // namespace

CAF_TEST(the example configurations load without problems) {
  for (const auto* name : {"ivr_demo.toml", "minimal.toml"}) {
    auto result = fsemu::load_config(std::string{FSEMU_EXAMPLES_DIR} + "/" + name);
    for (const auto& p : result.problems)
      CAF_MESSAGE(p.to_string());
    CAF_CHECK(result.problems.empty());
    CAF_CHECK(result.config.has_value());
  }
}

CAF_TEST(a full configuration sets the switch dialplan prompts and callers) {
  auto result = parse(R"(
[switch]
hostname = "fs-test"
max_sessions = 50
heartbeat = "5s"
esl_port = 8022
esl_password = "secret"
sip_port = 5080
sip_context = "public"

[[dialplan]]
destination = "2000"
action = "park"

[[dialplan]]
regex = "^3\\d{3}$"
context = "public"
socket = "127.0.0.1:9000"

[prompts]
default = "2s"
"ivr/welcome.wav" = "3.5s"

[[callers]]
name = "happy"
destination = "2000"
caller_id = "5551000"
rate = 2.5
concurrency = 3
total = 10
answer_timeout = "4s"
variables = { park_timeout = 30 }
script = [ { wait_prompt = 1 }, { press = "12#", digit_interval = "150ms" },
           { pause = "1s" }, "hangup" ]
)");
  for (const auto& p : result.problems)
    CAF_MESSAGE(p.to_string());
  CAF_REQUIRE(result.config.has_value());
  const auto& c = *result.config;
  CAF_CHECK_EQUAL(c.hostname.value_or(""), "fs-test");
  CAF_CHECK_EQUAL(c.max_sessions.value_or(0), 50u);
  CAF_CHECK_EQUAL(c.heartbeat_us.value_or(0), 5'000'000);
  CAF_CHECK_EQUAL(c.esl_port.value_or(0), 8022);
  CAF_CHECK_EQUAL(c.sip_port.value_or(0), 5080);
  CAF_CHECK_EQUAL(c.sip_context.value_or(""), "public");
  CAF_REQUIRE_EQUAL(c.dialplan.size(), 2u);
  CAF_CHECK_EQUAL(c.dialplan[1].destination_regex, "^3\\d{3}$");
  CAF_CHECK(c.dialplan[1].action == fsemu::extension_action::socket);
  CAF_CHECK_EQUAL(c.dialplan[1].socket_address, "127.0.0.1:9000");
  CAF_REQUIRE_EQUAL(c.callers.size(), 1u);
  const auto& s = c.callers[0];
  CAF_CHECK_EQUAL(s.rate, 2.5);
  CAF_CHECK_EQUAL(s.total, 10u);
  CAF_CHECK_EQUAL(s.answer_timeout_us, 4'000'000);
  CAF_REQUIRE_EQUAL(s.variables.size(), 1u);
  CAF_CHECK_EQUAL(s.variables[0].value, "30");
  CAF_REQUIRE_EQUAL(s.scripts.size(), 1u);
  CAF_REQUIRE_EQUAL(s.scripts[0].steps.size(), 4u);
  CAF_CHECK(s.scripts[0].steps[1].what == fsemu::script_step::kind::press);
  CAF_CHECK_EQUAL(s.scripts[0].steps[1].interval_us, 150'000);
  CAF_CHECK(s.scripts[0].steps[3].what == fsemu::script_step::kind::hangup);

  // Applied to a switch: file entries first, the built-in ones kept; prompt lengths set.
  fsemu::switch_config config;
  c.apply_to(config);
  CAF_REQUIRE_EQUAL(config.dialplan.size(), 5u);
  CAF_CHECK_EQUAL(config.dialplan[0].destination, "2000");
  CAF_CHECK_EQUAL(config.dialplan[2].destination, "1000");
  CAF_CHECK_EQUAL(config.file_playback_us, 2'000'000);
  CAF_CHECK_EQUAL(config.prompt_lengths_us.at("ivr/welcome.wav"), 3'500'000);
  CAF_CHECK_EQUAL(config.identity.hostname, "fs-test");
  CAF_CHECK_EQUAL(config.heartbeat_interval_us, 5'000'000);
}

CAF_TEST(replace_default_dialplan drops the built-in extensions) {
  auto result = parse("[switch]\nreplace_default_dialplan = true\n[[dialplan]]\n"
                      "destination = \"5\"\n");
  CAF_REQUIRE(result.config.has_value());
  fsemu::switch_config config;
  result.config->apply_to(config);
  CAF_REQUIRE_EQUAL(config.dialplan.size(), 1u);
  CAF_CHECK_EQUAL(config.dialplan[0].destination, "5");
}

CAF_TEST(an unknown key is reported with its location and the known keys) {
  CAF_CHECK_EQUAL(only_problem("[switch]\nhostnme = \"x\"\n"),
                  "test.toml:2:1: key 'switch.hostnme': unknown key (known: hostname, "
                  "max_sessions, heartbeat, listen, esl_port, esl_password, socket_target, "
                  "run_callers, replace_default_dialplan, sip_port, sip_context, sounds_dir)");
  auto top = only_problem("[swtich]\nhostname = \"x\"\n");
  CAF_CHECK_EQUAL(top.substr(0, 30), "test.toml:1:2: key 'swtich': u");
}

CAF_TEST(bad values are reported with their location and key) {
  CAF_CHECK_EQUAL(only_problem("[switch]\nmax_sessions = 0\n"),
                  "test.toml:2:16: key 'switch.max_sessions': must be between 1 and 10000000");
  CAF_CHECK_EQUAL(only_problem("[switch]\nheartbeat = 20\n"),
                  "test.toml:2:13: key 'switch.heartbeat': must be a duration string such as "
                  "\"3s\" or \"200ms\"");
  CAF_CHECK_EQUAL(only_problem("[prompts]\n\"a.wav\" = \"3 seconds\"\n"),
                  "test.toml:2:11: key 'prompts.a.wav': '3 seconds' is not a duration (use e.g. "
                  "\"3s\", \"1.5s\", \"200ms\", \"2m\")");
  CAF_CHECK_EQUAL(only_problem("[[dialplan]]\ndestination = \"1\"\naction = \"dance\"\n"),
                  "test.toml:3:10: key 'dialplan[0].action': 'dance' is not an action (park, "
                  "socket, tone, playback)");
  auto regex = only_problem("[[dialplan]]\nregex = \"(\"\n");
  CAF_CHECK_EQUAL(regex.substr(0, 62),
                  "test.toml:2:9: key 'dialplan[0].regex': is not a valid regular");
  CAF_CHECK_EQUAL(only_problem("[[callers]]\ndestination = \"1000\"\nrate = -2\n"
                               "script = [\"hangup\"]\n"),
                  "test.toml:3:8: key 'callers[0].rate': must be a positive number");
  CAF_CHECK_EQUAL(only_problem("[[callers]]\ndestination = \"1000\"\n"
                               "script = [{ press = \"12x\" }]\n"),
                  "test.toml:3:21: key 'callers[0].script[0].press': DTMF digits are 0-9, *, #, "
                  "A-D");
  CAF_CHECK_EQUAL(only_problem("[[callers]]\ndestination = \"1000\"\n"
                               "script = [{ wait_prompt = 1, pause = \"1s\" }]\n"),
                  "test.toml:3:11: key 'callers[0].script[0]': a step has exactly one of "
                  "wait_prompt, wait_prompt_end, press, pause, hangup, expect_hangup");
}

CAF_TEST(several problems are all reported) {
  auto result = parse("[switch]\nesl_port = 70000\nlisten = 5\n[[callers]]\nscript = [\"x\"]\n");
  CAF_CHECK(!result.config.has_value());
  CAF_CHECK_EQUAL(result.problems.size(), 4u);
}

CAF_TEST(a syntax error is reported with its location) {
  auto text = only_problem("[switch]\nhostname = \n");
  CAF_CHECK_EQUAL(text.substr(0, 14), "test.toml:2:12");
  auto missing = fsemu::load_config("/nonexistent/fsemu.toml");
  CAF_REQUIRE_EQUAL(missing.problems.size(), 1u);
  CAF_CHECK_EQUAL(missing.problems[0].to_string(), "/nonexistent/fsemu.toml:0:0: cannot read the file");
}

CAF_TEST(durations accept units from microseconds to hours) {
  CAF_CHECK_EQUAL(fsemu::parse_duration_us("200ms").value_or(-1), 200'000);
  CAF_CHECK_EQUAL(fsemu::parse_duration_us("1.5s").value_or(-1), 1'500'000);
  CAF_CHECK_EQUAL(fsemu::parse_duration_us("2m").value_or(-1), 120'000'000);
  CAF_CHECK_EQUAL(fsemu::parse_duration_us("100us").value_or(-1), 100);
  CAF_CHECK_EQUAL(fsemu::parse_duration_us("0s").value_or(-1), 0);
  CAF_CHECK(!fsemu::parse_duration_us("3").has_value());
  CAF_CHECK(!fsemu::parse_duration_us("s").has_value());
  CAF_CHECK(!fsemu::parse_duration_us("-1s").has_value());
  CAF_CHECK(!fsemu::parse_duration_us("3 s").has_value());
}
