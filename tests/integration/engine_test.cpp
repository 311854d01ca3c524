#define CAF_SUITE integration.engine

#include <algorithm>
#include <set>
#include <string>
#include <thread>

#include <caf/test/unit_test.hpp>

#include "platform.hpp"
#include "tcp_proxy.hpp"

using namespace callgrid::test_support;
using namespace std::chrono_literals;

namespace {

/// One caller scenario of fsemu's config: `count` calls from `caller` to `destination`, each
/// running `steps` (a TOML array of steps).
std::string scenario(const std::string& caller, const std::string& destination, int count,
                     const std::string& steps, const std::string& start_after = "1500ms",
                     int rate = 5) {
  return "[[callers]]\nname = \"" + caller + "\"\ndestination = \"" + destination
         + "\"\ncaller_id = \"" + caller + "\"\nrate = " + std::to_string(rate)
         + "\nconcurrency = " + std::to_string(count)
         + "\ntotal = " + std::to_string(count)
         + "\nanswer_timeout = \"5s\"\nwait_timeout = \"30s\"\nstart_after = \"" + start_after
         + "\"\nvariables = { park_timeout = 60 }\n\n[[callers.scripts]]\nname = \"" + caller
         + "\"\nsteps = " + steps + "\n\n";
}

// Prompt numbers count PLAYBACK_STARTs of the call: 1 welcome, 2 main menu, then the next ones.
const std::string opt_out = R"([{ wait_prompt_end = 2 }, { press = "9" }, { wait_prompt = 3 },
  { press = "1" }, { expect_hangup = "20s" }])";
const std::string account_found = R"([{ wait_prompt_end = 2 }, { press = "3" }, { wait_prompt = 3 },
  { press = "123456#", digit_interval = "100ms" }, { wait_prompt = 4 }, { wait_prompt = 5 },
  "hangup"])";
const std::string sales_new = R"([{ wait_prompt_end = 2 }, { press = "1" }, { wait_prompt = 3 },
  { press = "1" }, { expect_hangup = "20s" }])";
const std::string back_and_cancel = R"([{ wait_prompt_end = 2 }, { press = "2" }, { wait_prompt = 3 },
  { press = "*" }, { wait_prompt = 4 }, { press = "9" }, { wait_prompt = 5 }, { press = "2" },
  { wait_prompt = 6 }, "hangup"])";
const std::string invalid_keys = R"([{ wait_prompt_end = 2 }, { press = "7" }, { wait_prompt_end = 4 },
  { press = "7" }, { wait_prompt_end = 6 }, { press = "7" }, { expect_hangup = "20s" }])";

std::vector<cdr_row> rows_of(const std::vector<cdr_row>& rows, const std::string& caller) {
  std::vector<cdr_row> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
               [&](const cdr_row& r) { return r.caller == caller; });
  return out;
}

void dump(const platform& p, const std::vector<cdr_row>& rows) {
  for (const auto& r : rows)
    CAF_MESSAGE(r.caller << " " << r.callee << " " << r.esl_mode << " " << r.disposition << " "
                         << r.hangup_cause << " " << r.ivr_path << " " << r.end_reason);
  CAF_MESSAGE("fsemu log:\n" << p.fsemu_log());
  CAF_MESSAGE("callgridd log:\n" << p.callgridd_log());
}

} // namespace

