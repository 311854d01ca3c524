#include "persistence/record_batcher.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "persistence/schema_migrator.hpp"
#include "persistence/text.hpp"

namespace callgrid::persistence {

namespace {

struct result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

using result_ptr = std::unique_ptr<PGresult, result_deleter>;

/// The fast path: the batch straight into `cdr` (columns in call_record.hpp order), as its own
/// transaction: a COPY outside BEGIN commits when it completes, and with synchronous_commit on
/// the server answers only once that commit is durable.
constexpr const char* direct_copy_statement =
  "COPY cdr (call_uuid, leg_uuid, leg, direction, caller, callee, route_id, flow_id, "
  "campaign_id, attempt_id, node, esl_mode, created_at, answered_at, ended_at, duration_ms, "
  "billsec_ms, hangup_cause, sip_code, disposition, ivr_path, end_reason) "
  "FROM STDIN (FORMAT binary)";

/// The fallback path's first step: the same stream into the unlogged staging table.
constexpr const char* staging_copy_statement =
  "COPY cdr_staging (call_uuid, leg_uuid, leg, direction, caller, callee, route_id, flow_id, "
  "campaign_id, attempt_id, node, esl_mode, created_at, answered_at, ended_at, duration_ms, "
  "billsec_ms, hangup_cause, sip_code, disposition, ivr_path, end_reason) "
  "FROM STDIN (FORMAT binary)";

constexpr int16_t copy_columns = 22;

/// SQLSTATE unique_violation: a row of the batch is already in `cdr` (a replay), the batch holds
/// one leg twice, or `cdr_keys` already has the leg with another `ended_at`.
constexpr std::string_view unique_violation = "23505";

/// The ingest statement recommended by persistence/README.md: drops replays (NOT EXISTS on
/// cdr_keys, ON CONFLICT on the partition-local key) and repeats inside the batch (DISTINCT ON).
constexpr const char* ingest_statement =
  "INSERT INTO cdr SELECT DISTINCT ON (call_uuid, leg) s.* FROM cdr_staging s "
  "WHERE NOT EXISTS (SELECT 1 FROM cdr_keys k WHERE k.call_uuid = s.call_uuid AND k.leg = s.leg) "
  "ON CONFLICT (call_uuid, leg, ended_at) DO NOTHING";

/// DELETE, not TRUNCATE: TRUNCATE's exclusive lock would serialise concurrent batchers, and the
/// staged rows are never visible outside this transaction anyway.
constexpr const char* clear_staging_statement = "DELETE FROM cdr_staging";

constexpr const char* partitions_statement =
  "SELECT callgrid_create_cdr_partitions((now() AT TIME ZONE 'UTC')::date, 2)";

/// Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01 00:00 UTC.
constexpr int64_t postgres_epoch_offset_us = 946'684'800'000'000;

std::string trimmed(const char* message) {
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())) != 0)
    out.pop_back();
  return out;
}

/// Builds the binary COPY stream (PostgreSQL docs, "COPY: Binary Format"): header, one tuple per
/// record (field count, then per field a 32-bit length or -1 for NULL and the bytes in network
/// order), trailer.
class copy_encoder {
public:
  copy_encoder() {
    static constexpr char signature[] = "PGCOPY\n\377\r\n";
    buf_.append(signature, 11); // includes the terminating '\0'
    put_u32(0);                 // flags: no OIDs
    put_u32(0);                 // header extension length
  }

  void add(const call_record& rec) {
    put_u16(static_cast<uint16_t>(copy_columns));
    text(rec.call_uuid);
    text(rec.leg_uuid);
    int4(rec.leg);
    text(to_string(rec.direction));
    text(rec.caller);
    text(rec.callee);
    int8(rec.route_id);
    int8(rec.flow_id);
    int8(rec.campaign_id);
    int8(rec.attempt_id);
    text(rec.node);
    text(to_string(rec.mode));
    timestamp(rec.created_us);
    timestamp(rec.answered_us);
    timestamp(rec.ended_us);
    int8(rec.duration_ms);
    int8(rec.billsec_ms);
    text(rec.hangup_cause);
    if (rec.sip_code)
      int4(*rec.sip_code);
    else
      null();
    text(rec.disposition);
    jsonb(rec.ivr_path);
    text(to_string(rec.reason));
  }

