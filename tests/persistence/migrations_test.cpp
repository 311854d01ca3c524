#define CAF_SUITE persistence.migrations

#include "persistence/schema_migrator.hpp"

#include <caf/test/dsl.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::persistence;
using callgrid::test_support::postgres_server;

namespace {

struct conn_deleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

struct result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

/// The outcome of one statement: the SQLSTATE ("" on success) and the first column of the first
/// row (nullopt for NULL or no row).
struct outcome {
  std::string sqlstate;
  std::optional<std::string> value;
  std::string message;
};

/// Runs `sql` on a new connection to `conninfo`.
outcome run_sql(const std::string& conninfo, const std::string& sql) {
  conn_ptr conn{PQconnectdb(conninfo.c_str())};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return {"08000", std::nullopt, PQerrorMessage(conn.get())};
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  result_ptr result{PQexec(conn.get(), sql.c_str())};
  auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    return {state != nullptr ? state : "?????", std::nullopt,
            PQresultErrorMessage(result.get())};
  }
  if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0
      && PQgetisnull(result.get(), 0, 0) == 0)
    return {"", std::string{PQgetvalue(result.get(), 0, 0)}, ""};
  return {"", std::nullopt, ""};
}

/// Runs `sql` and returns its value; a failure is a test failure and gives "<failed>".
std::optional<std::string> value_of(const std::string& conninfo, const std::string& sql) {
  auto result = run_sql(conninfo, sql);
  if (!result.sqlstate.empty()) {
    CAF_FAIL("query failed: " << sql << ": " << result.message);
    return "<failed>";
  }
  return result.value;
}

/// A catalog description of the public schema: columns, indexes, constraints, views, functions,
/// triggers and tables, one per line, sorted. Two databases with the same text have the same
/// schema.
const char* const schema_snapshot = R"(
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
         || is_nullable || ' ' || coalesce(column_default, '') AS line
  FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
  UNION ALL
  SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p
  WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
  WHERE NOT tgisinternal
  UNION ALL
  SELECT 'table ' || c.relname || ' ' || c.relkind::text || ' ' || c.relpersistence::text || ' '
         || coalesce(pg_get_expr(c.relpartbound, c.oid), '')
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v')
  UNION ALL
  SELECT 'daily partitions ' || count(*) FROM pg_class
  WHERE relnamespace = 'public'::regnamespace AND relname ~ '^cdr_[0-9]{8}$'
) AS lines
-- Daily partitions are named by the day the migration ran; compare their number, not their names,
-- so that a run across midnight (UTC) does not fail.
WHERE line !~ 'cdr_[0-9]{8}')";

/// An INSERT of one leg-0 record for `call_uuid` ending at `ended_at`; answered `billsec_s`
/// seconds before the end when `billsec_s` >= 0, never answered otherwise.
std::string cdr_insert(const std::string& call_uuid, const std::string& ended_at,
                       int billsec_s = -1, int leg = 0, const std::string& suffix = "") {
  auto answered = billsec_s >= 0 ? "timestamptz '" + ended_at + "' - interval '"
                                     + std::to_string(billsec_s) + " seconds'"
                                 : std::string{"NULL"};
  return "INSERT INTO cdr (call_uuid, leg_uuid, leg, direction, caller, callee, route_id, "
         "campaign_id, node, esl_mode, created_at, answered_at, ended_at, duration_ms, "
         "billsec_ms, hangup_cause, sip_code, disposition, ivr_path, end_reason) VALUES ('"
         + call_uuid + "', '" + call_uuid + "-" + std::to_string(leg) + "', "
         + std::to_string(leg) + ", 'inbound', '+15550001', '+15550002', 7, NULL, 'fs1', "
         + "'inbound', timestamptz '" + ended_at + "' - interval '2 minutes', " + answered
         + ", '" + ended_at + "', 120000, " + std::to_string(billsec_s >= 0 ? billsec_s * 1000 : 0)
         + ", 'NORMAL_CLEARING', 200, 'answered', '[{\"menu\":\"main\",\"choice\":\"1\"}]', "
         + "'normal')" + suffix;
}

struct fixture {
  postgres_server pg;

  /// Creates the database `name` and returns its conninfo.
  std::string fresh_database(const std::string& name) {
    pg.create_database(name);
    return pg.conninfo(name);
  }

