#define CAF_SUITE persistence.record_pipeline_crash

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "persistence/record_batcher.hpp"
#include "persistence/record_spool.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"
#include "services/service_process.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::child_process;
using callgrid::test_support::postgres_server;
using callgrid::test_support::process_spec;
using callgrid::test_support::tail_file;
using callgrid::test_support::temp_dir;

namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

/// Records the crash test writes.
constexpr uint64_t total_records = 100'000;

/// Rows in `cdr` after which PostgreSQL is stopped.
constexpr long long outage_after_rows = 20'000;

/// Records per second the driver sends: slow enough that it is still appending when the outage
/// starts and when it is killed, fast enough that the whole test takes well under two minutes.
constexpr uint64_t driver_rate = 6'000;

/// The call_uuid of record `i` as record_writer_driver builds it, in SQL (`i` an integer
/// expression).
std::string sql_call_uuid(const std::string& i) {
  return "'00000000-0000-4000-8000-' || lpad((" + i + ")::text, 12, '0')";
}

/// Runs `sql` on a new connection and returns the integer in its first column of its first
/// row; a failure is a test failure and gives -1.
long long count_of(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    CAF_FAIL("connect failed: " << PQerrorMessage(conn.get()));
    return -1;
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1
      || PQgetisnull(res.get(), 0, 0) != 0) {
    CAF_FAIL("query failed: " << sql << ": " << PQresultErrorMessage(res.get()));
    return -1;
  }
  return std::stoll(PQgetvalue(res.get(), 0, 0));
}

/// Microseconds since the epoch an hour ago: the records' times, so rows land in a live
/// partition. Given to both runs of the driver so that a replayed record has the same content.
int64_t an_hour_ago_us() {
  auto now = std::chrono::system_clock::now() - 1h;
  return std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
}

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// How to start record_writer_driver; its stdout and stderr go to `log`.
process_spec driver_spec(const fs::path& spool, const std::string& conninfo, int64_t base_us,
                         const fs::path& log) {
  process_spec spec;
  spec.argv = {RECORD_WRITER_DRIVER,
               "--spool",
               spool.string(),
               "--conninfo",
               conninfo,
               "--records",
               std::to_string(total_records),
               "--base-us",
               std::to_string(base_us),
               "--rate",
               std::to_string(driver_rate),
               "--timeout-s",
               "90"};
  spec.output_path = log;
  return spec;
}

/// Calls `done` every 100 ms until it returns true or `timeout` passes; returns whether it did.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (!done()) {
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

/// A record for the torn-tail test, numbered like the driver's.
call_record small_record(uint64_t i, int64_t base_us) {
  std::string digits = std::to_string(i);
  digits.insert(0, 12 - digits.size(), '0');
  call_record rec;
  rec.call_uuid = "00000000-0000-4000-8000-" + digits;
  rec.leg_uuid = "00000000-0000-4000-9000-" + digits;
  rec.caller = "+4930" + std::to_string(1'000'000 + i);
  rec.callee = "+4940" + std::to_string(2'000'000 + i);
  rec.node = "fs-0";
  rec.created_us = base_us + static_cast<int64_t>(i) * 1000;
  rec.ended_us = rec.created_us + 30'000'000;
  rec.duration_ms = 30'000;
  rec.hangup_cause = "NO_ANSWER";
  rec.disposition = "no_answer";
  return rec;
}

/// Ships `spool` until it is empty; a failure is a test failure. Returns the rows inserted.
uint64_t ship_all(record_batcher& batcher, record_spool& spool) {
  uint64_t inserted = 0;
  for (int calls = 0; spool.depth() > 0 && calls < 1000; ++calls) {
    auto shipped = batcher.ship_once(spool);
    if (!shipped) {
      CAF_FAIL("ship_once failed: " << render_error(shipped.error()));
      break;
    }
    inserted += shipped->inserted;
  }
  return inserted;
}

} // namespace

