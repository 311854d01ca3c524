#define CAF_SUITE persistence.record_batcher

#include "persistence/record_batcher.hpp"

#include <caf/test/dsl.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "persistence/record_spool.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"
#include "services/service_process.hpp"

using namespace callgrid::persistence;
using callgrid::test_support::postgres_server;

namespace {

using row = std::vector<std::optional<std::string>>;

/// Runs `sql` on a new connection and returns its first row (empty when none); a failure is a
/// test failure.
row first_row(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    CAF_FAIL("connect failed: " << PQerrorMessage(conn.get()));
    return {};
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn.get(), sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    CAF_FAIL("query failed: " << sql << ": " << PQresultErrorMessage(res.get()));
    return {};
  }
  row out;
  if (PQntuples(res.get()) == 0)
    return out;
  for (int i = 0; i < PQnfields(res.get()); ++i)
    out.push_back(PQgetisnull(res.get(), 0, i) != 0
                    ? std::nullopt
                    : std::optional<std::string>{PQgetvalue(res.get(), 0, i)});
  return out;
}

/// Runs a query and returns its first value (by value: CHECK macros keep references).
std::optional<std::string> value_of(const std::string& conninfo, const std::string& sql) {
  auto r = first_row(conninfo, sql);
  return r.empty() ? std::nullopt : r[0];
}

/// Runs a query returning one integer.
long long count_of(const std::string& conninfo, const std::string& sql) {
  auto r = first_row(conninfo, sql);
  if (r.empty() || !r[0])
    return -1;
  return std::stoll(*r[0]);
}

