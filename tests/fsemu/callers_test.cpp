#define CAF_SUITE fsemu.callers

#include <caf/test/unit_test.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "caller_runner.hpp"
#include "frame_comparison.hpp" // also esl frames, switch_core, <regex>, <string>, <vector>

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// Scripted callers against a switch_core, with a small controller written here reacting to the
// events as callgridd would (play a prompt when a call parks, hang up after some digits).

constexpr std::int64_t ms = 1'000;

fsemu::script_step step(fsemu::script_step::kind what) {
  fsemu::script_step s;
  s.what = what;
  return s;
}

fsemu::script_step wait_prompt(std::uint32_t n) {
  auto s = step(fsemu::script_step::kind::wait_prompt);
  s.count = n;
  return s;
}

fsemu::script_step press(std::string digits, std::int64_t interval_us) {
  auto s = step(fsemu::script_step::kind::press);
  s.digits = std::move(digits);
  s.interval_us = interval_us;
  return s;
}

struct harness {
  fsemu::switch_core core;
  fsemu::caller_runner runner;
  std::int64_t now = capture_day_us + 1'000 * ms;
  std::vector<fsemu::switch_event> seen;
  /// The controller: reacts to each event (may call into the switch).
  std::function<void(const fsemu::switch_event&)> controller;
  /// Controller work due later: time -> action.
  std::multimap<std::int64_t, std::function<void()>> later;

  harness(fsemu::switch_config config, std::vector<fsemu::caller_scenario> scenarios)
    : core(std::move(config), capture_day_us), runner(std::move(scenarios), 1) {
    core.set_socket_connector([](std::string_view, std::string_view) { return true; });
  }

  void pump() {
    runner.advance(core, now);
    for (int round = 0; round < 64; ++round) {
      auto events = core.take_events(now);
      if (events.empty())
        break;
      for (const auto& ev : events) {
        if (controller)
          controller(ev);
        runner.observe(ev, now);
        seen.push_back(ev);
      }
      runner.advance(core, now);
    }
  }

  /// Runs everything due up to `until` in time order.
  void run(std::int64_t until) {
    pump();
    while (true) {
      std::optional<std::int64_t> due = core.next_due();
      if (auto r = runner.next_due(); r && (!due || *r < *due))
        due = r;
      if (!later.empty() && (!due || later.begin()->first < *due))
        due = later.begin()->first;
      if (!due || *due > until)
        break;
      now = std::max(now, *due);
      core.advance(now);
      while (!later.empty() && later.begin()->first <= now) {
        auto action = std::move(later.begin()->second);
        later.erase(later.begin());
        action();
      }
      pump();
    }
    now = std::max(now, until);
  }
};

fsemu::caller_scenario ivr_scenario() {
  fsemu::caller_scenario s;
  s.name = "ivr";
  s.destination = "1000";
  s.caller_id = "5551000";
  s.scripts.push_back({"happy", 1,
                       {wait_prompt(1), press("12#", 200 * ms),
                        step(fsemu::script_step::kind::expect_hangup)}});
  return s;
}

} // namespace