  /// Appends the trailer and returns the whole stream.
  std::string& finish() {
    put_u16(0xFFFF);
    return buf_;
  }

private:
  void put_u16(uint16_t v) {
    char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    buf_.append(b, 2);
  }
  void put_u32(uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i)
      b[i] = static_cast<char>(v >> (24 - 8 * i));
    buf_.append(b, 4);
  }
  void put_u64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<char>(v >> (56 - 8 * i));
    buf_.append(b, 8);
  }
  void null() { put_u32(0xFFFFFFFF); }
  void text(std::string_view s) {
    if (!acceptable_text(s)) {
      auto fixed = repaired_text(s);
      put_u32(static_cast<uint32_t>(fixed.size()));
      buf_.append(fixed);
      return;
    }
    put_u32(static_cast<uint32_t>(s.size()));
    buf_.append(s);
  }
  void int4(int32_t v) {
    put_u32(4);
    put_u32(static_cast<uint32_t>(v));
  }
  void int8(int64_t v) {
    put_u32(8);
    put_u64(static_cast<uint64_t>(v));
  }
  void int8(const std::optional<int64_t>& v) {
    if (v)
      int8(*v);
    else
      null();
  }
  // timestamptz travels as int64 microseconds since 2000-01-01 UTC (integer datetimes).
  void timestamp(int64_t unix_us) { int8(unix_us - postgres_epoch_offset_us); }
  void timestamp(const std::optional<int64_t>& unix_us) {
    if (unix_us)
      timestamp(*unix_us);
    else
      null();
  }
  // jsonb's binary form: a version byte (1), then the JSON text.
  void jsonb(const std::vector<ivr_step>& path) {
    json_.assign("\x01[");
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (i > 0)
        json_ += ',';
      json_ += "{\"menu\":";
      json_string(path[i].menu);
      json_ += ",\"choice\":";
      json_string(path[i].choice);
      json_ += '}';
    }
    json_ += ']';
    text(json_);
  }
  void json_string(std::string_view raw) { append_json_string(json_, raw); }

  std::string buf_;
  std::string json_;
};

} // namespace

/// The open libpq connection; dropped (PQfinish) after any failure.
struct record_batcher::connection {
  PGconn* conn = nullptr;
  ~connection() {
    if (conn != nullptr)
      PQfinish(conn);
  }
};

record_batcher::record_batcher(record_batcher_options options)
  : options_(std::move(options)), rng_(std::random_device{}()) {
  if (options_.batch_size == 0)
    options_.batch_size = 1;
}

record_batcher::~record_batcher() = default;
record_batcher::record_batcher(record_batcher&&) noexcept = default;
record_batcher& record_batcher::operator=(record_batcher&&) noexcept = default;

bool record_batcher::connected() const noexcept {
  return conn_ != nullptr && PQstatus(conn_->conn) == CONNECTION_OK;
}

bool record_batcher::batch_due(const record_spool& spool, caf::timestamp now) const {
  if (spool.depth() >= options_.batch_size)
    return true;
  auto age = spool.oldest_pending_age(now);
  return age && *age >= options_.max_delay;
}

