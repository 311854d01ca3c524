#define CAF_SUITE cluster.admin_state_store

#include "cluster/admin_state_store.hpp"

#include <chrono>
#include <string>

#include <caf/test/unit_test.hpp>

#include "cluster/error.hpp"
#include "cluster/membership.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/connection_pool.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::cluster;
using namespace std::chrono_literals;
using callgrid::persistence::connection_pool;
using callgrid::persistence::schema_migrator;
using callgrid::test_support::postgres_server;

namespace {

struct fixture {
  postgres_server pg;
  std::string conninfo;
  std::unique_ptr<connection_pool> pool;

  fixture() {
    pg.create_database("cluster");
    conninfo = pg.conninfo("cluster");
    auto migrated = schema_migrator::migrate(conninfo);
    if (!migrated)
      CAF_FAIL("migrate: " << callgrid::persistence::render_error(migrated.error()));
    pool = std::make_unique<connection_pool>(
      callgrid::persistence::connection_pool_options{conninfo, 2});
  }

  std::string query(const std::string& sql) {
    auto lease = pool->acquire(2s);
    CAF_REQUIRE(lease);
    auto result = callgrid::persistence::internal::pg_exec(lease->get(), "test", sql);
    CAF_REQUIRE(result);
    return callgrid::persistence::internal::pg_text(result->get(), 0, 0);
  }
};

persist_node drained_row() {
  persist_node row;
  row.node = "fs-1";
  row.sip_uri = "sip:10.0.0.5:5060";
  row.capacity = 200;
  row.admin.node = "fs-1";
  row.admin.eligible = false;
  row.admin.drain_requested = true;
  row.admin.drain_reason = "kernel update";
  row.admin.drain_deadline_unix_ms = 1'800'000'000'123;
  row.admin.reason = "kernel update";
  row.admin.changed_by = "ops";
  row.action = admin_action{"fs-1", "drain", "ops", "kernel update", "deadline x"};
  return row;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(admin_state_store_tests, fixture)

CAF_TEST(admin state written by one coordinator is what the next one loads) {
  auto lease = pool->acquire(2s);
  CAF_REQUIRE(lease);
  auto empty = admin_state_store::load(lease->get());
  CAF_REQUIRE(empty);
  CAF_CHECK(empty->empty());
  persist_node joined;
  joined.node = "fs-2";
  joined.sip_uri = "sip:10.0.0.6:5060";
  joined.capacity = 100;
  joined.admin.node = "fs-2";
  CAF_CHECK(!admin_state_store::save(lease->get(), joined));
  CAF_CHECK(!admin_state_store::save(lease->get(), drained_row()));
  auto loaded = admin_state_store::load(lease->get());
  CAF_REQUIRE(loaded);
  CAF_REQUIRE_EQUAL(loaded->size(), 2u);
  const auto& fs1 = loaded->at(0);
  CAF_CHECK(fs1 == drained_row().admin);
  const auto& fs2 = loaded->at(1);
  CAF_CHECK(fs2 == joined.admin);
  CAF_CHECK_EQUAL(query("SELECT sip_uri || ' ' || capacity FROM nodes WHERE id = 'fs-1'"),
                  "sip:10.0.0.5:5060 200");
  CAF_CHECK_EQUAL(query("SELECT drain_deadline = to_timestamp(1800000000.123) FROM nodes "
                        "WHERE id = 'fs-1'"),
                  "t");
}

CAF_TEST(every admin action is in the audit log with who and why) {
  auto lease = pool->acquire(2s);
  CAF_REQUIRE(lease);
  CAF_REQUIRE(!admin_state_store::save(lease->get(), drained_row()));
  auto cancelled = drained_row();
  cancelled.admin.drain_requested = false;
  cancelled.admin.drain_reason.clear();
  cancelled.admin.drain_deadline_unix_ms = 0;
  cancelled.admin.reason = "false alarm";
  cancelled.admin.changed_by = "alice";
  cancelled.action = admin_action{"fs-1", "cancel_drain", "alice", "false alarm", ""};
  CAF_REQUIRE(!admin_state_store::save(lease->get(), cancelled));
  auto log = admin_state_store::audit_log(lease->get(), "fs-1");
  CAF_REQUIRE(log);
  CAF_REQUIRE_EQUAL(log->size(), 2u);
  CAF_CHECK(log->at(0).action == *cancelled.action);
  CAF_CHECK(log->at(1).action == *drained_row().action);
  CAF_CHECK_GREATER(log->at(0).at_unix_ms, 1'700'000'000'000);
  CAF_CHECK_EQUAL(query("SELECT version FROM nodes WHERE id = 'fs-1'"), "2");
  CAF_CHECK_EQUAL(query("SELECT drain_deadline IS NULL FROM nodes WHERE id = 'fs-1'"), "t");
  auto all = admin_state_store::audit_log(lease->get(), "", 1);
  CAF_REQUIRE(all);
  CAF_CHECK_EQUAL(all->size(), 1u);
}

CAF_TEST(a failed write leaves neither the row nor the audit entry) {
  auto lease = pool->acquire(2s);
  CAF_REQUIRE(lease);
  auto bad = drained_row();
  bad.action->action = "reboot";
  auto err = admin_state_store::save(lease->get(), bad);
  CAF_REQUIRE(err);
  CAF_CHECK(err == callgrid::persistence::errc::db_query_failed);
  CAF_MESSAGE(render_error(err));
  CAF_CHECK_EQUAL(query("SELECT count(*) FROM nodes"), "0");
  CAF_CHECK_EQUAL(query("SELECT count(*) FROM node_admin_actions"), "0");
}

CAF_TEST(a stopped database is db_unavailable) {
  auto lease = pool->acquire(2s);
  CAF_REQUIRE(lease);
  pg.stop();
  auto loaded = admin_state_store::load(lease->get());
  CAF_REQUIRE(!loaded);
  CAF_CHECK(loaded.error() == callgrid::persistence::errc::db_unavailable);
  lease->mark_broken();
}

CAF_TEST_FIXTURE_SCOPE_END()
