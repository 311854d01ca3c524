#define CAF_SUITE kamailio.reload_coalescer

#include <caf/test/unit_test.hpp>

#include <chrono>

#include "kamailio/reload_coalescer.hpp"

using namespace callgrid;
using namespace std::chrono_literals;
using kamailio::reload_coalescer;
using kamailio::reload_outcome;

namespace {

struct fixture {
  reload_coalescer coalescer{{.interval = 5'000ms, .retry_delay = 500ms, .settle = 50ms}};
  reload_coalescer::time_point t0 = reload_coalescer::time_point{} + 1'000s;

  /// Plays `reload_coalescer` and a Kamailio that accepts every reload, for `span` in 10 ms
  /// steps, with a change every `change_every`; returns how many reloads were sent.
  std::uint64_t simulate(std::chrono::milliseconds span, std::chrono::milliseconds change_every) {
    auto next_change = t0;
    for (auto now = t0; now < t0 + span; now += 10ms) {
      if (now >= next_change) {
        coalescer.list_changed(now);
        next_change += change_every;
      }
      if (coalescer.due(now)) {
        coalescer.reload_sent(now);
        coalescer.reload_answered(reload_outcome::done, now);
      }
    }
    return coalescer.reloads_sent();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(reload_coalescer_tests, fixture)

CAF_TEST(nothing is due before the list changes) {
  CAF_CHECK(!coalescer.next_due());
  CAF_CHECK(!coalescer.due(t0));
  CAF_CHECK(!coalescer.pending());
}

CAF_TEST(the first change is reloaded after the settle time) {
  coalescer.list_changed(t0);
  CAF_CHECK(coalescer.pending());
  CAF_CHECK(!coalescer.due(t0 + 49ms));
  CAF_CHECK(coalescer.due(t0 + 50ms));
  coalescer.reload_sent(t0 + 50ms);
  CAF_CHECK(!coalescer.next_due());
  coalescer.reload_answered(reload_outcome::done, t0 + 52ms);
  CAF_CHECK(!coalescer.pending());
  CAF_CHECK(!coalescer.next_due());
}

CAF_TEST(a change every 100 ms for 12 seconds costs three reloads) {
  // One at the start, then one per 5 s interval: Kamailio's limit is never hit.
  CAF_CHECK_EQUAL(simulate(12'000ms, 100ms), 3u);
  CAF_CHECK_EQUAL(coalescer.reloads_refused(), 0u);
}

CAF_TEST(changes during the interval wait for its end and go out as one reload) {
  coalescer.list_changed(t0);
  coalescer.reload_sent(t0 + 50ms);
  coalescer.reload_answered(reload_outcome::done, t0 + 60ms);
  coalescer.list_changed(t0 + 1s);
  coalescer.list_changed(t0 + 2s);
  coalescer.list_changed(t0 + 3s);
  auto due = coalescer.next_due();
  CAF_REQUIRE(due.has_value());
  CAF_CHECK(*due == t0 + 50ms + 5'000ms);
}

CAF_TEST(a change while a reload is in flight needs another reload) {
  coalescer.list_changed(t0);
  coalescer.reload_sent(t0 + 50ms);
  coalescer.list_changed(t0 + 55ms);
  coalescer.reload_answered(reload_outcome::done, t0 + 60ms);
  CAF_CHECK(coalescer.pending());
  auto due = coalescer.next_due();
  CAF_REQUIRE(due.has_value());
  CAF_CHECK(*due == t0 + 5'050ms);
}

CAF_TEST(a refused reload is retried after the retry delay) {
  coalescer.list_changed(t0);
  coalescer.reload_sent(t0 + 50ms);
  coalescer.reload_answered(reload_outcome::refused, t0 + 51ms);
  CAF_CHECK(coalescer.pending());
  CAF_CHECK_EQUAL(coalescer.reloads_refused(), 1u);
  auto due = coalescer.next_due();
  CAF_REQUIRE(due.has_value());
  CAF_CHECK(*due == t0 + 551ms);
  coalescer.reload_sent(*due);
  coalescer.reload_answered(reload_outcome::failed, *due + 2s);
  CAF_CHECK_EQUAL(coalescer.reloads_failed(), 1u);
  due = coalescer.next_due();
  CAF_REQUIRE(due.has_value());
  CAF_CHECK(*due == t0 + 551ms + 5'000ms);
  coalescer.reload_sent(*due);
  coalescer.reload_answered(reload_outcome::done, *due);
  CAF_CHECK(!coalescer.pending());
  CAF_CHECK_EQUAL(coalescer.reloads_sent(), 3u);
}

CAF_TEST_FIXTURE_SCOPE_END()