  /// Creates a database and migrates it to the latest version.
  std::string migrated_database(const std::string& name) {
    auto conninfo = fresh_database(name);
    auto report = schema_migrator::migrate(conninfo);
    CAF_REQUIRE(report);
    return conninfo;
  }
};

std::vector<int> versions_from(int first) {
  std::vector<int> out;
  for (const auto& m : schema_migrator::migrations())
    if (m.version >= first)
      out.push_back(m.version);
  return out;
}

} // namespace

CAF_TEST(the embedded migrations are numbered 1 to n without gaps) {
  auto all = schema_migrator::migrations();
  CAF_REQUIRE_GREATER_OR_EQUAL(all.size(), 3u);
  for (size_t i = 0; i < all.size(); ++i) {
    CAF_CHECK_EQUAL(all[i].version, static_cast<int>(i + 1));
    CAF_CHECK(!all[i].name.empty());
    CAF_CHECK(!all[i].sql.empty());
  }
  CAF_CHECK_EQUAL(schema_migrator::expected_version(), static_cast<int>(all.size()));
}

CAF_TEST_FIXTURE_SCOPE(migrations_tests, fixture)

CAF_TEST(migrating an empty database applies every migration and check accepts it) {
  auto conninfo = fresh_database("empty");
  auto started = std::chrono::steady_clock::now();
  auto report = schema_migrator::migrate(conninfo);
  auto took = std::chrono::steady_clock::now() - started;
  CAF_REQUIRE(report);
  CAF_MESSAGE("migrating from empty took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CAF_CHECK_EQUAL(report->from_version, 0);
  CAF_CHECK_EQUAL(report->to_version, schema_migrator::expected_version());
  CAF_CHECK_EQUAL(report->applied, versions_from(1));
  auto status = schema_migrator::check(conninfo);
  CAF_REQUIRE(status);
  CAF_CHECK_EQUAL(status->current, schema_migrator::expected_version());
  CAF_CHECK_EQUAL(status->expected, schema_migrator::expected_version());
  for (auto table : {"nodes", "routes", "ivr_flows", "prompts", "campaigns", "contacts",
                     "attempts", "dnc", "cdr", "cdr_default", "cdr_keys", "cdr_staging",
                     "cdr_rollup_hourly"})
    CAF_CHECK_EQUAL(value_of(conninfo, std::string{"SELECT to_regclass('"} + table
                                         + "') IS NOT NULL"),
                    std::optional<std::string>{"t"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT string_agg(name, ',' ORDER BY version) "
                                     "FROM schema_version"),
                  std::optional<std::string>{"core,cdr,rollups,engine_routes,cluster"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT relpersistence FROM pg_class "
                                     "WHERE relname = 'cdr_staging'"),
                  std::optional<std::string>{"u"});
}

CAF_TEST(a second migration run applies nothing) {
  auto conninfo = migrated_database("twice");
  auto before = value_of(conninfo, schema_snapshot);
  auto report = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(report);
  CAF_CHECK(report->applied.empty());
  CAF_CHECK_EQUAL(report->from_version, schema_migrator::expected_version());
  CAF_CHECK_EQUAL(report->to_version, schema_migrator::expected_version());
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM schema_version"),
                  std::optional<std::string>{std::to_string(schema_migrator::expected_version())});
  CAF_CHECK_EQUAL(value_of(conninfo, schema_snapshot), before);
}

