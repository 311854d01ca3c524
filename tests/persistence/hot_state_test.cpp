#define CAF_SUITE persistence.hot_state

#include "persistence/hot_state.hpp"

#include <caf/test/dsl.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io_thread.hpp"
#include "persistence/redis_errc.hpp"
#include "services/redis_server.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::io_thread;
using callgrid::test_support::redis_server;

namespace {

/// Starts an operation with a handler taking a T and waits (bounded) for the answer.
template <class T, class Start>
T await(Start start) {
  auto done = std::make_shared<std::promise<T>>();
  auto answer = done->get_future();
  start([done](T value) { done->set_value(std::move(value)); });
  if (answer.wait_for(10s) != std::future_status::ready) {
    CAF_FAIL("no answer within 10 s");
  }
  return answer.get();
}

template <class Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

uint64_t policy_count(const hot_state& hot, key_class cls) {
  return hot.stats().policy_in_effect[static_cast<std::size_t>(cls)];
}

struct fixture {
  redis_server server;
  io_thread loop;
  std::unique_ptr<hot_state> hot;

  fixture() {
    hot = make_hot_state(1000ms, std::chrono::hours{1});
  }

  ~fixture() {
    hot.reset();
    loop.stop();
  }

  std::unique_ptr<hot_state> make_hot_state(std::chrono::milliseconds timeout,
                                            std::chrono::milliseconds slot_ttl) {
    hot_state_options options;
    options.redis.port = server.port();
    options.redis.command_timeout = timeout;
    options.redis.reconnect_initial = 20ms;
    options.redis.reconnect_max = 200ms;
    options.slot_ttl = slot_ttl;
    options.local_share = 0.5;
    auto h = std::make_unique<hot_state>(loop.io(), options);
    h->start();
    if (!eventually([&] { return h->client().connected(); }))
      CAF_FAIL("the hot state did not connect to port " << server.port());
    return h;
  }

  caf::expected<redis_reply> raw(std::vector<std::string> args) {
    return await<caf::expected<redis_reply>>(
      [&](auto done) { hot->client().command(std::move(args), done); });
  }

  slot_decision acquire(const std::string& uuid, int64_t cap, hot_state* on = nullptr) {
    auto* h = on != nullptr ? on : hot.get();
    return await<slot_decision>(
      [&](auto done) { h->acquire_slot("trunk", "carrier-a", uuid, cap, done); });
  }

  void release(const std::string& uuid) {
    auto err = await<caf::error>(
      [&](auto done) { hot->release_slot("trunk", "carrier-a", uuid, done); });
    CAF_CHECK(!err);
  }

  int64_t in_use(hot_state* on = nullptr) {
    auto* h = on != nullptr ? on : hot.get();
    auto n = await<caf::expected<int64_t>>(
      [&](auto done) { h->slots_in_use("trunk", "carrier-a", done); });
    if (!n) {
      CAF_FAIL("slot count failed: " << render_redis_error(n.error()));
    }
    return *n;
  }