std::chrono::milliseconds record_batcher::next_retry_delay() {
  if (failures_ == 0)
    return std::chrono::milliseconds{0};
  auto delay = std::max<int64_t>(options_.retry_initial.count(), 1);
  auto cap = std::max<int64_t>(options_.retry_max.count(), delay);
  for (uint32_t i = 1; i < failures_ && delay < cap; ++i)
    delay *= 2;
  delay = std::min(delay, cap);
  auto jitter = std::clamp(options_.retry_jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> dist{0.0, jitter};
  auto cut = static_cast<int64_t>(static_cast<double>(delay) * dist(rng_));
  return std::chrono::milliseconds{delay - cut};
}

caf::error record_batcher::connect(ship_result& result) {
  auto masked = schema_migrator::mask_password(options_.conninfo);
  auto fresh = std::make_unique<connection>();
  fresh->conn = PQconnectdb(options_.conninfo.c_str());
  if (fresh->conn == nullptr)
    return caf::make_error(errc::db_unavailable,
                           "connect to '" + masked + "': libpq could not allocate a connection");
  if (PQstatus(fresh->conn) != CONNECTION_OK)
    return caf::make_error(errc::db_unavailable,
                           "connect to '" + masked + "': " + trimmed(PQerrorMessage(fresh->conn)));
  PQsetNoticeProcessor(fresh->conn, [](void*, const char*) {}, nullptr);
  // Binary text and jsonb fields are converted from the client encoding; pin it.
  if (PQsetClientEncoding(fresh->conn, "UTF8") != 0)
    return caf::make_error(errc::db_unavailable, "set client_encoding UTF8 on '" + masked
                                                   + "': "
                                                   + trimmed(PQerrorMessage(fresh->conn)));
  // Partitions ahead of time, once per connection. Not fatal: the default partition takes rows
  // of a day without one, and the function moves them out when it runs later.
  result_ptr parts{PQexec(fresh->conn, partitions_statement)};
  if (PQresultStatus(parts.get()) != PGRES_TUPLES_OK) {
    auto message = parts ? trimmed(PQresultErrorMessage(parts.get()))
                         : trimmed(PQerrorMessage(fresh->conn));
    if (PQstatus(fresh->conn) != CONNECTION_OK)
      return caf::make_error(errc::db_unavailable, "create cdr partitions: " + message);
    result.partition_error = caf::make_error(errc::db_query_failed,
                                             "create cdr partitions: " + message);
  }
  conn_ = std::move(fresh);
  return {};
}

caf::error record_batcher::prepare() {
  if (connected())
    return {};
  conn_.reset();
  ship_result result;
  if (auto err = connect(result))
    return err;
  return std::move(result.partition_error);
}

caf::expected<ship_result> record_batcher::ship_once(record_spool& spool) {
  auto batch = spool.pending(options_.batch_size);
  if (!batch) {
    ++failures_;
    return std::move(batch.error());
  }
  if (batch->empty()) {
    failures_ = 0;
    return ship_result{};
  }
  records_.clear();
  records_.reserve(batch->size());
  for (auto& entry : *batch)
    records_.push_back(std::move(entry.record));
  auto result = deliver(records_);
  if (!result)
    return result;
  if (options_.after_commit && !options_.after_commit())
    return result;
  auto last = batch->back().sequence;
  if (auto err = spool.acknowledge(last)) {
    ++failures_;
    return err;
  }
  result->acknowledged_up_to = last;
  return result;
}

caf::expected<ship_result> record_batcher::deliver(std::span<const call_record> records) {
  auto result = store(records);
  if (result) {
    failures_ = 0;
  } else {
    ++failures_;
    // A failed transaction or a broken link: start over on a fresh connection next time. The
    // server rolls back whatever was open when the connection closes.
    conn_.reset();
  }
  return result;
}

namespace {

/// What one COPY of a prepared stream gave: the row count, or the error with its SQLSTATE.
struct copy_outcome {
  uint64_t rows = 0;
  caf::error error;
  std::string sqlstate;
};

/// Runs `statement` (a COPY … FROM STDIN) and sends `stream` through it. Fails with
/// db_unavailable when the link is gone, db_query_failed otherwise; `what` names the step.
copy_outcome run_copy(PGconn* conn, const char* statement, const std::string& stream,
                      const char* what) {
  copy_outcome out;
  auto fail = [&](std::string message) {
    auto code = PQstatus(conn) != CONNECTION_OK ? errc::db_unavailable : errc::db_query_failed;
    out.error = caf::make_error(code, std::string{what} + ": " + message);
    return out;
  };
  {
    result_ptr start{PQexec(conn, statement)};
    if (PQresultStatus(start.get()) != PGRES_COPY_IN)
      return fail(start ? trimmed(PQresultErrorMessage(start.get()))
                        : trimmed(PQerrorMessage(conn)));
  }
  // Send in pieces so that libpq's output buffer stays small; a blocking connection waits for
  // the socket inside PQputCopyData.
  constexpr std::size_t chunk = 256 * 1024;
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    auto n = std::min(chunk, stream.size() - at);
    if (PQputCopyData(conn, stream.data() + at, static_cast<int>(n)) != 1)
      return fail("send data: " + trimmed(PQerrorMessage(conn)));
  }
  if (PQputCopyEnd(conn, nullptr) != 1)
    return fail("end data: " + trimmed(PQerrorMessage(conn)));
  // The COPY's own result, then the null that ends the command.
  bool failed = false;
  while (PGresult* raw = PQgetResult(conn)) {
    result_ptr part{raw};
    if (PQresultStatus(raw) == PGRES_COMMAND_OK) {
      out.rows = std::strtoull(PQcmdTuples(raw), nullptr, 10);
    } else if (!failed) {
      failed = true;
      if (const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE); state != nullptr)
        out.sqlstate = state;
      fail(trimmed(PQresultErrorMessage(raw)));
    }
    if (PQstatus(conn) != CONNECTION_OK)
      break;
  }
  if (!failed && PQstatus(conn) != CONNECTION_OK)
    return fail(trimmed(PQerrorMessage(conn)));
  return out;
}

} // namespace