CAF_TEST(migrating from every earlier version gives the schema of a migration from empty) {
  auto reference = value_of(migrated_database("reference"), schema_snapshot);
  CAF_REQUIRE(reference && reference->size() > 1000);
  CAF_CHECK_NOT_EQUAL(reference->find("daily partitions 8"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(reference->find("trigger cdr CREATE TRIGGER cdr_record_keys"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(reference->find("index CREATE INDEX cdr_node_idx"), std::string::npos);
  for (int k = 0; k < schema_migrator::expected_version(); ++k) {
    CAF_MESSAGE("from version " << k);
    auto conninfo = fresh_database("from_" + std::to_string(k));
    auto partial = schema_migrator::migrate(conninfo, k);
    CAF_REQUIRE(partial);
    CAF_CHECK_EQUAL(partial->to_version, k);
    auto status = schema_migrator::check(conninfo);
    CAF_REQUIRE(!status);
    CAF_CHECK_EQUAL(status.error().code(), static_cast<uint8_t>(errc::schema_too_old));
    auto rest = schema_migrator::migrate(conninfo);
    CAF_REQUIRE(rest);
    CAF_CHECK_EQUAL(rest->from_version, k);
    CAF_CHECK_EQUAL(rest->applied, versions_from(k + 1));
    CAF_CHECK(schema_migrator::check(conninfo));
    CAF_CHECK_EQUAL(value_of(conninfo, schema_snapshot), reference);
  }
}

CAF_TEST(check names the fix for a schema that is too old or too new) {
  auto conninfo = fresh_database("versions");
  auto empty = schema_migrator::check(conninfo);
  CAF_REQUIRE(!empty);
  CAF_CHECK_EQUAL(empty.error().code(), static_cast<uint8_t>(errc::schema_too_old));
  CAF_MESSAGE(render_error(empty.error()));
  CAF_CHECK(render_error(empty.error()).starts_with("db.schema_too_old: "));
  CAF_CHECK_NOT_EQUAL(render_error(empty.error()).find("at version 0"), std::string::npos);
  CAF_REQUIRE(schema_migrator::migrate(conninfo, 1));
  auto old = schema_migrator::check(conninfo);
  CAF_REQUIRE(!old);
  auto old_text = render_error(old.error());
  CAF_MESSAGE(old_text);
  CAF_CHECK_EQUAL(old.error().code(), static_cast<uint8_t>(errc::schema_too_old));
  CAF_CHECK_NOT_EQUAL(old_text.find("run `callgridd migrate`"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(old_text.find("0002_cdr.sql"), std::string::npos);
  CAF_REQUIRE(schema_migrator::migrate(conninfo));
  CAF_CHECK(schema_migrator::check(conninfo));
  pg.execute("INSERT INTO schema_version (version, name) VALUES (9999, 'from_the_future')",
             "versions");
  auto too_new = schema_migrator::check(conninfo);
  CAF_REQUIRE(!too_new);
  auto new_text = render_error(too_new.error());
  CAF_MESSAGE(new_text);
  CAF_CHECK_EQUAL(too_new.error().code(), static_cast<uint8_t>(errc::schema_too_new));
  CAF_CHECK_NOT_EQUAL(new_text.find("this daemon is older than the database schema 9999; "
                                    "upgrade callgridd"),
                      std::string::npos);
  // migrate never touches a newer schema.
  auto refused = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(!refused);
  CAF_CHECK_EQUAL(refused.error().code(), static_cast<uint8_t>(errc::schema_too_new));
}

CAF_TEST(concurrent migration runs apply each migration exactly once) {
  auto conninfo = fresh_database("concurrent");
  constexpr int runners = 4;
  std::vector<caf::expected<migration_report>> reports(runners, migration_report{});
  std::vector<std::thread> threads;
  for (int i = 0; i < runners; ++i)
    threads.emplace_back([&, i] { reports[i] = schema_migrator::migrate(conninfo); });
  for (auto& thread : threads)
    thread.join();
  std::vector<int> applied;
  for (auto& report : reports) {
    CAF_REQUIRE(report);
    CAF_CHECK_EQUAL(report->to_version, schema_migrator::expected_version());
    applied.insert(applied.end(), report->applied.begin(), report->applied.end());
  }
  std::sort(applied.begin(), applied.end());
  CAF_CHECK_EQUAL(applied, versions_from(1));
  CAF_CHECK(schema_migrator::check(conninfo));
}

CAF_TEST(a failing migration is rolled back and reported with the server message) {
  auto conninfo = fresh_database("failing");
  // An operator's table in the way of 0001_core: its CREATE TABLE nodes fails.
  pg.execute("CREATE TABLE nodes (id int)", "failing");
  auto report = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(!report);
  auto text = render_error(report.error());
  CAF_MESSAGE(text);
  CAF_CHECK_EQUAL(report.error().code(), static_cast<uint8_t>(errc::migration_failed));
  CAF_CHECK(text.starts_with("db.migration_failed: migration 0001_core.sql: "));
  CAF_CHECK_NOT_EQUAL(text.find("already exists"), std::string::npos);
  // Nothing of 0001 stayed, and nothing is recorded.
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT to_regclass('ivr_flows') IS NULL"),
                  std::optional<std::string>{"t"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM schema_version"),
                  std::optional<std::string>{"0"});
  pg.execute("DROP TABLE nodes", "failing");
  auto retried = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(retried);
  CAF_CHECK_EQUAL(retried->applied, versions_from(1));
}

CAF_TEST(a record for a day without a partition lands in the default partition) {
  auto conninfo = migrated_database("partitions");
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("far-future", "2031-03-04 12:00:00+00")).sqlstate,
                  "");
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT tableoid::regclass::text FROM cdr"),
                  std::optional<std::string>{"cdr_default"});
  // Today's partition exists from the migration; tomorrow's comes from the function, once.
  auto today = value_of(conninfo, "SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD')");
  CAF_REQUIRE(today);
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT to_regclass('cdr_" + *today + "') IS NOT NULL"),
                  std::optional<std::string>{"t"});
  const std::string day_after_week = "(now() AT TIME ZONE 'UTC')::date + 8";
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT callgrid_create_cdr_partitions(" + day_after_week
                                       + ", 1)"),
                  std::optional<std::string>{"1"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT callgrid_create_cdr_partitions(" + day_after_week
                                       + ", 1)"),
                  std::optional<std::string>{"0"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT to_regclass('cdr_' || to_char(" + day_after_week
                                       + ", 'YYYYMMDD')) IS NOT NULL"),
                  std::optional<std::string>{"t"});
  // The partition for the record's day takes the record out of the default partition.
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT callgrid_create_cdr_partitions('2031-03-03', 3)"),
                  std::optional<std::string>{"3"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT tableoid::regclass::text FROM cdr"),
                  std::optional<std::string>{"cdr_20310304"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM cdr_default"),
                  std::optional<std::string>{"0"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM pg_indexes "
                                     "WHERE tablename = 'cdr_20310304'"),
                  std::optional<std::string>{"6"});
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("far-future-2", "2031-03-04 13:00:00+00")).sqlstate,
                  "");
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM cdr_20310304"),
                  std::optional<std::string>{"2"});
}

CAF_TEST(a second record of the same leg is rejected and a replay is dropped) {
  auto conninfo = migrated_database("unique_leg");
  const std::string ended = "2031-05-06 10:00:00+00";
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("call-1", ended, 30)).sqlstate, "");
  // A replay of the same record (at-least-once delivery) is dropped without an error.
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("call-1", ended, 30,
                                               0, " ON CONFLICT (call_uuid, leg, ended_at) "
                                                  "DO NOTHING"))
                    .sqlstate,
                  "");
  // The same replay without ON CONFLICT is a unique violation on cdr itself.
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("call-1", ended, 30)).sqlstate, "23505");
  // A different record of the same leg, in another partition even, is rejected by cdr_keys.
  auto other = run_sql(conninfo, cdr_insert("call-1", "2031-05-07 10:00:00+00", 30));
  CAF_CHECK_EQUAL(other.sqlstate, "23505");
  CAF_CHECK_NOT_EQUAL(other.message.find("cdr_keys_pkey"), std::string::npos);
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("call-1", "2031-05-07 10:00:00+00", 30, 0,
                                               " ON CONFLICT (call_uuid, leg, ended_at) "
                                               "DO NOTHING"))
                    .sqlstate,
                  "23505");
  // Another leg of the same call is a record of its own.
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("call-1", ended, 30, 1)).sqlstate, "");
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM cdr"),
                  std::optional<std::string>{"2"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM cdr_keys"),
                  std::optional<std::string>{"2"});
  // The batcher's statement (README): staging rows with duplicates inside the batch and against
  // the table, run twice, store each leg once and never fail.
  const std::string ingest =
    "INSERT INTO cdr SELECT DISTINCT ON (call_uuid, leg) s.* FROM cdr_staging s "
    "WHERE NOT EXISTS (SELECT 1 FROM cdr_keys k WHERE k.call_uuid = s.call_uuid "
    "AND k.leg = s.leg) ON CONFLICT (call_uuid, leg, ended_at) DO NOTHING";
  CAF_CHECK_EQUAL(run_sql(conninfo, "INSERT INTO cdr_staging SELECT * FROM cdr").sqlstate, "");
  auto staged_new = cdr_insert("call-2", ended, 10);
  staged_new.replace(staged_new.find("INTO cdr "), 9, "INTO cdr_staging ");
  CAF_CHECK_EQUAL(run_sql(conninfo, staged_new).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, staged_new).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, ingest).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, ingest).sqlstate, "");
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) FROM cdr"),
                  std::optional<std::string>{"3"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT ivr_path->0->>'menu' FROM cdr "
                                     "WHERE call_uuid = 'call-2'"),
                  std::optional<std::string>{"main"});
}