/// A recent point in time (microseconds since the epoch), so rows land in a live partition.
int64_t base_us() {
  static const int64_t base
    = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count()
      - int64_t{3'600'000'000};
  return base;
}

/// Record number `i`: every third one has all optional fields, the others none.
call_record make_record(int i) {
  call_record rec;
  rec.call_uuid = "call-" + std::to_string(i / 2);
  rec.leg_uuid = "leg-" + std::to_string(i);
  rec.leg = i % 2;
  rec.direction = i % 2 == 0 ? call_direction::inbound : call_direction::outbound;
  rec.caller = "+4930" + std::to_string(1000000 + i);
  rec.callee = "+4940" + std::to_string(2000000 + i);
  rec.node = "fs-" + std::to_string(i % 4);
  rec.mode = i % 3 == 0 ? esl_mode::outbound : esl_mode::inbound;
  rec.created_us = base_us() + int64_t{i} * 1000 + 7;
  rec.ended_us = rec.created_us + 65'432'109;
  rec.duration_ms = 65'432;
  rec.hangup_cause = "NORMAL_CLEARING";
  rec.disposition = "no_answer";
  rec.reason = static_cast<end_reason>(i % 4);
  if (i % 3 == 0) {
    rec.route_id = 100 + i;
    rec.flow_id = 200 + i;
    rec.campaign_id = 300 + i;
    rec.attempt_id = int64_t{5'000'000'000} + i;
    rec.answered_us = rec.created_us + 1'234'567;
    rec.billsec_ms = 64'197;
    rec.sip_code = 200;
    rec.disposition = "answered";
    rec.ivr_path = {{"main", "1"}, {"sales \"eu\" \\ é", ""}, {"line\nbreak", "#"}};
  }
  return rec;
}

std::vector<call_record> make_records(int first, int count) {
  std::vector<call_record> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = first; i < first + count; ++i)
    out.push_back(make_record(i));
  return out;
}

/// A fresh directory `$TMPDIR/callgrid-batcher-XXXXXX`, removed at the end of the test.
struct spool_dir : callgrid::test_support::temp_dir {
  spool_dir() : temp_dir("batcher") {}
};

/// Appends `records` to `spool` in batches of `batch`.
void append_all(record_spool& spool, const std::vector<call_record>& records, size_t batch) {
  for (size_t at = 0; at < records.size(); at += batch) {
    auto n = std::min(batch, records.size() - at);
    auto range = spool.append(std::span{records}.subspan(at, n));
    CAF_REQUIRE(range);
  }
}

/// Totals of shipping a spool empty.
struct totals {
  uint64_t staged = 0;
  uint64_t inserted = 0;
  uint64_t duplicates = 0;
  int calls = 0;
};

/// Ships until the spool is empty; any failure is a test failure.
totals ship_all(record_batcher& batcher, record_spool& spool) {
  totals t;
  while (spool.depth() > 0 && t.calls < 100'000) {
    auto shipped = batcher.ship_once(spool);
    ++t.calls;
    if (!shipped) {
      CAF_FAIL("ship_once failed: " << render_error(shipped.error()));
      break;
    }
    t.staged += shipped->staged;
    t.inserted += shipped->inserted;
    t.duplicates += shipped->duplicates();
  }
  return t;
}

struct fixture {
  postgres_server pg;
  std::string conninfo;
  spool_dir dir;
  std::optional<record_spool> spool;

  fixture() {
    pg.create_database("cdr");
    conninfo = pg.conninfo("cdr");
    auto report = schema_migrator::migrate(conninfo);
    CAF_REQUIRE(report);
    reopen_spool(dir.path());
  }

  void reopen_spool(const std::filesystem::path& path) {
    spool.reset();
    auto opened = record_spool::open(path);
    CAF_REQUIRE(opened);
    spool.emplace(std::move(*opened));
  }

  long long cdr_rows() { return count_of(conninfo, "SELECT count(*) FROM cdr"); }
  long long distinct_legs() {
    return count_of(conninfo, "SELECT count(DISTINCT (call_uuid, leg)) FROM cdr");
  }

  record_batcher_options options(size_t batch = 1000) {
    record_batcher_options opts;
    opts.conninfo = conninfo;
    opts.batch_size = batch;
    return opts;
  }

  /// Checks every column of the row of `rec` against the record.
  void check_row(const call_record& rec) {
    auto r = first_row(conninfo,
                       "SELECT leg_uuid, direction, caller, callee, route_id, flow_id, "
                       "campaign_id, attempt_id, node, esl_mode, "
                       "(extract(epoch FROM created_at) * 1000000)::bigint, "
                       "(extract(epoch FROM answered_at) * 1000000)::bigint, "
                       "(extract(epoch FROM ended_at) * 1000000)::bigint, duration_ms, billsec_ms, "
                       "hangup_cause, sip_code, disposition, end_reason, "
                       "jsonb_array_length(ivr_path), jsonb_typeof(ivr_path) "
                       "FROM cdr WHERE call_uuid = '"
                         + rec.call_uuid + "' AND leg = " + std::to_string(rec.leg));
    CAF_REQUIRE_EQUAL(r.size(), 21u);
    auto opt = [](const auto& v) -> std::optional<std::string> {
      if (!v)
        return std::nullopt;
      return std::to_string(*v);
    };
    CAF_CHECK_EQUAL(r[0], rec.leg_uuid);
    CAF_CHECK_EQUAL(r[1], std::string{to_string(rec.direction)});
    CAF_CHECK_EQUAL(r[2], rec.caller);
    CAF_CHECK_EQUAL(r[3], rec.callee);
    CAF_CHECK_EQUAL(r[4], opt(rec.route_id));
    CAF_CHECK_EQUAL(r[5], opt(rec.flow_id));
    CAF_CHECK_EQUAL(r[6], opt(rec.campaign_id));
    CAF_CHECK_EQUAL(r[7], opt(rec.attempt_id));
    CAF_CHECK_EQUAL(r[8], rec.node);
    CAF_CHECK_EQUAL(r[9], std::string{to_string(rec.mode)});
    CAF_CHECK_EQUAL(r[10], std::to_string(rec.created_us));
    CAF_CHECK_EQUAL(r[11], opt(rec.answered_us));
    CAF_CHECK_EQUAL(r[12], std::to_string(rec.ended_us));
    CAF_CHECK_EQUAL(r[13], std::to_string(rec.duration_ms));
    CAF_CHECK_EQUAL(r[14], std::to_string(rec.billsec_ms));
    CAF_CHECK_EQUAL(r[15], rec.hangup_cause);
    CAF_CHECK_EQUAL(r[16], opt(rec.sip_code));
    CAF_CHECK_EQUAL(r[17], rec.disposition);
    CAF_CHECK_EQUAL(r[18], std::string{to_string(rec.reason)});
    CAF_CHECK_EQUAL(r[19], std::to_string(rec.ivr_path.size()));
    CAF_CHECK_EQUAL(r[20], std::string{"array"});
    for (size_t i = 0; i < rec.ivr_path.size(); ++i) {
      auto n = std::to_string(i);
      auto step = first_row(conninfo, "SELECT ivr_path->" + n + "->>'menu', ivr_path->" + n
                                        + "->>'choice' FROM cdr WHERE call_uuid = '"
                                        + rec.call_uuid + "' AND leg = " + std::to_string(rec.leg));
      CAF_REQUIRE_EQUAL(step.size(), 2u);
      CAF_CHECK_EQUAL(step[0], rec.ivr_path[i].menu);
      CAF_CHECK_EQUAL(step[1], rec.ivr_path[i].choice);
    }
  }
};

} // namespace

