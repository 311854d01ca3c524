#define CAF_SUITE persistence.catalog_watcher

#include "persistence/catalog_watcher.hpp"

#include <caf/test/dsl.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::postgres_server;

namespace {

using clock_type = std::chrono::steady_clock;
using snapshot_ptr = std::shared_ptr<const catalog_snapshot>;

/// Collects what a watcher publishes, with the time each snapshot arrived.
struct collector {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<clock_type::time_point, snapshot_ptr>> snapshots;
  std::vector<caf::error> errors;

  catalog_watcher::snapshot_handler snapshot_handler() {
    return [this](snapshot_ptr snapshot) {
      std::lock_guard guard{mutex};
      snapshots.emplace_back(clock_type::now(), std::move(snapshot));
      changed.notify_all();
    };
  }

  catalog_watcher::error_handler error_handler() {
    return [this](const caf::error& err) {
      std::lock_guard guard{mutex};
      errors.push_back(err);
      changed.notify_all();
    };
  }

  /// Waits until a snapshot published at or after `since` satisfies `pred`; returns when it
  /// arrived, or nothing after `timeout`.
  std::optional<clock_type::time_point>
  wait_for(const std::function<bool(const catalog_snapshot&)>& pred,
           clock_type::time_point since = {}, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock guard{mutex};
    std::optional<clock_type::time_point> arrived;
    changed.wait_for(guard, timeout, [&] {
      for (const auto& [at, snapshot] : snapshots)
        if (at >= since && pred(*snapshot)) {
          arrived = at;
          return true;
        }
      return false;
    });
    return arrived;
  }

  size_t error_count() {
    std::lock_guard guard{mutex};
    return errors.size();
  }
};

/// Waits until `pred` holds, polling every 10 ms; returns whether it did within `timeout`.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

long long ms(clock_type::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

struct fixture {
  postgres_server pg;
  std::string conninfo;
  collector seen;

  fixture() {
    pg.create_database("catalog");
    conninfo = pg.conninfo("catalog");
    CAF_REQUIRE(schema_migrator::migrate(conninfo));
    pg.execute("INSERT INTO ivr_flows (flow_id, version, name, document) "
               "VALUES (1, 1, 'main', '{\"v\": 1}')",
               "catalog");
  }

  catalog_watcher_options options() {
    catalog_watcher_options opts;
    opts.conninfo = conninfo;
    return opts;
  }

  std::unique_ptr<catalog_watcher> start(catalog_watcher_options opts) {
    auto watcher = catalog_watcher::start(std::move(opts), seen.snapshot_handler(),
                                          seen.error_handler());
    if (!watcher) {
      CAF_FAIL("start failed: " << render_error(watcher.error()));
      return nullptr;
    }
    return std::move(*watcher);
  }

  void execute(const std::string& sql) { pg.execute(sql, "catalog"); }

  /// Runs `change`, waits for a snapshot satisfying `pred` and checks that it came within 1 s.
  void check_visible_within_a_second(const std::string& what, const std::function<void()>& change,
                                     const std::function<bool(const catalog_snapshot&)>& pred) {
    auto before = clock_type::now();
    change();
    auto arrived = seen.wait_for(pred, before);
    CAF_REQUIRE(arrived);
    auto latency = *arrived - before;
    CAF_MESSAGE(what << ": visible after " << ms(latency) << " ms");
    CAF_CHECK_LESS(latency, 1s);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(catalog_watcher_tests, fixture)

CAF_TEST(start publishes the catalog before it returns) {
  auto watcher = start(options());
  auto current = watcher->current();
  CAF_REQUIRE(current != nullptr);
  CAF_CHECK_EQUAL(current->generation, 1u);
  CAF_REQUIRE_EQUAL(current->flows.size(), 1u);
  CAF_CHECK_EQUAL(current->flows[0].document, R"({"v": 1})");
  auto status = watcher->status();
  CAF_CHECK(status.connected);
  CAF_CHECK_EQUAL(status.reloads, 1u);
  CAF_CHECK_EQUAL(status.generation, 1u);
  CAF_CHECK_GREATER(status.last_load_duration.count(), 0);
  CAF_MESSAGE("first load took " << status.last_load_duration.count() << " us");
  CAF_CHECK_EQUAL(status.last_error, "");
  CAF_CHECK_EQUAL(seen.snapshots.size(), 1u);
}

CAF_TEST(every kind of change is visible within one second without a restart) {
  auto watcher = start(options());
  check_visible_within_a_second(
    "INSERT route",
    [&] { execute("INSERT INTO routes (name, match_prefix, flow_id) VALUES ('r', '+49', 1)"); },
    [](const catalog_snapshot& s) { return s.find_route("r") != nullptr; });
  check_visible_within_a_second(
    "UPDATE route", [&] { execute("UPDATE routes SET priority = 3 WHERE name = 'r'"); },
    [](const catalog_snapshot& s) {
      const auto* r = s.find_route("r");
      return r != nullptr && r->priority == 3;
    });
  check_visible_within_a_second(
    "DELETE route", [&] { execute("DELETE FROM routes WHERE name = 'r'"); },
    [](const catalog_snapshot& s) { return s.routes.empty(); });
  check_visible_within_a_second(
    "new flow version",
    [&] {
      std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()),
                                                         &PQfinish};
      auto imported = catalog_store::import_flow(conn.get(), "main", R"({"v": 2})");
      CAF_REQUIRE(imported);
      CAF_CHECK_EQUAL(imported->version, 2);
    },
    [](const catalog_snapshot& s) {
      const auto* f = s.find_flow(1);
      return f != nullptr && f->version == 2 && f->document == R"({"v": 2})";
    });
  check_visible_within_a_second(
    "new prompt",
    [&] {
      execute("INSERT INTO prompts (name, language, uri) VALUES ('hello', 'en', 'file:///h')");
    },
    [](const catalog_snapshot& s) { return s.find_prompt("hello", "en") != nullptr; });
  check_visible_within_a_second(
    "campaign state", [&] { execute("INSERT INTO campaigns (name, state) VALUES ('c', 'running')"); },
    [](const catalog_snapshot& s) { return s.campaigns.size() == 1; });
  // A transaction that rolls back notifies nobody.
  auto reloads = watcher->status().reloads;
  execute("BEGIN; INSERT INTO routes (name, flow_id) VALUES ('ghost', 1); ROLLBACK");
  std::this_thread::sleep_for(400ms);
  CAF_CHECK_EQUAL(watcher->status().reloads, reloads);
  CAF_CHECK_EQUAL(seen.error_count(), 0u);
  // Generations count up by one per published snapshot.
  std::lock_guard guard{seen.mutex};
  for (size_t i = 0; i < seen.snapshots.size(); ++i)
    CAF_CHECK_EQUAL(seen.snapshots[i].second->generation, i + 1);
}

CAF_TEST(a burst of 100 changes is coalesced into a few reloads) {
  auto watcher = start(options());
  auto before = watcher->status();
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  CAF_REQUIRE_EQUAL(PQstatus(conn.get()), CONNECTION_OK);
  auto started = clock_type::now();
  for (int i = 0; i < 100; ++i) {
    auto sql = "INSERT INTO routes (name, match_prefix, flow_id) VALUES ('burst-"
               + std::to_string(i) + "', '+" + std::to_string(i) + "', 1)";
    std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()),
                                                      &PQclear};
    CAF_REQUIRE_EQUAL(PQresultStatus(res.get()), PGRES_COMMAND_OK);
  }
  auto burst = clock_type::now() - started;
  auto arrived
    = seen.wait_for([](const catalog_snapshot& s) { return s.routes.size() == 100; }, started);
  CAF_REQUIRE(arrived);
  CAF_CHECK_LESS(*arrived - started - burst, 1s);
  std::this_thread::sleep_for(500ms);
  auto after = watcher->status();
  auto reloads = after.reloads - before.reloads;
  CAF_MESSAGE("100 committed changes in " << ms(burst) << " ms: " << after.notifications
                                          << " notifications, " << reloads << " reloads");
  CAF_CHECK_GREATER_OR_EQUAL(reloads, 1u);
  CAF_CHECK_LESS_OR_EQUAL(reloads, 10u);
  CAF_CHECK_EQUAL(watcher->current()->routes.size(), 100u);
}

