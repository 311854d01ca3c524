#define CAF_SUITE cluster.leader_lock

#include "cluster/leader_lock.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <caf/test/unit_test.hpp>

#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::cluster;
using namespace std::chrono_literals;
using callgrid::persistence::schema_migrator;
using callgrid::test_support::postgres_server;

namespace {

using steady = std::chrono::steady_clock;

/// How often the standby retries in these tests (the elector's default is 1 s).
constexpr auto retry_interval = 100ms;

/// Whether `lock` leads after a try; an error is a test failure.
bool acquire(leader_lock& lock) {
  auto taken = lock.try_acquire();
  if (!taken) {
    CAF_FAIL("try_acquire: " << callgrid::persistence::render_error(taken.error()));
    return false;
  }
  return *taken;
}

struct fixture {
  postgres_server pg;
  std::string conninfo;

  fixture() {
    pg.create_database("cluster");
    conninfo = pg.conninfo("cluster");
    auto migrated = schema_migrator::migrate(conninfo);
    if (!migrated)
      CAF_FAIL("migrate: " << callgrid::persistence::render_error(migrated.error()));
  }

  leader_lock_options options_for(const std::string& name, const std::string& address) {
    return leader_lock_options{conninfo, default_leader_lock_key, address, name};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(leader_lock_tests, fixture)

CAF_TEST(one of two coordinators leads and records its address) {
  leader_lock a{options_for("coord-a", "127.0.0.1:4001")};
  leader_lock b{options_for("coord-b", "127.0.0.1:4002")};
  auto a_leads = a.try_acquire();
  CAF_REQUIRE(a_leads);
  CAF_CHECK(*a_leads);
  auto b_leads = b.try_acquire();
  CAF_REQUIRE(b_leads);
  CAF_CHECK(!*b_leads);
  CAF_CHECK(a.held());
  CAF_CHECK(!b.held());
  CAF_CHECK(b.connection() == nullptr);
  auto recorded = leader_lock::read_leader_address(conninfo);
  CAF_REQUIRE(recorded);
  CAF_CHECK_EQUAL(*recorded, "127.0.0.1:4001");
  auto seen_by_b = b.current_leader();
  CAF_REQUIRE(seen_by_b);
  CAF_CHECK_EQUAL(*seen_by_b, "127.0.0.1:4001");
  auto again = a.try_acquire();
  CAF_REQUIRE(again);
  CAF_CHECK(*again);
}

CAF_TEST(the standby takes over within the retry interval when the connection of the leader dies) {
  leader_lock a{options_for("coord-a", "127.0.0.1:4001")};
  leader_lock b{options_for("coord-b", "127.0.0.1:4002")};
  CAF_REQUIRE(acquire(a));
  CAF_REQUIRE(!acquire(b));
  const auto killed_at = steady::now();
  pg.execute("SELECT pg_terminate_backend(" + std::to_string(a.backend_pid()) + ")", "cluster");
  bool b_leads = false;
  while (!b_leads && steady::now() - killed_at < 5s) {
    std::this_thread::sleep_for(retry_interval);
    auto taken = b.try_acquire();
    CAF_REQUIRE(taken);
    b_leads = *taken;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now()
                                                                          - killed_at);
  CAF_MESSAGE("the standby led " << took.count() << " ms after the leader's connection died");
  CAF_REQUIRE(b_leads);
  // Bound: one retry interval plus the time the server needs to end the session (well under a
  // second on loopback).
  CAF_CHECK_LESS(took, retry_interval + 1s);
  auto recorded = leader_lock::read_leader_address(conninfo);
  CAF_REQUIRE(recorded);
  CAF_CHECK_EQUAL(*recorded, "127.0.0.1:4002");
  // The old leader finds out at its next check and stops leading.
  auto held = a.still_held();
  CAF_CHECK(!held || !*held);
  CAF_CHECK(!a.held());
  // It may compete again, as a standby.
  auto retry = a.try_acquire();
  CAF_REQUIRE(retry);
  CAF_CHECK(!*retry);
}

CAF_TEST(releasing the lock hands leadership over at once) {
  leader_lock a{options_for("coord-a", "127.0.0.1:4001")};
  leader_lock b{options_for("coord-b", "127.0.0.1:4002")};
  CAF_REQUIRE(acquire(a));
  a.release();
  CAF_CHECK(acquire(b));
}

CAF_TEST(without a database nobody leads) {
  leader_lock a{options_for("coord-a", "127.0.0.1:4001")};
  CAF_REQUIRE(acquire(a));
  pg.stop();
  auto held = a.still_held();
  CAF_REQUIRE(!held);
  CAF_CHECK(held.error() == callgrid::persistence::errc::db_unavailable);
  CAF_CHECK(!a.held());
  auto taken = a.try_acquire();
  CAF_REQUIRE(!taken);
  CAF_CHECK(taken.error() == callgrid::persistence::errc::db_unavailable);
}

CAF_TEST_FIXTURE_SCOPE_END()
