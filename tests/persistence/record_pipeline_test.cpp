#define CAF_SUITE persistence.record_pipeline

#include "persistence/record_pipeline.hpp"

#include <caf/test/dsl.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "persistence/record_spool.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"
#include "services/service_process.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::postgres_server;

namespace {

/// Runs a query returning one integer on a new connection; a failure gives -1.
long long count_of(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return -1;
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1
      || PQgetisnull(res.get(), 0, 0) != 0)
    return -1;
  return std::stoll(PQgetvalue(res.get(), 0, 0));
}

/// Record number `i`, ended an hour ago (a live partition); one leg per number.
call_record make_record(int i) {
  static const int64_t base
    = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count()
      - int64_t{3'600'000'000};
  call_record rec;
  rec.call_uuid = "pipeline-call-" + std::to_string(i);
  rec.leg_uuid = "pipeline-leg-" + std::to_string(i);
  rec.caller = "+4930" + std::to_string(1'000'000 + i);
  rec.callee = "+4940" + std::to_string(2'000'000 + i);
  rec.node = "fs-" + std::to_string(i % 4);
  rec.created_us = base + int64_t{i} * 1000;
  rec.ended_us = rec.created_us + 20'000'000;
  rec.duration_ms = 20'000;
  rec.hangup_cause = "NORMAL_CLEARING";
  rec.disposition = "no_answer";
  return rec;
}

std::vector<call_record> make_records(int first, int count) {
  std::vector<call_record> out;
  for (int i = first; i < first + count; ++i)
    out.push_back(make_record(i));
  return out;
}

/// A fresh directory `$TMPDIR/callgrid-pipeline-XXXXXX`, removed at the end of the test.
struct spool_dir : callgrid::test_support::temp_dir {
  spool_dir() : temp_dir("pipeline") {}
};

struct fixture {
  postgres_server pg;
  std::string conninfo;
  spool_dir dir;

  fixture() {
    pg.create_database("cdr");
    conninfo = pg.conninfo("cdr");
    auto report = schema_migrator::migrate(conninfo);
    CAF_REQUIRE(report);
  }

  long long cdr_rows() { return count_of(conninfo, "SELECT count(*) FROM cdr"); }
  long long distinct_legs() {
    return count_of(conninfo, "SELECT count(DISTINCT (call_uuid, leg)) FROM cdr");
  }

  record_pipeline_options options(std::size_t batch = 1000) {
    record_pipeline_options opts;
    opts.batcher.conninfo = conninfo;
    opts.batcher.batch_size = batch;
    opts.batcher.retry_initial = 20ms;
    opts.batcher.retry_max = 200ms;
    return opts;
  }

  std::unique_ptr<record_pipeline> start(record_pipeline_options opts) {
    auto spool = record_spool::open(dir.path());
    if (!spool)
      CAF_FAIL("open failed: " << render_error(spool.error()));
    auto pipeline = record_pipeline::start(std::move(*spool), std::move(opts));
    if (!pipeline)
      CAF_FAIL("start failed: " << render_error(pipeline.error()));
    return std::move(*pipeline);
  }

  /// Appends records `first` .. `first + count - 1` in batches of `batch`.
  void append(record_pipeline& pipeline, int first, int count, int batch) {
    for (int at = first; at < first + count; at += batch) {
      auto records = make_records(at, std::min(batch, first + count - at));
      auto range = pipeline.append(records);
      CAF_REQUIRE(range);
      CAF_CHECK(records.empty());
    }
  }

  /// Flushes until nothing is pending or `timeout` passes; returns what is left.
  uint64_t drain(record_pipeline& pipeline, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    uint64_t left = pipeline.flush(1s);
    while (left > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
      left = pipeline.flush(1s);
    }
    return left;
  }

  /// The spool after the pipeline is gone: its depth and segment count.
  std::pair<uint64_t, std::size_t> spool_left() {
    auto spool = record_spool::open(dir.path());
    CAF_REQUIRE(spool);
    return {spool->depth(), spool->segment_count()};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(record_pipeline_tests, fixture)

CAF_TEST(appended batches reach cdr exactly once straight from memory) {
  std::atomic<uint64_t> last_committed{0};
  auto opts = options(1000);
  opts.on_committed = [&](uint64_t up_to) { last_committed = up_to; };
  {
    auto pipeline = start(std::move(opts));
    append(*pipeline, 0, 5000, 500);
    CAF_CHECK_EQUAL(drain(*pipeline), 0u);
    auto stats = pipeline->stats();
    CAF_CHECK_EQUAL(stats.appended, 5000u);
    CAF_CHECK_EQUAL(stats.stored, 5000u);
    CAF_CHECK_EQUAL(stats.duplicates, 0u);
    CAF_CHECK_EQUAL(stats.read_back, 0u);
    CAF_CHECK_EQUAL(stats.fallbacks, 0u);
    CAF_CHECK_EQUAL(stats.pending, 0u);
    CAF_CHECK_EQUAL(pipeline->committed_up_to(), 5000u);
    CAF_CHECK_EQUAL(last_committed.load(), 5000u);
    CAF_CHECK(!pipeline->oldest_pending_age(caf::make_timestamp()));
  }
  CAF_CHECK_EQUAL(cdr_rows(), 5000);
  CAF_CHECK_EQUAL(distinct_legs(), 5000);
  // Closing the pipeline wrote the acknowledgement and removed the spent segment.
  auto [depth, segments] = spool_left();
  CAF_CHECK_EQUAL(depth, 0u);
  CAF_CHECK_EQUAL(segments, 0u);
}

CAF_TEST(records spooled before a restart or beyond the buffer are read back and stored once) {
  {
    auto spool = record_spool::open(dir.path());
    CAF_REQUIRE(spool);
    auto before = make_records(0, 3000);
    CAF_REQUIRE(spool->append(before));
  }
  auto opts = options(1000);
  opts.max_buffered_records = 1000;
  auto pipeline = start(std::move(opts));
  append(*pipeline, 3000, 4000, 500);
  CAF_CHECK_EQUAL(drain(*pipeline), 0u);
  auto stats = pipeline->stats();
  CAF_CHECK_EQUAL(stats.stored, 7000u);
  CAF_CHECK_EQUAL(stats.duplicates, 0u);
  CAF_CHECK_GREATER_OR_EQUAL(stats.read_back, 3000u);
  CAF_MESSAGE(stats.read_back << " of 7000 records read back from the spool");
  CAF_CHECK_EQUAL(cdr_rows(), 7000);
  CAF_CHECK_EQUAL(distinct_legs(), 7000);
}

CAF_TEST(a database outage keeps records spooled and the pipeline catches up after it) {
  std::vector<std::string> warnings;
  std::mutex warnings_mutex;
  auto opts = options(1000);
  opts.log_warning = [&](const std::string& line) {
    std::lock_guard guard{warnings_mutex};
    warnings.push_back(line);
  };
  auto pipeline = start(std::move(opts));
  append(*pipeline, 0, 500, 500);
  CAF_CHECK_EQUAL(drain(*pipeline), 0u);
  pg.stop();
  // Appending never waits for the database.
  append(*pipeline, 500, 2000, 250);
  auto left = pipeline->flush(5s);
  CAF_CHECK_EQUAL(left, 2000u);
  auto during = pipeline->stats();
  CAF_CHECK_GREATER_OR_EQUAL(during.ship_failures, 1u);
  {
    std::lock_guard guard{warnings_mutex};
    CAF_REQUIRE(!warnings.empty());
    CAF_MESSAGE(warnings.front());
    CAF_CHECK(warnings.front().find("db.db_unavailable") != std::string::npos);
  }
  pg.start();
  CAF_CHECK_EQUAL(drain(*pipeline), 0u);
  auto stats = pipeline->stats();
  CAF_CHECK_EQUAL(stats.stored, 2500u);
  CAF_CHECK_EQUAL(stats.consecutive_failures, 0u);
  CAF_CHECK_EQUAL(cdr_rows(), 2500);
  CAF_CHECK_EQUAL(distinct_legs(), 2500);
}

CAF_TEST(batches resent after a crash between commit and acknowledgement are stored once) {
  {
    auto opts = options(1000);
    // Every commit is followed by a "crash": nothing is acknowledged in the spool.
    opts.batcher.after_commit = [] { return false; };
    auto pipeline = start(std::move(opts));
    append(*pipeline, 0, 2000, 500);
    CAF_CHECK_EQUAL(drain(*pipeline), 0u);
    auto before_crash = pipeline->stats();
    CAF_CHECK_EQUAL(before_crash.stored, 2000u);
  }
  auto after_crash = spool_left();
  CAF_CHECK_EQUAL(after_crash.first, 2000u);
  // The restarted pipeline sends them again plus new ones: the replayed batches meet the
  // unique key, take the fallback and are dropped; the new ones are stored.
  auto pipeline = start(options(1000));
  append(*pipeline, 2000, 500, 500);
  CAF_CHECK_EQUAL(drain(*pipeline), 0u);
  auto stats = pipeline->stats();
  CAF_CHECK_EQUAL(stats.read_back, 2000u);
  CAF_CHECK_EQUAL(stats.stored, 500u);
  CAF_CHECK_EQUAL(stats.duplicates, 2000u);
  CAF_CHECK_GREATER_OR_EQUAL(stats.fallbacks, 2u);
  CAF_CHECK_EQUAL(cdr_rows(), 2500);
  CAF_CHECK_EQUAL(distinct_legs(), 2500);
  pipeline.reset();
  auto [left, segments] = spool_left();
  CAF_CHECK_EQUAL(left, 0u);
  CAF_CHECK_EQUAL(segments, 0u);
}

CAF_TEST(a batch that keeps failing holds the acknowledgement back while later ones commit) {
  // Record 100 (the second batch of 100) is refused until the constraint goes.
  pg.execute("ALTER TABLE cdr ADD CONSTRAINT test_reject CHECK (caller <> '+49301000100')",
             "cdr");
  auto opts = options(100);
  opts.connections = 2;
  auto pipeline = start(std::move(opts));
  append(*pipeline, 0, 1000, 100);
  // One connection retries the refused batch; the other stores every later one meanwhile.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (cdr_rows() < 900 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CAF_CHECK_EQUAL(cdr_rows(), 900);
  // Committed (and acknowledged) only up to the gap: the refused batch and everything after it
  // stay pending, so a crash now would send them again rather than lose the refused one.
  CAF_CHECK_EQUAL(pipeline->committed_up_to(), 100u);
  auto stuck = pipeline->stats();
  CAF_CHECK_EQUAL(stuck.pending, 900u);
  CAF_CHECK_GREATER_OR_EQUAL(stuck.ship_failures, 1u);
  CAF_CHECK_EQUAL(pipeline->flush(2s), 900u);
  pg.execute("ALTER TABLE cdr DROP CONSTRAINT test_reject", "cdr");
  CAF_CHECK_EQUAL(drain(*pipeline), 0u);
  CAF_CHECK_EQUAL(pipeline->committed_up_to(), 1000u);
  CAF_CHECK_EQUAL(cdr_rows(), 1000);
  CAF_CHECK_EQUAL(distinct_legs(), 1000);
  pipeline.reset();
  auto drained = spool_left();
  CAF_CHECK_EQUAL(drained.first, 0u);
}

CAF_TEST(without a database the pipeline only spools) {
  record_pipeline_options opts;
  {
    auto pipeline = start(std::move(opts));
    append(*pipeline, 0, 300, 100);
    CAF_CHECK_EQUAL(pipeline->flush(100ms), 300u);
    auto stats = pipeline->stats();
    CAF_CHECK_EQUAL(stats.pending, 300u);
  }
  auto spooled = spool_left();
  CAF_CHECK_EQUAL(spooled.first, 300u);
  CAF_CHECK_EQUAL(cdr_rows(), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