CAF_TEST(scripted callers walk the example flow in both ESL modes and every call has its record) {
  platform p;
  std::string callers = scenario("5550001", "1000", 2, opt_out)
                        + scenario("5550002", "1000", 2, account_found)
                        + scenario("5550003", "1000", 2, sales_new)
                        + scenario("5550004", "1000", 2, back_and_cancel)
                        + scenario("5550005", "1000", 2, invalid_keys)
                        + scenario("5550011", "2000", 2, opt_out)
                        + scenario("5550012", "2000", 2, account_found);
  p.start_callgridd();
  p.start_fsemu(callers, {"--run-callers", "--exit-after-callers"});
  CAF_REQUIRE(p.wait_for_fsemu_exit(90s));
  auto rows = p.wait_for_records(14, 10s);
  if (rows.size() != 14u)
    dump(p, rows);
  CAF_REQUIRE_EQUAL(rows.size(), 14u);

  for (const auto* caller : {"5550001", "5550011"}) {
    auto calls = rows_of(rows, caller);
    CAF_REQUIRE_EQUAL(calls.size(), 2u);
    for (const auto& r : calls) {
      CAF_CHECK_EQUAL(r.disposition, "ivr_completed");
      CAF_CHECK_EQUAL(r.hangup_cause, "NORMAL_CLEARING");
      CAF_CHECK_EQUAL(r.ivr_path, R"([{"menu": "main", "choice": "9"}, {"menu": "optout_confirm", "choice": "confirm"}])");
      CAF_CHECK_EQUAL(r.end_reason, "normal");
    }
  }
  for (const auto* caller : {"5550002", "5550012"}) {
    for (const auto& r : rows_of(rows, caller)) {
      CAF_CHECK_EQUAL(r.disposition, "abandoned");
      CAF_CHECK_EQUAL(r.ivr_path, R"([{"menu": "main", "choice": "3"}, {"menu": "account_entry", "choice": "collected"}, {"menu": "account_lookup", "choice": "found"}, {"menu": "main", "choice": "hangup"}])");
    }
  }
  for (const auto& r : rows_of(rows, "5550003")) {
    CAF_CHECK_EQUAL(r.disposition, "transferred");
    CAF_CHECK_EQUAL(r.ivr_path, R"([{"menu": "main", "choice": "1"}, {"menu": "sales", "choice": "1"}])");
  }
  for (const auto& r : rows_of(rows, "5550004")) {
    CAF_CHECK_EQUAL(r.disposition, "abandoned");
    CAF_CHECK_EQUAL(r.ivr_path, R"([{"menu": "main", "choice": "2"}, {"menu": "support", "choice": "back"}, {"menu": "main", "choice": "9"}, {"menu": "optout_confirm", "choice": "cancel"}, {"menu": "main", "choice": "hangup"}])");
  }
  for (const auto& r : rows_of(rows, "5550005")) {
    CAF_CHECK_EQUAL(r.disposition, "escalated");
    CAF_CHECK_EQUAL(r.ivr_path, R"([{"menu": "main", "choice": "exhausted:invalid"}])");
  }
  for (const auto& r : rows)
    CAF_CHECK_EQUAL(r.esl_mode, r.callee == "2000" ? "outbound" : "inbound");
  p.stop_callgridd();
}