CAF_TEST(retry delays double per failure up to the cap with jitter) {
  spool_dir dir;
  auto spool = record_spool::open(dir.path());
  CAF_REQUIRE(spool);
  auto records = make_records(0, 1);
  CAF_REQUIRE(spool->append(records));
  record_batcher_options opts;
  // Port 1 on loopback: nothing listens, so the connection is refused at once.
  opts.conninfo = "host=127.0.0.1 port=1 user=postgres dbname=cdr connect_timeout=2 password=pw";
  opts.retry_initial = std::chrono::milliseconds{100};
  opts.retry_max = std::chrono::milliseconds{1000};
  opts.retry_jitter = 0.5;
  record_batcher batcher{opts};
  CAF_CHECK_EQUAL(batcher.next_retry_delay().count(), 0);
  std::vector<int64_t> caps{100, 200, 400, 800, 1000, 1000};
  for (auto cap : caps) {
    auto shipped = batcher.ship_once(*spool);
    CAF_REQUIRE(!shipped);
    CAF_CHECK_EQUAL(shipped.error().code(), static_cast<uint8_t>(errc::db_unavailable));
    CAF_CHECK_EQUAL(render_error(shipped.error()).find("password=pw"), std::string::npos);
    auto delay = batcher.next_retry_delay().count();
    CAF_CHECK_LESS_OR_EQUAL(delay, cap);
    CAF_CHECK_GREATER_OR_EQUAL(delay, cap / 2);
  }
  CAF_CHECK_EQUAL(batcher.consecutive_failures(), 6u);
  CAF_CHECK_EQUAL(spool->depth(), 1u);
}

CAF_TEST_FIXTURE_SCOPE(record_batcher_tests, fixture)

