#define CAF_SUITE cluster.membership

#include "cluster/membership.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/test/unit_test.hpp>

using namespace callgrid::cluster;
using namespace std::chrono_literals;

namespace {

load_report healthy_load(int32_t calls = 0) {
  load_report load;
  load.capacity = 100;
  load.live_calls = calls;
  load.esl_ready = true;
  load.freeswitch_ready = true;
  return load;
}

join_request join_of(const std::string& node, load_report load = healthy_load(),
                     uint64_t incarnation = 1) {
  return join_request{node, "sip:" + node + ".example:5060", 100, "0.1.0", incarnation, load};
}

template <class T>
std::vector<T> effects_of(const outcome& out) {
  std::vector<T> found;
  for (const auto& e : out.effects)
    if (const auto* x = std::get_if<T>(&e))
      found.push_back(*x);
  return found;
}

struct fixture {
  membership table;
  steady_time t0 = std::chrono::steady_clock::time_point{} + 1h;
  steady_time now = t0;

  member_state state_of(const std::string& node) const {
    const auto* m = table.find(node);
    return m == nullptr ? member_state::left : m->state();
  }

  /// The node's dispatcher state and why, "absent" when it is not in the set.
  std::string edge_of(const std::string& node) const {
    for (const auto& entry : table.view().entries)
      if (entry.node == node)
        return std::string{to_string(entry.state)} + (entry.why.empty() ? "" : "/" + entry.why);
    return "absent";
  }

  outcome beat(const std::string& node, load_report load = healthy_load(), uint64_t inc = 1) {
    return table.apply(heartbeat{node, inc, load}, now);
  }