caf::expected<ship_result> record_batcher::store(std::span<const call_record> records) {
  ship_result result;
  if (records.empty())
    return result;
  if (!connected()) {
    conn_.reset();
    if (auto err = connect(result))
      return err;
  }
  PGconn* conn = conn_->conn;

  copy_encoder encoder;
  for (const auto& rec : records)
    encoder.add(rec);
  auto& stream = encoder.finish();
  const auto expected_rows = static_cast<uint64_t>(records.size());
  auto short_count = [&](const char* what, uint64_t rows) {
    return caf::make_error(errc::db_query_failed,
                           std::string{what} + ": server stored " + std::to_string(rows)
                             + " rows of " + std::to_string(expected_rows));
  };

  // Fast path: nearly every batch is new, and a COPY fails as a whole, so either every row is
  // stored once or none is.
  auto direct = run_copy(conn, direct_copy_statement, stream, "COPY cdr");
  if (!direct.error) {
    if (direct.rows != expected_rows)
      return short_count("COPY cdr", direct.rows);
    result.staged = direct.rows;
    result.inserted = direct.rows;
    return result;
  }
  if (direct.sqlstate != unique_violation || PQstatus(conn) != CONNECTION_OK)
    return std::move(direct.error);

  // A row of the batch is already stored (a replay after a crash between COMMIT and the
  // acknowledgement, or a lost ack file) or the batch holds one leg twice: the failed COPY was
  // rolled back as a whole; take the path that drops what is already there.
  result.fallback = true;
  auto run = [conn](const char* sql, const char* what, result_ptr& out) -> caf::error {
    out.reset(PQexec(conn, sql));
    if (PQresultStatus(out.get()) == PGRES_COMMAND_OK)
      return {};
    auto message = out ? trimmed(PQresultErrorMessage(out.get())) : trimmed(PQerrorMessage(conn));
    auto code = PQstatus(conn) != CONNECTION_OK ? errc::db_unavailable : errc::db_query_failed;
    return caf::make_error(code, std::string{what} + ": " + message);
  };
  result_ptr res;
  if (auto err = run("BEGIN", "BEGIN", res))
    return err;
  auto staged = run_copy(conn, staging_copy_statement, stream, "COPY cdr_staging");
  if (staged.error)
    return std::move(staged.error);
  if (staged.rows != expected_rows)
    return short_count("COPY cdr_staging", staged.rows);
  result.staged = staged.rows;
  if (auto err = run(ingest_statement, "INSERT INTO cdr", res))
    return err;
  result.inserted = std::strtoull(PQcmdTuples(res.get()), nullptr, 10);
  if (auto err = run(clear_staging_statement, "DELETE FROM cdr_staging", res))
    return err;
  if (auto err = run("COMMIT", "COMMIT", res))
    return err;
  // COMMIT of an aborted transaction answers "ROLLBACK"; every statement was checked, but a
  // rolled-back batch must never be counted as stored.
  if (std::string_view{PQcmdStatus(res.get())} != "COMMIT")
    return caf::make_error(errc::db_query_failed,
                           std::string{"COMMIT: the server answered "} + PQcmdStatus(res.get()));
  return result;
}

} // namespace callgrid::persistence