CAF_TEST(rollups show an hour without calls as undefined and compute ASR and ACD) {
  auto conninfo = migrated_database("rollups");
  // Hour 10:00: four calls on route 7, three answered with 30, 60 and 90 s; a second leg of
  // one of them does not count as a call.
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r1", "2031-06-01 10:05:00+00", 30)).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r2", "2031-06-01 10:15:00+00", 60)).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r3", "2031-06-01 10:25:00+00", 90)).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r4", "2031-06-01 10:35:00+00")).sqlstate, "");
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r1", "2031-06-01 10:05:00+00", 500, 1)).sqlstate,
                  "");
  const std::string hours =
    "FROM callgrid_cdr_rollup('2031-06-01 09:00+00', '2031-06-01 11:00+00', 'route', '7')";
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT count(*) " + hours),
                  std::optional<std::string>{"2"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT calls || '/' || answered || '/' "
                                     "|| coalesce(asr::text, 'undefined') || '/' "
                                     "|| coalesce(acd_seconds::text, 'undefined') "
                                     + hours + " WHERE hour = '2031-06-01 09:00+00'"),
                  std::optional<std::string>{"0/0/undefined/undefined"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT calls || '/' || answered || '/' || asr || '/' "
                                     "|| acd_seconds "
                                     + hours + " WHERE hour = '2031-06-01 10:00+00'"),
                  std::optional<std::string>{"4/3/0.7500/60.000"});
  // The view: the same numbers per route and per node; no campaign row (no campaign_id).
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT string_agg(dimension || ':' || dimension_key || ':' "
                                     "|| calls || '/' || answered || '/' || asr || '/' "
                                     "|| acd_seconds, ' ' ORDER BY dimension) "
                                     "FROM cdr_rollup_hourly"),
                  std::optional<std::string>{"node:fs1:4/3/0.7500/60.000 "
                                             "route:7:4/3/0.7500/60.000"});
  // No answered call in an hour: ASR 0, ACD undefined.
  CAF_CHECK_EQUAL(run_sql(conninfo, cdr_insert("r5", "2031-06-01 12:10:00+00")).sqlstate, "");
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT asr || '/' || coalesce(acd_seconds::text, "
                                     "'undefined') FROM cdr_rollup_hourly WHERE dimension = "
                                     "'route' AND hour = '2031-06-01 12:00+00'"),
                  std::optional<std::string>{"0.0000/undefined"});
}