  /// Advances the clock in 250 ms ticks (like the registry), with heartbeats from `alive`.
  void run_for(std::chrono::milliseconds span, const std::vector<std::string>& alive = {}) {
    auto end = now + span;
    auto next_beat = now + 1s;
    while (now < end) {
      now += 250ms;
      if (now >= next_beat) {
        for (const auto& node : alive)
          beat(node);
        next_beat += 1s;
      }
      table.tick(now);
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(membership_tests, fixture)

CAF_TEST(a healthy node becomes active when it joins) {
  auto out = table.join(join_of("fs-1"), now);
  CAF_REQUIRE(out.ok());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
  auto rows = effects_of<persist_node>(out);
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].sip_uri, "sip:fs-1.example:5060");
  CAF_CHECK_EQUAL(effects_of<view_changed>(out).size(), 1u);
}

CAF_TEST(a node that is not healthy stays joining and gets no calls until it is) {
  load_report load;
  load.capacity = 100;
  load.esl_ready = true;
  table.join(join_of("fs-1", load), now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::joining);
  CAF_CHECK(edge_of("fs-1").starts_with("admin_disabled"));
  now += 1s;
  auto out = beat("fs-1", healthy_load());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
  CAF_CHECK_EQUAL(effects_of<view_changed>(out).size(), 1u);
  now += 1s;
  beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::joining);
}

CAF_TEST(a heartbeat gap below suspect_after changes nothing) {
  table.join(join_of("fs-1"), now);
  now += 2900ms;
  auto out = table.tick(now);
  CAF_CHECK(out.effects.empty());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
}

CAF_TEST(missing heartbeats make a node suspect and then down) {
  table.join(join_of("fs-1"), now);
  now += 3001ms;
  auto out = table.tick(now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::suspect);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
  auto changes = effects_of<health_changed>(out);
  CAF_REQUIRE_EQUAL(changes.size(), 1u);
  CAF_CHECK(changes[0].to == member_health::suspect);
  CAF_CHECK(effects_of<view_changed>(out).empty());
  now += 7000ms;
  out = table.tick(now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::down);
  CAF_CHECK_EQUAL(edge_of("fs-1"), "admin_disabled/down");
  CAF_CHECK_EQUAL(effects_of<view_changed>(out).size(), 1u);
  // Ticks while down repeat nothing.
  now += 1s;
  CAF_CHECK(table.tick(now).effects.empty());
}

CAF_TEST(a heartbeat brings a suspect or down node back) {
  table.join(join_of("fs-1"), now);
  now += 4s;
  table.tick(now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::suspect);
  beat("fs-1");
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  now += 11s;
  table.tick(now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::down);
  auto out = beat("fs-1");
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
  auto changes = effects_of<health_changed>(out);
  CAF_REQUIRE_EQUAL(changes.size(), 1u);
  CAF_CHECK(changes[0].from == member_health::down);
}

CAF_TEST(steady heartbeats keep a node active for minutes) {
  table.join(join_of("fs-1"), now);
  run_for(5min, {"fs-1"});
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
}

CAF_TEST(a heartbeat from a stranger or an old incarnation asks it to join) {
  auto out = beat("fs-9");
  CAF_CHECK(out.error == errc::unknown_node);
  table.join(join_of("fs-1", healthy_load(), 7), now);
  out = beat("fs-1", healthy_load(), 6);
  CAF_CHECK(out.error == errc::unknown_node);
  CAF_CHECK(out.effects.empty());
}

CAF_TEST(a drain disables the node at the edge and tells the node) {
  table.join(join_of("fs-1", healthy_load(12)), now);
  auto out = table.apply(request_drain{"fs-1", 1'800'000'000'000, false, "kernel update", "ops"},
                         now, 1'700'000'000'000);
  CAF_REQUIRE(out.ok());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  CAF_CHECK(edge_of("fs-1").starts_with("admin_disabled"));
  auto commands = effects_of<send_command>(out);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK(commands[0].command.kind == command_kind::start_drain);
  CAF_CHECK_EQUAL(commands[0].command.deadline_unix_ms, 1'800'000'000'000);
  CAF_CHECK_EQUAL(commands[0].command.reason, "kernel update");
  auto rows = effects_of<persist_node>(out);
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK(rows[0].admin.drain_requested);
  CAF_REQUIRE(rows[0].action.has_value());
  CAF_CHECK_EQUAL(rows[0].action->who, "ops");
  CAF_CHECK_EQUAL(rows[0].action->reason, "kernel update");
  auto lines = effects_of<log_line>(out);
  CAF_CHECK(std::any_of(lines.begin(), lines.end(), [](const log_line& line) {
    return line.text.find("by ops: kernel update") != std::string::npos;
  }));
  // The node drains; calls end; records are flushed.
  now += 1s;
  auto load = healthy_load(3);
  load.phase = drain_phase::draining;
  beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  now += 1s;
  load = healthy_load(0);
  load.phase = drain_phase::flushing;
  load.spool_depth = 40;
  beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  now += 1s;
  load.phase = drain_phase::drained;
  load.spool_depth = 0;
  beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::drained);
  CAF_CHECK(edge_of("fs-1").starts_with("admin_disabled"));
  out = table.apply(request_drain{"fs-1", 0, false, "again", "ops"}, now, 0);
  CAF_CHECK(out.error == errc::already_drained);
}

CAF_TEST(a forced drain has a deadline of now) {
  table.join(join_of("fs-1"), now);
  auto out = table.apply(request_drain{"fs-1", 0, true, "fire", "ops"}, now, 1'700'000'000'123);
  auto commands = effects_of<send_command>(out);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK_EQUAL(commands[0].command.deadline_unix_ms, 1'700'000'000'123);
}