  claim_decision claim(const std::string& key, std::chrono::milliseconds ttl) {
    return await<claim_decision>([&](auto done) { hot->claim_once(key, ttl, done); });
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(hot_state_tests, fixture)

CAF_TEST(a session snapshot is stored with its ttl and read back and deleted) {
  auto saved = await<caf::error>(
    [&](auto done) { hot->save_session("call-1", "{\"node\":\"ivr-3\"}", 60s, done); });
  CAF_CHECK(!saved);
  auto loaded = await<caf::expected<std::optional<std::string>>>(
    [&](auto done) { hot->load_session("call-1", done); });
  CAF_REQUIRE(loaded);
  CAF_CHECK_EQUAL(loaded->value_or("absent"), "{\"node\":\"ivr-3\"}");
  auto ttl = raw({"PTTL", "cg:sess:call-1"});
  CAF_REQUIRE(ttl);
  CAF_CHECK(ttl->integer > 50'000 && ttl->integer <= 60'000);
  auto dropped = await<caf::error>([&](auto done) { hot->drop_session("call-1", done); });
  CAF_CHECK(!dropped);
  auto gone = await<caf::expected<std::optional<std::string>>>(
    [&](auto done) { hot->load_session("call-1", done); });
  CAF_REQUIRE(gone);
  CAF_CHECK(!gone->has_value());
}

CAF_TEST(a concurrency cap admits calls up to the cap and a released slot is free again) {
  for (auto uuid : {"c1", "c2", "c3"}) {
    auto d = acquire(uuid, 3);
    CAF_CHECK(d.acquired);
    CAF_CHECK_EQUAL(d.source, answer_source::redis);
  }
  auto refused = acquire("c4", 3);
  CAF_CHECK(!refused.acquired);
  CAF_CHECK_EQUAL(refused.in_use, 3);
  auto again = acquire("c2", 3);
  CAF_CHECK(again.acquired);
  CAF_CHECK_EQUAL(again.in_use, 3);
  release("c2");
  CAF_CHECK_EQUAL(in_use(), 2);
  auto admitted = acquire("c4", 3);
  CAF_CHECK(admitted.acquired);
  CAF_CHECK_EQUAL(admitted.in_use, 3);
  CAF_CHECK_EQUAL(hot->stats().slots_held, 3u);
  for (auto uuid : {"c1", "c3", "c4"})
    release(uuid);
  CAF_CHECK_EQUAL(in_use(), 0);
  CAF_CHECK_EQUAL(hot->stats().slots_held, 0u);
}

CAF_TEST(the slots of a daemon that died without releasing them expire) {
  auto crashed = make_hot_state(1000ms, 1000ms);
  CAF_CHECK(acquire("lost-1", 2, crashed.get()).acquired);
  CAF_CHECK(acquire("lost-2", 2, crashed.get()).acquired);
  crashed.reset(); // gone without a release, as a crash would leave it
  CAF_CHECK(!acquire("new-1", 2).acquired);
  std::this_thread::sleep_for(1100ms);
  CAF_CHECK_EQUAL(in_use(), 0);
  CAF_CHECK(acquire("new-1", 2).acquired);
  CAF_CHECK(acquire("new-2", 2).acquired);
}

CAF_TEST(a counter adds up and expires after its ttl) {
  for (int64_t expected : {5, 10, 15}) {
    auto v = await<counter_value>(
      [&](auto done) { hot->increment("calls:alice", 5, 1000ms, done); });
    CAF_CHECK_EQUAL(v.value, expected);
    CAF_CHECK_EQUAL(v.source, answer_source::redis);
  }
  auto ttl = raw({"PTTL", "cg:cnt:calls:alice"});
  CAF_REQUIRE(ttl);
  CAF_CHECK(ttl->integer > 0 && ttl->integer <= 1000);
  std::this_thread::sleep_for(1100ms);
  auto fresh = await<counter_value>(
    [&](auto done) { hot->increment("calls:alice", 1, 1000ms, done); });
  CAF_CHECK_EQUAL(fresh.value, 1);
}

CAF_TEST(a token bucket allows its burst then refills at its rate) {
  auto take = [&] {
    return await<rate_decision>([&](auto done) { hot->take_token("trunk-a", 4.0, 3, done); });
  };
  CAF_CHECK(take().allowed);
  CAF_CHECK(take().allowed);
  auto third = take();
  CAF_CHECK(third.allowed);
  CAF_CHECK_EQUAL(third.tokens_left, 0);
  CAF_CHECK(!take().allowed);
  std::this_thread::sleep_for(600ms); // 4 per second: at least two tokens back, at most the burst
  int allowed = 0;
  for (int i = 0; i < 10; ++i)
    allowed += take().allowed ? 1 : 0;
  CAF_CHECK(allowed >= 2);
  CAF_CHECK(allowed <= 3);
}

CAF_TEST(the lua scripts are loaded again after a script flush) {
  CAF_CHECK(acquire("s1", 5).acquired);
  auto loads_before = hot->stats().script_loads;
  auto flushed = raw({"SCRIPT", "FLUSH"});
  CAF_REQUIRE(flushed);
  CAF_CHECK(flushed->is_ok());
  auto d = acquire("s2", 5);
  CAF_CHECK(d.acquired);
  CAF_CHECK_EQUAL(d.in_use, 2);
  CAF_CHECK_EQUAL(d.source, answer_source::redis);
  CAF_CHECK(await<rate_decision>([&](auto done) { hot->take_token("b", 1.0, 1, done); }).allowed);
  CAF_CHECK_EQUAL(hot->stats().script_loads, loads_before + 2);
  CAF_CHECK_EQUAL(policy_count(*hot, key_class::concurrency), 0u);
}

CAF_TEST(a dedup key is granted to the first claimer only until it expires) {
  auto first = claim("attempt-77", 1000ms);
  CAF_CHECK(first.granted);
  CAF_CHECK_EQUAL(first.source, answer_source::redis);
  CAF_CHECK(!claim("attempt-77", 1000ms).granted);
  std::this_thread::sleep_for(1100ms);
  CAF_CHECK(claim("attempt-77", 1000ms).granted);
}

CAF_TEST(a lease is held renewed and released only by its owner) {
  auto lease = [&](auto op) { return await<claim_decision>(op); };
  CAF_CHECK(lease([&](auto d) { hot->acquire_lease("campaign-9", "node-a", 5s, d); }).granted);
  CAF_CHECK(lease([&](auto d) { hot->acquire_lease("campaign-9", "node-a", 5s, d); }).granted);
  CAF_CHECK(!lease([&](auto d) { hot->acquire_lease("campaign-9", "node-b", 5s, d); }).granted);
  CAF_CHECK(!lease([&](auto d) { hot->renew_lease("campaign-9", "node-b", 5s, d); }).granted);
  CAF_CHECK(lease([&](auto d) { hot->renew_lease("campaign-9", "node-a", 9s, d); }).granted);
  auto ttl = raw({"PTTL", "cg:lease:campaign-9"});
  CAF_REQUIRE(ttl);
  CAF_CHECK(ttl->integer > 8'000);
  CAF_CHECK(!lease([&](auto d) { hot->release_lease("campaign-9", "node-b", d); }).granted);
  CAF_CHECK(lease([&](auto d) { hot->release_lease("campaign-9", "node-a", d); }).granted);
  CAF_CHECK(lease([&](auto d) { hot->acquire_lease("campaign-9", "node-b", 5s, d); }).granted);
}

CAF_TEST(when redis is too slow each key class answers by its failure policy) {
  auto slow = make_hot_state(150ms, std::chrono::hours{1});
  CAF_CHECK(acquire("held-1", 4, slow.get()).acquired); // loads the scripts first
  CAF_CHECK(await<rate_decision>([&](auto d) { slow->take_token("r", 1.0, 4, d); }).allowed);
  auto paused_at = std::chrono::steady_clock::now();
  CAF_REQUIRE(raw({"CLIENT", "PAUSE", "3000", "ALL"}));
  // Concurrency: local share of a cap of 4 is 2, and this process holds one slot already.
  auto local = acquire("local-1", 4, slow.get());
  CAF_CHECK(local.acquired);
  CAF_CHECK_EQUAL(local.source, answer_source::local_fallback);
  CAF_CHECK_EQUAL(local.in_use, 2);
  auto over = acquire("local-2", 4, slow.get());
  CAF_CHECK(!over.acquired);
  CAF_CHECK_EQUAL(over.source, answer_source::local_fallback);
  // Rate limit: a local bucket with half the burst.
  auto rate = await<rate_decision>([&](auto d) { slow->take_token("r", 1.0, 4, d); });
  CAF_CHECK(rate.allowed);
  CAF_CHECK_EQUAL(rate.source, answer_source::local_fallback);
  // Counter: counted locally.
  auto count = await<counter_value>([&](auto d) { slow->increment("c", 2, 10s, d); });
  CAF_CHECK_EQUAL(count.value, 2);
  CAF_CHECK_EQUAL(count.source, answer_source::local_fallback);
  // Dedup and leases fail closed.
  auto dedup = await<claim_decision>([&](auto d) { slow->claim_once("attempt-1", 10s, d); });
  CAF_CHECK(!dedup.granted);
  CAF_CHECK_EQUAL(dedup.source, answer_source::fail_closed);
  auto lease = await<claim_decision>([&](auto d) { slow->acquire_lease("l", "me", 10s, d); });
  CAF_CHECK(!lease.granted);
  CAF_CHECK_EQUAL(lease.source, answer_source::fail_closed);
  // Sessions are dropped and counted.
  auto session = await<caf::error>([&](auto d) { slow->save_session("s", "v", 10s, d); });
  CAF_CHECK(session);
  auto stats = slow->stats();
  CAF_CHECK_EQUAL(stats.sessions_dropped, 1u);
  for (auto cls : {key_class::concurrency, key_class::rate_limit, key_class::counter,
                   key_class::dedup, key_class::lease, key_class::session}) {
    CAF_MESSAGE(to_string(cls) << ": " << policy_count(*slow, cls));
    CAF_CHECK(policy_count(*slow, cls) >= 1);
  }
  CAF_CHECK_EQUAL(policy_count(*slow, key_class::concurrency), 2u);
  CAF_CHECK(stats.redis.timeouts >= 7);
  // Once Redis answers again, so do the answers. The timed-out claim of attempt-1 was executed
  // when the pause ended: it stays claimed, so failing closed never let anyone dial it twice.
  std::this_thread::sleep_until(paused_at + 3100ms);
  auto back = await<claim_decision>([&](auto d) { slow->claim_once("attempt-2", 10s, d); });
  CAF_CHECK(back.granted);
  CAF_CHECK_EQUAL(back.source, answer_source::redis);
  auto late = await<claim_decision>([&](auto d) { slow->claim_once("attempt-1", 10s, d); });
  CAF_CHECK(!late.granted);
  CAF_CHECK_EQUAL(late.source, answer_source::redis);
}

CAF_TEST(a redis crash and restart during use leaves slot counts right) {
  // Traffic from another thread through the whole outage: every operation must be answered.
  std::atomic<bool> traffic_on{true};
  std::atomic<uint64_t> issued{0};
  auto answered = std::make_shared<std::atomic<uint64_t>>(0);
  std::thread traffic{[&] {
    while (traffic_on) {
      issued.fetch_add(1);
      hot->increment("traffic", 1, 60s, [answered](counter_value) { answered->fetch_add(1); });
      std::this_thread::sleep_for(1ms);
    }
  }};
  CAF_CHECK(acquire("before-1", 8).acquired);
  CAF_CHECK(acquire("before-2", 8).acquired);
  server.kill_hard();
  CAF_CHECK(eventually([&] { return !hot->client().connected(); }));
  // While down: local share of 8 is 4; two held already, so two more, then refused.
  auto down1 = acquire("down-1", 8);
  auto down2 = acquire("down-2", 8);
  auto down3 = acquire("down-3", 8);
  CAF_CHECK(down1.acquired);
  CAF_CHECK(down2.acquired);
  CAF_CHECK(!down3.acquired);
  CAF_CHECK_EQUAL(down3.source, answer_source::local_fallback);
  CAF_CHECK_EQUAL(down3.in_use, 4);
  auto closed = claim("campaign-x", 10s);
  CAF_CHECK(!closed.granted);
  CAF_CHECK_EQUAL(closed.source, answer_source::fail_closed);
  // A call that ended during the outage: its release waits for the connection.
  hot->release_slot("trunk", "carrier-a", "before-1");
  CAF_CHECK(eventually([&] { return hot->stats().releases_deferred == 1; }));
  CAF_CHECK_EQUAL(hot->stats().slots_local, 2u);
  server.start(); // empty: nothing persisted
  CAF_CHECK(eventually([&] { return hot->client().connected(); }));
  // The slots still held are registered again: before-2, down-1, down-2.
  CAF_CHECK(eventually([&] { return hot->stats().slots_local == 0; }));
  CAF_CHECK_EQUAL(in_use(), 3);
  CAF_CHECK_EQUAL(hot->stats().releases_deferred, 0u);
  auto after = acquire("after-1", 8);
  CAF_CHECK(after.acquired);
  CAF_CHECK_EQUAL(after.source, answer_source::redis);
  CAF_CHECK_EQUAL(after.in_use, 4);
  for (auto uuid : {"before-2", "down-1", "down-2", "after-1"})
    release(uuid);
  CAF_CHECK_EQUAL(in_use(), 0);
  CAF_CHECK(claim("campaign-x", 10s).granted);
  traffic_on = false;
  traffic.join();
  CAF_CHECK(eventually([&] { return answered->load() == issued.load(); }));
  CAF_CHECK(policy_count(*hot, key_class::counter) >= 1);
  CAF_CHECK_EQUAL(hot->client().stats().reconnects, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
