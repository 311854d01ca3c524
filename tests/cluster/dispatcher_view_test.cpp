#define CAF_SUITE cluster.dispatcher_view

#include "cluster/dispatcher_view.hpp"

#include <chrono>
#include <string>

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "cluster/membership.hpp"

using namespace callgrid::cluster;
using namespace std::chrono_literals;

namespace {

join_request healthy(const std::string& node, int32_t capacity) {
  join_request request{node, "sip:" + node + ":5060", capacity, "0.1.0", 1, {}};
  request.load.capacity = capacity;
  request.load.esl_ready = true;
  request.load.freeswitch_ready = true;
  return request;
}

const dispatcher_entry* entry_of(const dispatcher_view& view, const std::string& node) {
  for (const auto& entry : view.entries)
    if (entry.node == node)
      return &entry;
  return nullptr;
}

} // namespace

CAF_TEST(every member state maps to its dispatcher state) {
  membership table;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  table.join(healthy("a-active", 100), now);
  table.join(healthy("b-suspect", 100), now);
  table.join(healthy("c-draining", 100), now);
  table.join(healthy("d-ineligible", 100), now);
  table.join(healthy("e-down", 100), now);
  auto joining = healthy("f-joining", 100);
  joining.load.freeswitch_ready = false;
  table.join(joining, now);
  table.join(healthy("g-left", 100), now);
  table.apply(request_drain{"c-draining", 0, false, "t", "ops"}, now, 0);
  table.apply(set_eligibility{"d-ineligible", false, "t", "ops"}, now);
  table.apply(leave_request{"g-left", 1}, now);
  // Everyone but b-suspect and e-down keeps sending heartbeats.
  now += 4s;
  for (const auto* node : {"a-active", "c-draining", "d-ineligible", "f-joining"}) {
    const auto* m = table.find(node);
    CAF_REQUIRE(m != nullptr);
    table.apply(heartbeat{node, 1, m->load}, now);
  }
  table.tick(now);
  now += 7s;
  for (const auto* node : {"a-active", "c-draining", "d-ineligible", "f-joining"}) {
    const auto* m = table.find(node);
    table.apply(heartbeat{node, 1, m->load}, now);
  }
  table.apply(heartbeat{"b-suspect", 1, healthy("b-suspect", 100).load}, now - 6s);
  table.tick(now);
  const auto& view = table.view();
  CAF_CHECK(view == make_dispatcher_view(table));
  CAF_CHECK_EQUAL(view.entries.size(), 6u);
  CAF_CHECK(entry_of(view, "g-left") == nullptr);
  auto state = [&](const char* node) {
    const auto* entry = entry_of(view, node);
    return entry == nullptr ? "missing" : std::string{to_string(entry->state)};
  };
  CAF_CHECK_EQUAL(state("a-active"), "active");
  CAF_CHECK_EQUAL(state("b-suspect"), "active");
  CAF_CHECK_EQUAL(state("c-draining"), "admin_disabled");
  CAF_CHECK_EQUAL(state("d-ineligible"), "admin_disabled");
  CAF_CHECK_EQUAL(state("e-down"), "admin_disabled");
  CAF_CHECK_EQUAL(entry_of(view, "e-down")->why, "down");
  CAF_CHECK_EQUAL(state("f-joining"), "admin_disabled");
  CAF_CHECK_EQUAL(entry_of(view, "c-draining")->why, "draining");
  CAF_CHECK_EQUAL(entry_of(view, "d-ineligible")->why, "not eligible");
  CAF_CHECK_EQUAL(entry_of(view, "f-joining")->why, "not ready");
  CAF_CHECK_EQUAL(entry_of(view, "a-active")->sip_uri, "sip:a-active:5060");
}

CAF_TEST(weights follow capacity as a share of the set) {
  membership table;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  table.join(healthy("fs-1", 300), now);
  table.join(healthy("fs-2", 100), now);
  table.join(healthy("fs-3", 0), now);
  const auto& view = table.view();
  CAF_REQUIRE_EQUAL(view.entries.size(), 3u);
  CAF_CHECK_EQUAL(entry_of(view, "fs-1")->weight, 75);
  CAF_CHECK_EQUAL(entry_of(view, "fs-2")->weight, 25);
  CAF_CHECK_EQUAL(entry_of(view, "fs-3")->weight, 1);
  // A node going down keeps the others' weights.
  now += 11s;
  table.apply(heartbeat{"fs-1", 1, healthy("fs-1", 300).load}, now);
  table.apply(heartbeat{"fs-3", 1, healthy("fs-3", 0).load}, now);
  table.tick(now);
  CAF_CHECK(entry_of(table.view(), "fs-2")->state == dispatcher_state::admin_disabled);
  CAF_CHECK_EQUAL(entry_of(table.view(), "fs-1")->weight, 75);
}

CAF_TEST(a member view renders as JSON with words for states) {
  member_view view;
  view.node = "fs-1";
  view.state = member_state::draining;
  view.phase = drain_phase::flushing;
  view.live_calls = 3;
  nlohmann::json doc = view;
  CAF_CHECK_EQUAL(doc["node"].get<std::string>(), "fs-1");
  CAF_CHECK_EQUAL(doc["state"].get<std::string>(), "draining");
  CAF_CHECK_EQUAL(doc["phase"].get<std::string>(), "flushing");
  CAF_CHECK(doc["drain_deadline_unix_ms"].is_null());
  view.drain_deadline_unix_ms = 1'800'000'000'000;
  doc = view;
  CAF_CHECK_EQUAL(doc["drain_deadline_unix_ms"].get<int64_t>(), 1'800'000'000'000);
}