CAF_TEST(admin requests are refused with a reason) {
  table.join(join_of("fs-1"), now);
  CAF_CHECK(table.apply(request_drain{"fs-9", 0, false, "x", "ops"}, now, 0).error
            == errc::unknown_node);
  CAF_CHECK(table.apply(request_drain{"fs-1", 0, false, "x", ""}, now, 0).error
            == errc::invalid_request);
  CAF_CHECK(table.apply(request_drain{"fs-1", -5, false, "x", "ops"}, now, 0).error
            == errc::invalid_request);
  CAF_CHECK(table.apply(cancel_drain{"fs-1", "x", "ops"}, now).error == errc::not_draining);
  CAF_CHECK(table.apply(set_eligibility{"fs-9", false, "x", "ops"}, now).error
            == errc::unknown_node);
  auto refused = table.apply(force_leave{"fs-1", false, "x", "ops"}, now);
  CAF_CHECK(refused.error == errc::member_alive);
  CAF_CHECK(refused.message.find("active") != std::string::npos);
  CAF_CHECK(refused.effects.empty());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
}

CAF_TEST(a cancelled drain brings the node back once it confirms) {
  table.join(join_of("fs-1"), now);
  table.apply(request_drain{"fs-1", 0, false, "test", "ops"}, now, 0);
  now += 1s;
  auto load = healthy_load();
  load.phase = drain_phase::draining;
  beat("fs-1", load);
  auto out = table.apply(cancel_drain{"fs-1", "done", "ops"}, now);
  CAF_REQUIRE(out.ok());
  auto commands = effects_of<send_command>(out);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK(commands[0].command.kind == command_kind::cancel_drain);
  // Still paused until the node says otherwise.
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  now += 3s;
  out = beat("fs-1", load);
  commands = effects_of<send_command>(out);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK(commands[0].command.kind == command_kind::cancel_drain);
  now += 1s;
  beat("fs-1", healthy_load());
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
}

CAF_TEST(a node that drains on its own is draining and then drained) {
  table.join(join_of("fs-1"), now);
  auto load = healthy_load(5);
  load.phase = drain_phase::draining;
  now += 1s;
  auto out = beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  CAF_CHECK(effects_of<send_command>(out).empty());
  load = healthy_load(0);
  load.phase = drain_phase::drained;
  now += 1s;
  beat("fs-1", load);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::drained);
  out = table.apply(leave_request{"fs-1", 1}, now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::left);
  CAF_CHECK(table.view().entries.empty());
  // Left members are not watched by the failure detector.
  now += 1min;
  CAF_CHECK(table.tick(now).effects.empty());
  CAF_CHECK(table.apply(force_leave{"fs-1", false, "gone", "ops"}, now).ok());
  CAF_CHECK(table.find("fs-1") == nullptr);
}

CAF_TEST(an ineligible node is admin disabled but keeps its calls) {
  table.join(join_of("fs-1", healthy_load(8)), now);
  auto out = table.apply(set_eligibility{"fs-1", false, "maintenance", "ops"}, now);
  CAF_REQUIRE(out.ok());
  CAF_CHECK(edge_of("fs-1").starts_with("admin_disabled"));
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::active);
  CAF_CHECK(effects_of<send_command>(out).empty());
  auto rows = effects_of<persist_node>(out);
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK(!rows[0].admin.eligible);
  // The same value again changes nothing.
  CAF_CHECK(table.apply(set_eligibility{"fs-1", false, "maintenance", "ops"}, now).effects.empty());
  table.apply(set_eligibility{"fs-1", true, "done", "ops"}, now);
  CAF_CHECK(edge_of("fs-1").starts_with("active"));
}