CAF_TEST(an unreachable database is db_unavailable and the password stays hidden) {
  auto conninfo = pg.conninfo("postgres") + " password=s3cr3t-pw";
  pg.stop();
  auto migrated = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(!migrated);
  CAF_CHECK_EQUAL(migrated.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  auto text = render_error(migrated.error());
  CAF_MESSAGE(text);
  CAF_CHECK(text.starts_with("db.db_unavailable: connect to '"));
  CAF_CHECK_NOT_EQUAL(text.find("password=***"), std::string::npos);
  CAF_CHECK_EQUAL(text.find("s3cr3t-pw"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("Connection refused"), std::string::npos);
  auto checked = schema_migrator::check(conninfo);
  CAF_REQUIRE(!checked);
  CAF_CHECK_EQUAL(checked.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  CAF_CHECK_EQUAL(render_error(checked.error()).find("s3cr3t-pw"), std::string::npos);
  // Back up: the same call succeeds.
  pg.start();
  CAF_CHECK(schema_migrator::migrate(conninfo));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(passwords are masked in both conninfo forms) {
  CAF_CHECK_EQUAL(schema_migrator::mask_password("host=db port=5432 password=secret user=cg"),
                  "host=db port=5432 password=*** user=cg");
  CAF_CHECK_EQUAL(schema_migrator::mask_password("host=db password = 'se cr\\'et' dbname=x"),
                  "host=db password = *** dbname=x");
  CAF_CHECK_EQUAL(schema_migrator::mask_password("postgresql://cg:secret@db:5432/callgrid"),
                  "postgresql://cg:***@db:5432/callgrid");
  CAF_CHECK_EQUAL(schema_migrator::mask_password("postgres://db/callgrid?user=cg&password=x&a=b"),
                  "postgres://db/callgrid?user=cg&password=***&a=b");
  CAF_CHECK_EQUAL(schema_migrator::mask_password("host=db user=cg"), "host=db user=cg");
}