CAF_TEST(a scripted caller presses its digits after the first prompt) {
  auto config = captured_switch_config(9);
  config.prompt_lengths_us["ivr/menu.wav"] = 2'000 * ms;
  harness h{config, {ivr_scenario()}};
  std::map<std::string, int> digits;
  h.controller = [&](const fsemu::switch_event& ev) {
    if (!ev.channel)
      return;
    const auto& uuid = ev.channel->uuid;
    if (ev.name == "CHANNEL_PARK")
      CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "playback", "ivr/menu.wav", {}, h.now),
                      "+OK");
    if (ev.name == "DTMF" && ++digits[uuid] == 3)
      CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "hangup", {}, "NORMAL_CLEARING", {}, h.now), "+OK");
  };
  h.runner.start(h.now);
  h.run(h.now + 10'000 * ms);
  CAF_CHECK(h.runner.done());
  std::int64_t prompt_at = 0;
  std::vector<std::int64_t> dtmf_at;
  std::string pressed;
  for (const auto& ev : h.seen) {
    if (ev.name == "PLAYBACK_START")
      prompt_at = ev.timestamp_us;
    if (ev.name == "DTMF") {
      dtmf_at.push_back(ev.timestamp_us);
      for (const auto& x : ev.extras)
        if (x.name == "DTMF-Digit")
          pressed += x.value;
    }
  }
  CAF_CHECK_EQUAL(pressed, "12#");
  CAF_REQUIRE_EQUAL(dtmf_at.size(), 3u);
  CAF_CHECK_EQUAL(dtmf_at[0] - prompt_at, 0);
  CAF_CHECK_EQUAL(dtmf_at[1] - prompt_at, 200 * ms);
  CAF_CHECK_EQUAL(dtmf_at[2] - prompt_at, 400 * ms);
  auto summary = h.runner.summary();
  CAF_REQUIRE_EQUAL(summary.scenarios.size(), 1u);
  const auto& s = summary.scenarios[0];
  CAF_CHECK_EQUAL(s.placed, 1u);
  CAF_CHECK_EQUAL(s.answered, 1u);
  CAF_CHECK_EQUAL(s.completed, 1u);
  CAF_CHECK_EQUAL(s.failed, 0u);
  CAF_CHECK_EQUAL(s.outcomes.at("NORMAL_CLEARING by switch"), 1u);
  CAF_CHECK(!summary.any_failed());
}