CAF_TEST(one hundred thousand records survive a database outage and a writer killed mid run) {
  const auto test_start = steady::now();
  postgres_server pg;
  pg.create_database("cdr");
  const auto conninfo = pg.conninfo("cdr");
  auto migrated = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(migrated);
  temp_dir work{"records-crash"};
  const auto spool_dir = work.path() / "spool";
  const auto first_log = work.path() / "driver-1.log";
  const auto second_log = work.path() / "driver-2.log";
  const auto base_us = an_hour_ago_us();
  auto rows = [&] { return count_of(conninfo, "SELECT count(*) FROM cdr"); };

  child_process first_run{driver_spec(spool_dir, conninfo, base_us, first_log)};
  auto outage_due = wait_for(
    [&] { return !first_run.running() || rows() >= outage_after_rows; }, 60s);
  if (!outage_due || !first_run.running())
    CAF_FAIL("the driver did not store " << outage_after_rows << " rows while running ("
                                         << first_run.exit_description() << "):\n"
                                         << tail_file(first_log));
  const auto rows_before_outage = rows();
  pg.stop();
  CAF_MESSAGE("PostgreSQL stopped after " << seconds_since(test_start) << " s with at least "
                                          << rows_before_outage << " rows in cdr");
  // The driver keeps appending to its spool while the database is down; then it crashes.
  std::this_thread::sleep_for(1500ms);
  if (!first_run.running())
    CAF_FAIL("the driver ended before it could be killed (" << first_run.exit_description()
                                                            << "):\n"
                                                            << tail_file(first_log));
  auto how = first_run.kill_hard();
  CAF_MESSAGE("driver killed during the outage after " << seconds_since(test_start)
                                                       << " s: " << how);

  // What the crashed writer left: records appended during the outage wait in the spool.
  uint64_t appended_before_crash = 0;
  {
    auto spool = record_spool::open(spool_dir);
    CAF_REQUIRE(spool);
    for (const auto& damage : spool->report().damage)
      CAF_MESSAGE("spool repaired at open: " << to_string(damage));
    appended_before_crash = spool->next_sequence() - 1;
    CAF_MESSAGE("the killed writer had appended " << appended_before_crash << " records, "
                                                  << spool->depth() << " not yet stored");
    CAF_CHECK_GREATER(spool->depth(), 0u);
    CAF_CHECK_GREATER(appended_before_crash, static_cast<uint64_t>(rows_before_outage));
    CAF_CHECK_LESS(appended_before_crash, total_records);
  }

  // The restarted writer resumes on the same spool while the database is still down.
  child_process second_run{driver_spec(spool_dir, conninfo, base_us, second_log)};
  std::this_thread::sleep_for(1500ms);
  pg.start();
  CAF_MESSAGE("PostgreSQL started again after " << seconds_since(test_start) << " s");
  auto finished = wait_for([&] { return !second_run.running(); }, 100s);
  auto ended = second_run.stop(SIGKILL, 0ms);
  CAF_MESSAGE("restarted driver " << ended << " after " << seconds_since(test_start) << " s");
  if (!finished || !second_run.exited_successfully())
    CAF_FAIL("the restarted driver did not store every record (" << ended << "):\n"
                                                                  << tail_file(second_log));
  CAF_MESSAGE("what the restarted driver reported:\n" << tail_file(second_log, 20));

  CAF_CHECK_EQUAL(rows(), static_cast<long long>(total_records));
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(DISTINCT (call_uuid, leg)) FROM cdr"),
                  static_cast<long long>(total_records));
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_keys"),
                  static_cast<long long>(total_records));
  // Every record number is there: none of 0 .. N-1 is missing, and no row is foreign.
  auto n = std::to_string(total_records - 1);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM generate_series(0, " + n
                                       + ") AS g(i) WHERE NOT EXISTS (SELECT 1 FROM cdr "
                                         "WHERE call_uuid = "
                                       + sql_call_uuid("g.i") + " AND leg = 0)"),
                  0);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr WHERE leg <> 0 OR call_uuid "
                                     "!~ '^00000000-0000-4000-8000-[0-9]{12}$' OR "
                                     "substr(call_uuid, 25)::bigint > "
                                       + n),
                  0);
  {
    auto spool = record_spool::open(spool_dir);
    CAF_REQUIRE(spool);
    CAF_CHECK_EQUAL(spool->depth(), 0u);
    CAF_CHECK_EQUAL(spool->segment_count(), 0u);
    CAF_CHECK_EQUAL(spool->next_sequence(), total_records + 1);
  }
  CAF_MESSAGE("the whole check took " << seconds_since(test_start) << " s");
}

CAF_TEST(a spool with a torn tail delivers the entries before it and reports the tail) {
  postgres_server pg;
  pg.create_database("cdr");
  const auto conninfo = pg.conninfo("cdr");
  auto migrated = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(migrated);
  temp_dir work{"records-torn"};
  const auto spool_dir = work.path() / "spool";
  const auto base_us = an_hour_ago_us();
  std::vector<call_record> records;
  for (uint64_t i = 0; i < 1000; ++i)
    records.push_back(small_record(i, base_us));
  {
    auto spool = record_spool::open(spool_dir);
    CAF_REQUIRE(spool);
    for (std::size_t at = 0; at < records.size(); at += 250)
      CAF_REQUIRE(spool->append(std::span{records}.subspan(at, 250)));
  }
  // A crash in the middle of writing the last entry: its final bytes never reached the file.
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator{spool_dir})
    if (entry.path().extension() == ".seg")
      segments.push_back(entry.path());
  CAF_REQUIRE_EQUAL(segments.size(), 1u);
  fs::resize_file(segments[0], fs::file_size(segments[0]) - 5);

  auto spool = record_spool::open(spool_dir);
  CAF_REQUIRE(spool);
  const auto& report = spool->report();
  CAF_REQUIRE_EQUAL(report.damage.size(), 1u);
  const auto& damage = report.damage[0];
  CAF_MESSAGE(to_string(damage));
  CAF_CHECK(damage.what == spool_damage::kind::torn_tail);
  CAF_CHECK_EQUAL(damage.first_bad_sequence, 1000u);
  CAF_CHECK_EQUAL(spool->depth(), 999u);

  record_batcher_options options;
  options.conninfo = conninfo;
  record_batcher batcher{options};
  CAF_CHECK_EQUAL(ship_all(batcher, *spool), 999u);
  CAF_CHECK_EQUAL(spool->depth(), 0u);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr"), 999);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM generate_series(0, 998) AS g(i) "
                                     "WHERE NOT EXISTS (SELECT 1 FROM cdr WHERE call_uuid = "
                                       + sql_call_uuid("g.i") + ")"),
                  0);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr WHERE call_uuid = "
                                       + sql_call_uuid("999")),
                  0);
  // The torn record's append never returned, so its producer sends it again: it arrives once,
  // under the sequence number the torn entry would have had.
  auto again = spool->append(std::span{records}.subspan(999, 1));
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->first, 1000u);
  CAF_CHECK_EQUAL(ship_all(batcher, *spool), 1u);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr"), 1000);
  CAF_CHECK_EQUAL(spool->depth(), 0u);
}