CAF_TEST(restored admin state wins over a rejoining node) {
  admin_state stored;
  stored.node = "fs-1";
  stored.eligible = false;
  stored.drain_requested = true;
  stored.drain_reason = "hardware";
  stored.drain_deadline_unix_ms = 1'900'000'000'000;
  table.restore({stored}, now);
  auto out = table.join(join_of("fs-1"), now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  CAF_CHECK(edge_of("fs-1").starts_with("admin_disabled"));
  auto commands = effects_of<send_command>(out);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK(commands[0].command.kind == command_kind::start_drain);
  CAF_CHECK_EQUAL(commands[0].command.deadline_unix_ms, 1'900'000'000'000);
  CAF_CHECK_EQUAL(commands[0].command.reason, "hardware");
  // The node keeps saying it is not draining: it is told again, not believed.
  now += 1s;
  out = beat("fs-1");
  CAF_CHECK(effects_of<send_command>(out).empty());
  now += 1500ms;
  out = beat("fs-1");
  CAF_CHECK_EQUAL(effects_of<send_command>(out).size(), 1u);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  auto listed = table.list(now);
  CAF_REQUIRE_EQUAL(listed.size(), 1u);
  CAF_CHECK(!listed[0].eligible);
  CAF_CHECK(listed[0].drain_requested);
}

CAF_TEST(a restarted node loses its lifecycle but not its admin state) {
  table.join(join_of("fs-1", healthy_load(), 1), now);
  table.apply(request_drain{"fs-1", 0, false, "test", "ops"}, now, 0);
  now += 1s;
  auto load = healthy_load();
  load.phase = drain_phase::drained;
  beat("fs-1", load, 1);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::drained);
  now += 1s;
  auto out = table.join(join_of("fs-1", healthy_load(), 2), now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::draining);
  CAF_CHECK_EQUAL(effects_of<send_command>(out).size(), 1u);
  CAF_CHECK(beat("fs-1", healthy_load(), 1).error == errc::unknown_node);
}

CAF_TEST(commands wait while a node is down) {
  table.join(join_of("fs-1"), now);
  now += 11s;
  table.tick(now);
  CAF_CHECK_EQUAL(state_of("fs-1"), member_state::down);
  auto out = table.apply(request_drain{"fs-1", 0, false, "dead box", "ops"}, now, 0);
  CAF_REQUIRE(out.ok());
  CAF_CHECK(effects_of<send_command>(out).empty());
  out = table.join(join_of("fs-1", healthy_load(), 2), now);
  CAF_CHECK_EQUAL(effects_of<send_command>(out).size(), 1u);
  CAF_CHECK(table.apply(force_leave{"fs-1", true, "test", "ops"}, now).ok());
}

CAF_TEST(a down node can be removed without force) {
  table.join(join_of("fs-1"), now);
  now += 11s;
  table.tick(now);
  auto out = table.apply(force_leave{"fs-1", false, "dead", "ops"}, now);
  CAF_REQUIRE(out.ok());
  CAF_CHECK(table.find("fs-1") == nullptr);
  CAF_CHECK(table.view().entries.empty());
  auto rows = effects_of<persist_node>(out);
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_REQUIRE(rows[0].action.has_value());
  CAF_CHECK_EQUAL(rows[0].action->action, "force_leave");
}

CAF_TEST(member views show state calls load and reason) {
  table.join(join_of("fs-1", healthy_load(25)), now);
  table.apply(set_eligibility{"fs-1", false, "noisy", "alice"}, now);
  now += 1500ms;
  auto listed = table.list(now);
  CAF_REQUIRE_EQUAL(listed.size(), 1u);
  const auto& view = listed[0];
  CAF_CHECK_EQUAL(view.node, "fs-1");
  CAF_CHECK_EQUAL(view.live_calls, 25);
  CAF_CHECK_EQUAL(view.capacity, 100);
  CAF_CHECK_EQUAL(view.load, 0.25);
  CAF_CHECK_EQUAL(view.reason, "noisy");
  CAF_CHECK_EQUAL(view.changed_by, "alice");
  CAF_CHECK_EQUAL(view.last_heartbeat_age_ms, 1500);
}

CAF_TEST(settings are checked) {
  CAF_CHECK(validate(membership_settings{}).empty());
  membership_settings bad;
  bad.down_after = bad.suspect_after;
  CAF_CHECK(!validate(bad).empty());
  bad = membership_settings{};
  bad.suspect_after = bad.heartbeat_interval;
  CAF_CHECK(!validate(bad).empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