CAF_TEST(the summary counts outcomes failures scripts and setup latency percentiles) {
  auto config = captured_switch_config(9);
  fsemu::dialplan_extension socket;
  socket.destination = "7000";
  socket.action = fsemu::extension_action::socket;
  socket.socket_address = "127.0.0.1:9";
  config.dialplan.push_back(socket);
  fsemu::caller_scenario s;
  s.name = "mixed";
  s.destination = "7000";
  s.total = 4;
  s.concurrency = 4;
  s.rate = 1000;
  s.wait_timeout_us = 1'000 * ms;
  // Round-robin: calls 1 and 3 hang up after the first prompt; 2 and 4 wait for a second
  // prompt that never comes and fail.
  s.scripts.push_back({"polite", 1, {wait_prompt(1), step(fsemu::script_step::kind::hangup)}});
  s.scripts.push_back({"impatient", 1, {wait_prompt(2), step(fsemu::script_step::kind::hangup)}});
  harness h{config, {s}};
  // The controller answers the n-th call after n * 10 ms, then plays one prompt.
  int calls = 0;
  h.controller = [&](const fsemu::switch_event& ev) {
    if (ev.name != "CHANNEL_CREATE" || !ev.channel)
      return;
    auto uuid = ev.channel->uuid;
    auto delay = ++calls * 10 * ms;
    h.later.emplace(h.now + delay, [&h, uuid] {
      h.core.execute_app(uuid, "answer", {}, {}, h.now);
      h.core.execute_app(uuid, "playback", "tone_stream://%(100,0,440)", {}, h.now);
    });
  };
  h.runner.start(h.now);
  h.run(h.now + 5'000 * ms);
  CAF_CHECK(h.runner.done());
  auto summary = h.runner.summary();
  const auto& r = summary.scenarios.at(0);
  CAF_CHECK_EQUAL(r.placed, 4u);
  CAF_CHECK_EQUAL(r.answered, 4u);
  CAF_CHECK_EQUAL(r.completed, 2u);
  CAF_CHECK_EQUAL(r.failed, 2u);
  CAF_CHECK_EQUAL(r.scripts.at("polite"), 2u);
  CAF_CHECK_EQUAL(r.scripts.at("impatient"), 2u);
  CAF_CHECK_EQUAL(r.outcomes.at("NORMAL_CLEARING by caller"), 4u);
  CAF_CHECK_EQUAL(r.failures.at("timeout at step 1 (wait_prompt 2)"), 2u);
  CAF_CHECK_EQUAL(r.setup_p50_us, 20 * ms);
  CAF_CHECK_EQUAL(r.setup_p90_us, 40 * ms);
  CAF_CHECK_EQUAL(r.setup_p99_us, 40 * ms);
  CAF_CHECK_EQUAL(r.setup_max_us, 40 * ms);
  CAF_CHECK(summary.any_failed());
  auto json = summary.to_json();
  CAF_CHECK(json.find("\"name\":\"mixed\",\"placed\":4,\"refused\":0,\"answered\":4,"
                      "\"completed\":2,\"failed\":2")
            != std::string::npos);
  CAF_CHECK(json.find("\"setup_latency_ms\":{\"p50\":20.000,\"p90\":40.000,\"p99\":40.000,"
                      "\"max\":40.000}")
            != std::string::npos);
  auto text = summary.to_text();
  CAF_CHECK(text.find("scenario mixed: placed 4, refused 0, answered 4, completed 2, failed 2")
            != std::string::npos);
}

CAF_TEST(a call nobody answers is cancelled and counted as failed) {
  auto config = captured_switch_config(9);
  fsemu::dialplan_extension socket;
  socket.destination = "7000";
  socket.action = fsemu::extension_action::socket;
  socket.socket_address = "127.0.0.1:9";
  config.dialplan.push_back(socket);
  fsemu::caller_scenario s;
  s.name = "unanswered";
  s.destination = "7000";
  s.answer_timeout_us = 2'000 * ms;
  s.scripts.push_back({"any", 1, {step(fsemu::script_step::kind::hangup)}});
  harness h{config, {s}};
  h.runner.start(h.now);
  h.run(h.now + 1'999 * ms);
  CAF_CHECK(!h.runner.done());
  h.run(h.now + 1 * ms);
  CAF_CHECK(h.runner.done());
  const auto r = h.runner.summary().scenarios.at(0);
  CAF_CHECK_EQUAL(r.failed, 1u);
  CAF_CHECK_EQUAL(r.failures.at("not answered"), 1u);
  CAF_CHECK_EQUAL(r.outcomes.at("ORIGINATOR_CANCEL by caller"), 1u);
}

CAF_TEST(calls follow the rate and never exceed the concurrency) {
  auto config = captured_switch_config(9);
  auto s = ivr_scenario();
  s.scripts[0].steps = {step(fsemu::script_step::kind::pause), step(fsemu::script_step::kind::hangup)};
  s.scripts[0].steps[0].duration_us = 1'000 * ms;
  s.rate = 10;
  s.concurrency = 2;
  s.total = 6;
  harness h{config, {s}};
  std::size_t up = 0;
  std::size_t most = 0;
  std::vector<std::int64_t> created;
  h.controller = [&](const fsemu::switch_event& ev) {
    if (ev.name == "CHANNEL_CREATE") {
      created.push_back(ev.timestamp_us);
      most = std::max(most, ++up);
    } else if (ev.name == "CHANNEL_DESTROY") {
      --up;
    }
  };
  auto start = h.now;
  h.runner.start(start);
  h.run(start + 10'000 * ms);
  CAF_CHECK(h.runner.done());
  CAF_CHECK_EQUAL(most, 2u);
  CAF_REQUIRE_EQUAL(created.size(), 6u);
  CAF_CHECK_EQUAL(created[0] - start, 0);
  CAF_CHECK_EQUAL(created[1] - start, 100 * ms);
  // The third waits for the first call to end (1 s pause).
  CAF_CHECK_EQUAL(created[2] - start, 1'000 * ms);
  CAF_CHECK_EQUAL(h.runner.summary().scenarios.at(0).completed, 6u);
}