CAF_TEST(changes committed while reloads run are never lost) {
  auto opts = options();
  // Short windows: reloads run back to back and overlap the commits.
  opts.debounce = 2ms;
  opts.max_debounce = 5ms;
  auto watcher = start(opts);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  CAF_REQUIRE_EQUAL(PQstatus(conn.get()), CONNECTION_OK);
  for (int i = 0; i < 300; ++i) {
    auto sql = "INSERT INTO prompts (name, uri) VALUES ('p" + std::to_string(i) + "', 'file:///p')";
    std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()),
                                                      &PQclear};
    CAF_REQUIRE_EQUAL(PQresultStatus(res.get()), PGRES_COMMAND_OK);
    if (i % 10 == 0)
      std::this_thread::sleep_for(2ms);
  }
  auto last_commit = clock_type::now();
  // Only a load after the last commit can hold all 300.
  auto arrived = seen.wait_for([](const catalog_snapshot& s) { return s.prompts.size() == 300; });
  CAF_REQUIRE(arrived);
  CAF_MESSAGE(watcher->status().reloads << " reloads; the last change visible after "
                                        << ms(*arrived - last_commit) << " ms");
  CAF_CHECK_LESS(*arrived - last_commit, 1s);
}

CAF_TEST(the watcher survives a database restart and picks up a change made meanwhile) {
  auto opts = options();
  opts.backoff_initial = 50ms;
  opts.backoff_max = 400ms;
  auto watcher = start(opts);
  pg.stop();
  CAF_REQUIRE(eventually([&] { return !watcher->status().connected; }));
  std::this_thread::sleep_for(600ms); // a few failed reconnects
  auto down = watcher->status();
  CAF_MESSAGE("while down: " << down.failures << " failures, last error: " << down.last_error);
  CAF_CHECK_GREATER_OR_EQUAL(down.failures, 2u);
  CAF_CHECK(down.last_error.starts_with("db.db_unavailable: "));
  CAF_CHECK(watcher->current() != nullptr); // the last snapshot stays in use
  pg.start();
  auto restarted = clock_type::now();
  execute("INSERT INTO routes (name, match_prefix, flow_id) VALUES ('after-restart', '', 1)");
  auto arrived
    = seen.wait_for([](const catalog_snapshot& s) { return s.find_route("after-restart"); },
                    restarted);
  CAF_REQUIRE(arrived);
  CAF_MESSAGE("change visible " << ms(*arrived - restarted) << " ms after the restart");
  CAF_CHECK_LESS(*arrived - restarted, 2s);
  auto up = watcher->status();
  CAF_CHECK(up.connected);
  CAF_CHECK_GREATER_OR_EQUAL(up.reconnects, 1u);
  CAF_CHECK_GREATER(seen.error_count(), 0u);
  // And it listens again: the next change arrives within a second.
  check_visible_within_a_second(
    "change after reconnect", [&] { execute("DELETE FROM routes"); },
    [](const catalog_snapshot& s) { return s.routes.empty(); });
}