CAF_TEST(after callgridd is killed hard every call has its record) {
  platform p;
  // 200 calls up: 100 hang up while callgridd is down, 100 stay on the line until after its
  // restart.
  auto short_calls = R"([{ wait_prompt = 1 }, { pause = "3s" }, "hangup"])";
  auto long_calls = R"([{ wait_prompt = 1 }, { pause = "9s" }, "hangup"])";
  p.start_callgridd();
  p.start_fsemu(scenario("5550100", "1000", 100, short_calls, "1s", 50)
                  + scenario("5550101", "1000", 100, long_calls, "1s", 50),
                {"--run-callers", "--exit-after-callers"});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (p.metrics().find("callgrid_live_calls 200") == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CAF_REQUIRE(p.metrics().find("callgrid_live_calls 200") != std::string::npos);
  // The session journal holds every live call, and expires if the node never comes back.
  const std::string journal = "cg:journal:node-it";
  CAF_CHECK_EQUAL(p.redis_command({"HLEN", journal}), "200");
  auto ttl_ms = std::atoll(p.redis_command({"PTTL", journal}).c_str());
  CAF_CHECK(ttl_ms > 11 * 3600 * 1000LL);
  p.kill_callgridd();
  // Restart once the short calls are gone from FreeSWITCH (its listing lags; wait a bit more).
  auto channels = [&p] {
    auto out = p.fsemu_api("api show channels count");
    return out.empty() ? -1 : std::atoi(out.c_str() + out.find_first_not_of("\n"));
  };
  deadline = std::chrono::steady_clock::now() + 30s;
  while (channels() > 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  std::this_thread::sleep_for(1s);
  p.start_callgridd();
  CAF_REQUIRE(p.wait_for_fsemu_exit(60s));
  auto rows = p.wait_for_records(200, 20s);
  if (rows.size() != 200u)
    dump(p, rows);
  CAF_CHECK_EQUAL(rows.size(), 200u);
  std::set<std::string> uuids;
  for (const auto& r : rows)
    uuids.insert(r.call_uuid);
  CAF_CHECK_EQUAL(uuids.size(), rows.size());
  for (const auto& r : rows_of(rows, "5550100")) {
    CAF_CHECK_EQUAL(r.end_reason, "engine_restart");
    CAF_CHECK_EQUAL(r.disposition, "engine_restart");
  }
  for (const auto& r : rows_of(rows, "5550101")) {
    CAF_CHECK_EQUAL(r.end_reason, "normal");
    CAF_CHECK_EQUAL(r.disposition, "abandoned");
  }
  auto page = p.metrics();
  CAF_CHECK(page.find("callgrid_calls_adopted_total 100\n") != std::string::npos);
  CAF_MESSAGE(page.substr(page.find("callgrid_calls_adopted_total "), 40));
  CAF_MESSAGE(page.substr(page.find("callgrid_live_calls "), 30));
  CAF_CHECK(page.find("callgrid_calls_recorded_after_restart_total 100\n") != std::string::npos);
  // Every call's record is durable, so the journal has let go of every call.
  deadline = std::chrono::steady_clock::now() + 10s;
  while (p.redis_command({"HLEN", journal}) != "0" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CAF_CHECK_EQUAL(p.redis_command({"HLEN", journal}), "0");
  p.stop_callgridd();
}

CAF_TEST(a cut ESL link is re-established and every call keeps exactly one record) {
  platform p;
  auto steps = R"([{ wait_prompt = 1 }, { pause = "5s" }, "hangup"])";
  p.start_fsemu(scenario("5550200", "1000", 20, steps, "1s"),
                {"--run-callers", "--exit-after-callers"});
  tcp_proxy proxy{p.esl_port};
  p.start_callgridd(proxy.port());
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (p.metrics().find("callgrid_live_calls 20") == std::string::npos
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CAF_REQUIRE(p.metrics().find("callgrid_live_calls 20") != std::string::npos);
  proxy.cut();
  CAF_REQUIRE(p.wait_for_fsemu_exit(60s));
  auto rows = p.wait_for_records(20, 15s);
  if (rows.size() != 20u)
    dump(p, rows);
  CAF_CHECK_EQUAL(rows.size(), 20u);
  std::set<std::string> uuids;
  for (const auto& r : rows)
    uuids.insert(r.call_uuid);
  CAF_CHECK_EQUAL(uuids.size(), rows.size());
  CAF_CHECK_GREATER_OR_EQUAL(proxy.accepted(), 2u);
  auto page = p.metrics();
  CAF_CHECK(page.find("callgrid_esl_reconnects_total 1") != std::string::npos);
  // Each call's first playback answered its CHANNEL_PARK: 20 reaction times at least.
  const std::string count_series = "callgrid_event_to_command_seconds_count ";
  auto at = page.find(count_series);
  CAF_REQUIRE(at != std::string::npos);
  CAF_CHECK_GREATER_OR_EQUAL(std::stod(page.substr(at + count_series.size())), 20.0);
  CAF_CHECK(page.find("callgrid_event_to_command_seconds_bucket{le=\"+Inf\"} ")
            != std::string::npos);
  p.stop_callgridd();
}