CAF_TEST(ten thousand spooled records become exactly ten thousand rows with every field) {
  auto records = make_records(0, 10'000);
  append_all(*spool, records, 500);
  record_batcher batcher{options(1000)};
  auto start = std::chrono::steady_clock::now();
  auto t = ship_all(batcher, *spool);
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CAF_MESSAGE("shipped 10000 records in batches of 1000 in " << elapsed * 1000 << " ms: "
                                                             << static_cast<long>(10'000 / elapsed)
                                                             << " rows/s (binary COPY)");
  CAF_CHECK_EQUAL(t.calls, 10);
  CAF_CHECK_EQUAL(t.staged, 10'000u);
  CAF_CHECK_EQUAL(t.inserted, 10'000u);
  CAF_CHECK_EQUAL(spool->depth(), 0u);
  CAF_CHECK_EQUAL(cdr_rows(), 10'000);
  CAF_CHECK_EQUAL(distinct_legs(), 10'000);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_keys"), 10'000);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_staging"), 0);
  // One record with every optional field (and an IVR path needing JSON escapes), one with none.
  check_row(records[0]);
  check_row(records[4'999]);
  check_row(records[9'999]);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr WHERE route_id IS NULL AND "
                                     "answered_at IS NULL AND sip_code IS NULL AND "
                                     "ivr_path = '[]'::jsonb"),
                  10'000 - 3'334);
  // Partitions ahead: today and tomorrow exist.
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM pg_class WHERE relname IN ("
                                     "'cdr_' || to_char((now() AT TIME ZONE 'UTC')::date, "
                                     "'YYYYMMDD'), 'cdr_' || to_char((now() AT TIME ZONE "
                                     "'UTC')::date + 1, 'YYYYMMDD'))"),
                  2);
}

CAF_TEST(records replayed from a spool whose acknowledgement was lost are dropped as duplicates) {
  auto records = make_records(0, 10'000);
  append_all(*spool, records, 1000);
  record_batcher batcher{options(1000)};
  auto first = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(first.inserted, 10'000u);
  // The same records again, as after a lost ack file: a fresh spool holding all of them.
  spool_dir other;
  reopen_spool(other.path());
  append_all(*spool, records, 1000);
  auto again = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(again.staged, 10'000u);
  CAF_CHECK_EQUAL(again.inserted, 0u);
  CAF_CHECK_EQUAL(again.duplicates, 10'000u);
  CAF_CHECK_EQUAL(spool->depth(), 0u);
  CAF_CHECK_EQUAL(cdr_rows(), 10'000);
  CAF_CHECK_EQUAL(distinct_legs(), 10'000);
  spool.reset();
}

CAF_TEST(an outage keeps records spooled and they arrive exactly once after it) {
  append_all(*spool, make_records(0, 3'000), 500);
  record_batcher batcher{options(1000)};
  auto shipped = batcher.ship_once(*spool);
  CAF_REQUIRE(shipped);
  CAF_CHECK_EQUAL(shipped->inserted, 1000u);
  CAF_CHECK(batcher.connected());
  pg.stop();
  // The open connection is lost: the first attempt finds that out, the next one is refused.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto failed = batcher.ship_once(*spool);
    CAF_REQUIRE(!failed);
    CAF_MESSAGE(render_error(failed.error()));
    CAF_CHECK_EQUAL(failed.error().code(), static_cast<uint8_t>(errc::db_unavailable));
    CAF_CHECK_EQUAL(spool->depth(), 2'000u);
    CAF_CHECK(!batcher.connected());
  }
  CAF_CHECK_EQUAL(batcher.consecutive_failures(), 2u);
  CAF_CHECK_GREATER(batcher.next_retry_delay().count(), 0);
  // The call path keeps appending meanwhile.
  append_all(*spool, make_records(3'000, 2'500), 500);
  CAF_CHECK_EQUAL(spool->depth(), 4'500u);
  pg.start();
  auto t = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(t.inserted, 4'500u);
  CAF_CHECK_EQUAL(t.duplicates, 0u);
  CAF_CHECK_EQUAL(batcher.consecutive_failures(), 0u);
  CAF_CHECK_EQUAL(batcher.next_retry_delay().count(), 0);
  CAF_CHECK_EQUAL(cdr_rows(), 5'500);
  CAF_CHECK_EQUAL(distinct_legs(), 5'500);
}

CAF_TEST(a crash between commit and acknowledgement sends the batch again without duplicates) {
  append_all(*spool, make_records(0, 2'500), 500);
  auto opts = options(1000);
  opts.after_commit = [] { return false; }; // the process "dies" before acknowledge
  record_batcher crashing{opts};
  auto shipped = crashing.ship_once(*spool);
  CAF_REQUIRE(shipped);
  CAF_CHECK_EQUAL(shipped->inserted, 1000u);
  CAF_CHECK_EQUAL(shipped->acknowledged_up_to, 0u);
  CAF_CHECK_EQUAL(spool->depth(), 2'500u);
  // Restart: reopen the spool, ship with a normal batcher.
  reopen_spool(dir.path());
  record_batcher batcher{options(1000)};
  auto t = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(t.staged, 2'500u);
  CAF_CHECK_EQUAL(t.inserted, 1'500u);
  CAF_CHECK_EQUAL(t.duplicates, 1'000u);
  CAF_CHECK_EQUAL(cdr_rows(), 2'500);
  CAF_CHECK_EQUAL(distinct_legs(), 2'500);
}

CAF_TEST(a batch partly stored already takes the fallback and arrives without duplicates) {
  record_batcher batcher{options(1000)};
  auto first = make_records(0, 600);
  auto fresh = batcher.deliver(first);
  CAF_REQUIRE(fresh);
  CAF_CHECK(!fresh->fallback);
  CAF_CHECK_EQUAL(fresh->inserted, 600u);
  // Records 300 to 999: the first 300 are stored already (a replay), 400 are new. The COPY
  // into cdr meets a unique violation, is rolled back, and the batch goes through staging.
  auto mixed = make_records(300, 700);
  auto shipped = batcher.deliver(mixed);
  CAF_REQUIRE(shipped);
  CAF_CHECK(shipped->fallback);
  CAF_CHECK_EQUAL(shipped->staged, 700u);
  CAF_CHECK_EQUAL(shipped->inserted, 400u);
  CAF_CHECK_EQUAL(shipped->duplicates(), 300u);
  CAF_CHECK_EQUAL(batcher.consecutive_failures(), 0u);
  CAF_CHECK(batcher.connected());
  CAF_CHECK_EQUAL(cdr_rows(), 1000);
  CAF_CHECK_EQUAL(distinct_legs(), 1000);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_keys"), 1000);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_staging"), 0);
  check_row(mixed[0]);
  check_row(mixed[699]);
  // A new batch goes straight into cdr again.
  auto later = make_records(1000, 10);
  auto next = batcher.deliver(later);
  CAF_REQUIRE(next);
  CAF_CHECK(!next->fallback);
  CAF_CHECK_EQUAL(next->inserted, 10u);
  CAF_CHECK_EQUAL(cdr_rows(), 1010);
}

CAF_TEST(a leg twice in a batch or again with another end time is stored once) {
  record_batcher batcher{options(1000)};
  auto records = make_records(0, 10);
  records.push_back(records[3]);
  auto shipped = batcher.deliver(records);
  CAF_REQUIRE(shipped);
  CAF_CHECK(shipped->fallback);
  CAF_CHECK_EQUAL(shipped->inserted, 10u);
  CAF_CHECK_EQUAL(shipped->duplicates(), 1u);
  // Another record of a stored leg, with a different end time (so another key in the
  // partitions): cdr_keys refuses it, and the fallback drops it.
  auto other = make_records(5, 1);
  other[0].ended_us += 1'000'000;
  auto again = batcher.deliver(other);
  CAF_REQUIRE(again);
  CAF_CHECK(again->fallback);
  CAF_CHECK_EQUAL(again->inserted, 0u);
  CAF_CHECK_EQUAL(cdr_rows(), 10);
  CAF_CHECK_EQUAL(distinct_legs(), 10);
  check_row(records[5]);
}

CAF_TEST(a batch the server rejects is rolled back and stays in the spool) {
  // A constraint the server enforces on COPY stands in for any statement failure that is not a
  // unique violation (those take the staging fallback instead).
  pg.execute("ALTER TABLE cdr ADD CONSTRAINT test_reject CHECK (caller <> 'reject me')", "cdr");
  auto records = make_records(0, 10);
  records[5].caller = "reject me";
  CAF_REQUIRE(spool->append(records));
  record_batcher batcher{options(1000)};
  auto shipped = batcher.ship_once(*spool);
  CAF_REQUIRE(!shipped);
  CAF_MESSAGE(render_error(shipped.error()));
  CAF_CHECK_EQUAL(shipped.error().code(), static_cast<uint8_t>(errc::db_query_failed));
  CAF_CHECK(render_error(shipped.error()).starts_with("db.db_query_failed: COPY cdr: "));
  CAF_CHECK(!batcher.connected());
  CAF_CHECK_EQUAL(spool->depth(), 10u);
  CAF_CHECK_EQUAL(cdr_rows(), 0);
  CAF_CHECK_EQUAL(count_of(conninfo, "SELECT count(*) FROM cdr_staging"), 0);
  // Once the cause is gone, the same batch goes through.
  pg.execute("ALTER TABLE cdr DROP CONSTRAINT test_reject", "cdr");
  auto t = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(t.inserted, 10u);
  CAF_CHECK_EQUAL(cdr_rows(), 10);
}

CAF_TEST(text that is not valid UTF-8 is repaired rather than blocking the spool) {
  auto records = make_records(0, 4);
  records[0].caller = std::string{"bad \xff utf-8 \xe2\x82 \xc3\xa9"} + '\0' + "end";
  records[0].ivr_path = {{"menu\xc0\xaf", std::string{"a\0b", 3}}};
  CAF_REQUIRE(spool->append(records));
  record_batcher batcher{options(1000)};
  auto t = ship_all(batcher, *spool);
  CAF_CHECK_EQUAL(t.inserted, 4u);
  auto where = " FROM cdr WHERE call_uuid = '" + records[0].call_uuid + "' AND leg = 0";
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT caller" + where),
                  std::string{"bad \uFFFD utf-8 \uFFFD\uFFFD \u00e9\uFFFDend"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT ivr_path->0->>'menu'" + where),
                  std::string{"menu\uFFFD\uFFFD"});
  CAF_CHECK_EQUAL(value_of(conninfo, "SELECT ivr_path->0->>'choice'" + where),
                  std::string{"a\uFFFDb"});
}

CAF_TEST(a partial batch is due once its oldest record is older than the maximum delay) {
  auto opts = options(1000);
  opts.max_delay = std::chrono::milliseconds{200};
  record_batcher batcher{opts};
  auto rec = make_record(0);
  rec.ended_us = 1'700'000'000'000'000;
  CAF_CHECK(!batcher.batch_due(*spool, caf::make_timestamp()));
  CAF_REQUIRE(spool->append(std::span{&rec, 1}));
  caf::timestamp ended{std::chrono::microseconds{rec.ended_us}};
  CAF_CHECK(!batcher.batch_due(*spool, ended + std::chrono::milliseconds{100}));
  CAF_CHECK(batcher.batch_due(*spool, ended + std::chrono::milliseconds{200}));
  auto shipped = batcher.ship_once(*spool);
  CAF_REQUIRE(shipped);
  CAF_CHECK_EQUAL(shipped->staged, 1u);
  auto empty = batcher.ship_once(*spool);
  CAF_REQUIRE(empty);
  CAF_CHECK_EQUAL(empty->staged, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