CAF_TEST(a change made while the watcher is disconnected still arrives) {
  auto opts = options();
  // Long enough that the change below surely lands before the reconnect.
  opts.backoff_initial = 1500ms;
  auto watcher = start(opts);
  execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE application_name = 'callgrid-catalog'");
  CAF_REQUIRE(eventually([&] { return !watcher->status().connected; }));
  auto lost = watcher->status();
  CAF_MESSAGE("lost: " << lost.last_error);
  CAF_CHECK_NOT_EQUAL(lost.last_error.find("connection lost"), std::string::npos);
  execute("INSERT INTO prompts (name, language, uri) VALUES ('missed', 'en', 'file:///m')");
  CAF_REQUIRE(!watcher->status().connected); // the premise: the NOTIFY went to nobody
  auto arrived
    = seen.wait_for([](const catalog_snapshot& s) { return s.find_prompt("missed", "en"); });
  CAF_REQUIRE(arrived);
  CAF_CHECK_EQUAL(watcher->status().reconnects, 1u);
}

CAF_TEST(start fails promptly when the database is unreachable) {
  pg.stop();
  auto opts = options();
  opts.connect_timeout = 2s;
  auto began = clock_type::now();
  auto watcher = catalog_watcher::start(opts, seen.snapshot_handler(), seen.error_handler());
  CAF_REQUIRE(!watcher);
  auto text = render_error(watcher.error());
  CAF_MESSAGE(text << " after " << ms(clock_type::now() - began) << " ms");
  CAF_CHECK_EQUAL(watcher.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  CAF_CHECK(text.starts_with("db.db_unavailable: catalog: connect to '"));
  CAF_CHECK_LESS(clock_type::now() - began, 2s);
  pg.start();
}

CAF_TEST(without a required first load the watcher waits for the database) {
  pg.stop();
  auto opts = options();
  opts.require_initial_load = false;
  opts.backoff_initial = 50ms;
  opts.backoff_max = 200ms;
  auto watcher = start(opts);
  CAF_CHECK(watcher->current() == nullptr);
  CAF_REQUIRE(eventually([&] { return seen.error_count() >= 2; }));
  pg.start();
  auto arrived = seen.wait_for([](const catalog_snapshot& s) { return s.flows.size() == 1; });
  CAF_REQUIRE(arrived);
  CAF_CHECK_EQUAL(watcher->status().reconnects, 0u); // the first connection, not a reconnect
  CAF_CHECK_EQUAL(watcher->current()->generation, 1u);
}

CAF_TEST(stop returns promptly while the watcher waits or backs off) {
  auto opts = options();
  opts.backoff_initial = 10s;
  opts.keepalive_interval = 60s;
  auto watcher = start(opts);
  auto began = clock_type::now();
  watcher->stop();
  CAF_CHECK_LESS(clock_type::now() - began, 500ms);
  CAF_CHECK(!watcher->status().connected);
  watcher->stop(); // idempotent
  // In a ten-second backoff after a lost connection.
  auto backing_off = start(opts);
  execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE application_name = 'callgrid-catalog'");
  CAF_REQUIRE(eventually([&] { return !backing_off->status().connected; }));
  began = clock_type::now();
  backing_off.reset();
  CAF_CHECK_LESS(clock_type::now() - began, 500ms);
}

CAF_TEST(keepalive queries on a healthy connection change nothing) {
  auto opts = options();
  opts.keepalive_interval = 100ms;
  opts.backoff_initial = 50ms;
  auto watcher = start(opts);
  std::this_thread::sleep_for(350ms); // three keepalives on a healthy link change nothing
  CAF_CHECK(watcher->status().connected);
  CAF_CHECK_EQUAL(watcher->status().failures, 0u);
  CAF_CHECK_EQUAL(watcher->status().reloads, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
