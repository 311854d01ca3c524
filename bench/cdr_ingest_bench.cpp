// cdr_ingest_bench: the C++ side of `bench/run cdr_ingest` (see bench/README.md).
//
// Starts a throwaway PostgreSQL 15 (tests/support/services launcher, loopback, free port, with
// fsync and synchronous_commit ON so that COMMIT costs what it costs in production), migrates it
// with schema_migrator and measures, BENCH_REPEAT times each, in turn and on an emptied `cdr`:
//
//   pipeline     our whole path as the record writer runs it: record_pipeline::append of B
//                records per call (record_spool append, one fdatasync per batch) on this
//                thread, while the pipeline's two shipping threads take the batches from memory
//                and COPY each straight into cdr as its own transaction (the staging fallback
//                runs only on a unique violation, i.e. never here), acknowledging lazily; timed
//                from the first append to the commit of the last record;
//   copy         a raw libpq loop: BEGIN, binary COPY of B rows straight into cdr, COMMIT;
//   insert       libpq pipeline mode: a prepared single-row INSERT per record, one sync per B;
//   one conn.    the pipeline again with one shipping connection, for comparison (no goal).
//
// rows/s = records / wall time of the run; the lines carry the medians and ratio = pipeline /
// peer (goals: >= 0.8 against copy, >= 2 against insert). Then a latency run paces records at
// --rate per second for --latency-s seconds: one producer thread enqueues, the owner thread
// appends whatever is queued (one fdatasync per group) and the pipeline ships meanwhile; the
// latency of a record is from enqueue to the pipeline's commit callback for it (goal p99 at most
// 250 ms).
//
// No CAF actors run here (spool and pipeline are driven by plain threads), so CAF scheduler
// pinning does not apply.
//
// usage: cdr_ingest_bench [--records N] [--batch B] [--repeat R] [--rate R] [--latency-s S]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "persistence/call_record.hpp"
#include "persistence/errc.hpp"
#include "persistence/record_batcher.hpp"
#include "persistence/record_pipeline.hpp"
#include "persistence/record_spool.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

#include "bench_support.hpp"

namespace {

using callgrid::bench::median;
using callgrid::bench::percentile;
using callgrid::bench::positive_number;
using callgrid::bench::rounded;

namespace pers = callgrid::persistence;
using json = nlohmann::ordered_json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr double goal_vs_copy = 0.8;
constexpr double goal_vs_insert = 2.0;
constexpr double goal_p99_ms = 250;
constexpr int64_t postgres_epoch_offset_us = 946'684'800'000'000;

constexpr const char* columns =
  "call_uuid, leg_uuid, leg, direction, caller, callee, route_id, flow_id, campaign_id, "
  "attempt_id, node, esl_mode, created_at, answered_at, ended_at, duration_ms, billsec_ms, "
  "hangup_cause, sip_code, disposition, ivr_path, end_reason";

struct options {
  int records = 20'000;
  int batch = 1000;
  int repeat = 5;
  int rate = 1000;
  int latency_s = 10;
};

void log(const std::string& text) {
  std::cerr << "cdr_ingest_bench: " << text << std::endl;
}

options parse(int argc, char** argv) {
  options o;
  if (const char* r = std::getenv("BENCH_REPEAT"); r != nullptr && *r != '\0')
    o.repeat = positive_number("BENCH_REPEAT", r);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << "usage: cdr_ingest_bench [--records N] [--batch B] [--repeat R] [--rate R] "
                   "[--latency-s S]\n";
      std::exit(0);
    }
    if (i + 1 >= argc)
      throw std::invalid_argument("missing value for " + arg);
    const char* value = argv[++i];
    if (arg == "--records")
      o.records = positive_number(arg, value);
    else if (arg == "--batch")
      o.batch = positive_number(arg, value);
    else if (arg == "--repeat")
      o.repeat = positive_number(arg, value);
    else if (arg == "--rate")
      o.rate = positive_number(arg, value);
    else if (arg == "--latency-s")
      o.latency_s = positive_number(arg, value);
    else
      throw std::invalid_argument("unknown option " + arg);
  }
  return o;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// A realistic answered inbound leg with a two-step IVR path; `tag` and `i` make it unique.
pers::call_record make_record(const std::string& tag, int i) {
  char uuid[48];
  std::snprintf(uuid, sizeof uuid, "%08x-%.4s-4000-8000-%012d", static_cast<unsigned>(i),
                tag.c_str(), i);
  pers::call_record r;
  r.call_uuid = uuid;
  r.leg_uuid = std::string{uuid} + "-a";
  r.leg = 0;
  r.direction = pers::call_direction::inbound;
  r.caller = "+4930" + std::to_string(1'000'000 + i % 50'000);
  r.callee = "+4940" + std::to_string(2'000'000 + i % 1'000);
  r.route_id = 7;
  r.flow_id = 3;
  r.node = "node-" + std::to_string(i % 4);
  r.mode = pers::esl_mode::inbound;
  r.ended_us = now_us();
  r.created_us = r.ended_us - 95'000'000;
  r.answered_us = r.created_us + 4'000'000;
  r.duration_ms = 95'000;
  r.billsec_ms = 91'000;
  r.hangup_cause = "NORMAL_CLEARING";
  r.sip_code = 200;
  r.disposition = "answered";
  r.ivr_path = {{"main", "2"}, {"billing", "1"}};
  r.reason = pers::end_reason::normal;
  return r;
}

std::vector<pers::call_record> make_records(const std::string& tag, int first, int count) {
  std::vector<pers::call_record> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = first; i < first + count; ++i)
    out.push_back(make_record(tag, i));
  return out;
}

// -- libpq helpers -------------------------------------------------------------------------------

struct connection {
  PGconn* conn = nullptr;
  explicit connection(const std::string& conninfo) : conn(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn) != CONNECTION_OK)
      throw std::runtime_error(std::string{"connect: "} + PQerrorMessage(conn));
  }
  ~connection() { PQfinish(conn); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void exec(const std::string& sql) {
    std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
    auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      throw std::runtime_error(sql + ": " + PQresultErrorMessage(res.get()));
  }
};

/// The raw peer's binary COPY stream (PGCOPY): the same 22 columns the batcher sends.
class copy_stream {
public:
  explicit copy_stream(const std::vector<pers::call_record>& records) {
    buf_.append("PGCOPY\n\377\r\n", 11);
    u32(0);
    u32(0);
    for (const auto& r : records) {
      u16(22);
      text(r.call_uuid);
      text(r.leg_uuid);
      int4(r.leg);
      text(pers::to_string(r.direction));
      text(r.caller);
      text(r.callee);
      int8(r.route_id);
      int8(r.flow_id);
      int8(r.campaign_id);
      int8(r.attempt_id);
      text(r.node);
      text(pers::to_string(r.mode));
      int8(r.created_us - postgres_epoch_offset_us);
      int8(r.answered_us ? std::optional<int64_t>{*r.answered_us - postgres_epoch_offset_us}
                         : std::nullopt);
      int8(r.ended_us - postgres_epoch_offset_us);
      int8(r.duration_ms);
      int8(r.billsec_ms);
      text(r.hangup_cause);
      if (r.sip_code)
        int4(*r.sip_code);
      else
        u32(0xFFFFFFFF);
      text(r.disposition);
      text("\x01" + ivr_json(r));
      text(pers::to_string(r.reason));
    }
    u16(0xFFFF);
  }
  const std::string& bytes() const { return buf_; }

private:
  static std::string ivr_json(const pers::call_record& r) {
    std::string out = "[";
    for (std::size_t i = 0; i < r.ivr_path.size(); ++i) {
      out += i > 0 ? "," : "";
      out += "{\"menu\":\"" + r.ivr_path[i].menu + "\",\"choice\":\"" + r.ivr_path[i].choice
             + "\"}";
    }
    return out + "]";
  }
  void u16(uint16_t v) {
    buf_ += static_cast<char>(v >> 8);
    buf_ += static_cast<char>(v);
  }
  void u32(uint32_t v) {
    for (int i = 3; i >= 0; --i)
      buf_ += static_cast<char>(v >> (8 * i));
  }
  void u64(uint64_t v) {
    for (int i = 7; i >= 0; --i)
      buf_ += static_cast<char>(v >> (8 * i));
  }
  void text(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_ += s;
  }
  void int4(int32_t v) {
    u32(4);
    u32(static_cast<uint32_t>(v));
  }
  void int8(int64_t v) {
    u32(8);
    u64(static_cast<uint64_t>(v));
  }
  void int8(const std::optional<int64_t>& v) {
    if (v)
      int8(*v);
    else
      u32(0xFFFFFFFF);
  }
  std::string buf_;
};

std::string timestamp_text(int64_t unix_us) {
  auto secs = static_cast<std::time_t>(unix_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_us % 1'000'000));
  return out;
}

/// The batcher as a daemon would configure it, with the benchmark's batch size.
pers::record_batcher_options batcher_options(const std::string& conninfo, const options& o) {
  pers::record_batcher_options out;
  out.conninfo = conninfo;
  out.batch_size = static_cast<std::size_t>(o.batch);
  return out;
}

// -- the three contenders ------------------------------------------------------------------------

/// Empties cdr and its key table between runs, so every run starts from the same state.
void reset_tables(connection& admin) {
  admin.exec("TRUNCATE cdr, cdr_keys");
}

/// One pipeline run: rows/s, and where its time went per 1000 rows.
struct pipeline_run {
  double rows_per_s = 0;
  /// Time the producer spent in `append` (encoding, write, fdatasync), per 1000 rows.
  double append_ms_per_1000 = 0;
  /// Time from the last append's return to the last commit, per 1000 rows: what shipping
  /// added once appending was done.
  double drain_ms_per_1000 = 0;
  pers::record_pipeline_stats stats;
};

/// Opens a fresh spool in `spool_dir` and starts a pipeline on it, as the record writer does.
std::unique_ptr<pers::record_pipeline>
start_pipeline(const std::string& conninfo, const options& o,
               const std::filesystem::path& spool_dir,
               std::function<void(uint64_t)> on_committed = {}, std::size_t connections = 2) {
  std::filesystem::remove_all(spool_dir);
  auto spool = pers::record_spool::open(spool_dir, {});
  if (!spool)
    throw std::runtime_error("spool: " + pers::render_error(spool.error()));
  pers::record_pipeline_options po;
  po.batcher = batcher_options(conninfo, o);
  po.log_warning = [](const std::string& line) { log("pipeline: " + line); };
  po.on_committed = std::move(on_committed);
  po.connections = connections;
  auto pipeline = pers::record_pipeline::start(std::move(*spool), std::move(po));
  if (!pipeline)
    throw std::runtime_error("pipeline: " + pers::render_error(pipeline.error()));
  return std::move(*pipeline);
}

/// Appends `batch` through `pipeline`; a failure ends the benchmark.
void append_or_throw(pers::record_pipeline& pipeline, std::vector<pers::call_record>& batch) {
  auto appended = pipeline.append(batch);
  if (!appended)
    throw std::runtime_error("append: " + pers::render_error(appended.error()));
}

/// Waits until everything appended to `pipeline` is committed; throws after 60 s.
void drain_or_throw(pers::record_pipeline& pipeline) {
  auto deadline = clock_type::now() + 60s;
  while (pipeline.flush(10s) > 0)
    if (clock_type::now() > deadline)
      throw std::runtime_error("the pipeline did not drain within 60 s");
}

pipeline_run run_pipeline(const std::string& conninfo, const options& o, const std::string& tag,
                          const std::filesystem::path& spool_dir, std::size_t connections = 2) {
  auto pipeline = start_pipeline(conninfo, o, spool_dir, {}, connections);
  // Connect (and create partitions) before the clock starts, as a running daemon would have:
  // one record of its own, shipped and committed.
  auto warm = make_records(tag, o.records, 1); // an index no timed record has
  append_or_throw(*pipeline, warm);
  drain_or_throw(*pipeline);
  const auto warm_stats = pipeline->stats();
  std::vector<std::vector<pers::call_record>> batches;
  for (int first = 0; first < o.records; first += o.batch)
    batches.push_back(make_records(tag, first, std::min(o.batch, o.records - first)));
  std::chrono::duration<double, std::milli> appending{0};
  auto started = clock_type::now();
  for (auto& batch : batches) {
    auto before_append = clock_type::now();
    append_or_throw(*pipeline, batch);
    appending += clock_type::now() - before_append;
  }
  auto appended = clock_type::now();
  drain_or_throw(*pipeline);
  auto finished = clock_type::now();
  std::chrono::duration<double, std::milli> took = finished - started;
  std::chrono::duration<double, std::milli> draining = finished - appended;
  auto stats = pipeline->stats();
  if (stats.stored - warm_stats.stored != static_cast<uint64_t>(o.records))
    throw std::runtime_error("the pipeline stored "
                             + std::to_string(stats.stored - warm_stats.stored) + " of "
                             + std::to_string(o.records) + " records");
  auto per_1000 = 1000.0 / o.records;
  return {o.records / took.count() * 1000.0, appending.count() * per_1000,
          draining.count() * per_1000, stats};
}

double run_copy(const std::string& conninfo, const options& o, const std::string& tag) {
  connection c{conninfo};
  std::vector<std::string> streams;
  for (int first = 0; first < o.records; first += o.batch)
    streams.push_back(
      copy_stream{make_records(tag, first, std::min(o.batch, o.records - first))}.bytes());
  auto copy_sql = std::string{"COPY cdr ("} + columns + ") FROM STDIN (FORMAT binary)";
  auto started = clock_type::now();
  for (const auto& stream : streams) {
    c.exec("BEGIN");
    {
      std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(c.conn, copy_sql.c_str()), &PQclear};
      if (PQresultStatus(res.get()) != PGRES_COPY_IN)
        throw std::runtime_error(std::string{"COPY: "} + PQresultErrorMessage(res.get()));
    }
    if (PQputCopyData(c.conn, stream.data(), static_cast<int>(stream.size())) != 1
        || PQputCopyEnd(c.conn, nullptr) != 1)
      throw std::runtime_error(std::string{"COPY data: "} + PQerrorMessage(c.conn));
    while (PGresult* res = PQgetResult(c.conn)) {
      auto ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      std::string message = PQresultErrorMessage(res);
      PQclear(res);
      if (!ok)
        throw std::runtime_error("COPY end: " + message);
    }
    c.exec("COMMIT");
  }
  std::chrono::duration<double> took = clock_type::now() - started;
  return o.records / took.count();
}

double run_insert(const std::string& conninfo, const options& o, const std::string& tag) {
  connection c{conninfo};
  std::string sql = std::string{"INSERT INTO cdr ("} + columns + ") VALUES (";
  for (int i = 1; i <= 22; ++i)
    sql += (i > 1 ? ",$" : "$") + std::to_string(i);
  sql += ")";
  {
    std::unique_ptr<PGresult, decltype(&PQclear)> res{
      PQprepare(c.conn, "cdr_insert", sql.c_str(), 22, nullptr), &PQclear};
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
      throw std::runtime_error(std::string{"prepare: "} + PQresultErrorMessage(res.get()));
  }
  // Parameters as text, built before the clock starts.
  std::vector<std::vector<std::string>> rows;
  auto records = make_records(tag, 0, o.records);
  for (const auto& r : records) {
    std::string ivr = "[";
    for (std::size_t i = 0; i < r.ivr_path.size(); ++i)
      ivr += (i > 0 ? ",{\"menu\":\"" : "{\"menu\":\"") + r.ivr_path[i].menu
             + "\",\"choice\":\"" + r.ivr_path[i].choice + "\"}";
    ivr += "]";
    rows.push_back({r.call_uuid, r.leg_uuid, std::to_string(r.leg), pers::to_string(r.direction),
                    r.caller, r.callee, std::to_string(*r.route_id), std::to_string(*r.flow_id),
                    "", "", r.node, pers::to_string(r.mode), timestamp_text(r.created_us),
                    timestamp_text(*r.answered_us), timestamp_text(r.ended_us),
                    std::to_string(r.duration_ms), std::to_string(r.billsec_ms), r.hangup_cause,
                    std::to_string(*r.sip_code), r.disposition, ivr, pers::to_string(r.reason)});
  }
  if (PQenterPipelineMode(c.conn) != 1)
    throw std::runtime_error("cannot enter pipeline mode");
  auto started = clock_type::now();
  std::size_t next = 0;
  while (next < rows.size()) {
    auto end = std::min(rows.size(), next + static_cast<std::size_t>(o.batch));
    for (auto i = next; i < end; ++i) {
      const char* values[22];
      for (std::size_t k = 0; k < 22; ++k)
        values[k] = (k == 8 || k == 9) ? nullptr : rows[i][k].c_str(); // campaign, attempt NULL
      if (PQsendQueryPrepared(c.conn, "cdr_insert", 22, values, nullptr, nullptr, 0) != 1)
        throw std::runtime_error(std::string{"send: "} + PQerrorMessage(c.conn));
    }
    if (PQpipelineSync(c.conn) != 1)
      throw std::runtime_error(std::string{"sync: "} + PQerrorMessage(c.conn));
    for (auto i = next; i < end; ++i) {
      PGresult* res = PQgetResult(c.conn);
      auto ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
      std::string message = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(c.conn);
      PQclear(res);
      if (!ok)
        throw std::runtime_error("INSERT: " + message);
      PQclear(PQgetResult(c.conn)); // the NULL that ends this statement's results
    }
    PGresult* sync = PQgetResult(c.conn);
    auto synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced)
      throw std::runtime_error("pipeline sync missing");
    next = end;
  }
  std::chrono::duration<double> took = clock_type::now() - started;
  return o.records / took.count();
}

// -- latency at a paced rate ---------------------------------------------------------------------

struct latency_result {
  std::vector<double> ms;
  uint64_t ships = 0;
};

latency_result run_latency(const std::string& conninfo, const options& o,
                           const std::filesystem::path& spool_dir) {
  int total = o.rate * o.latency_s;
  latency_result result;
  result.ms.reserve(static_cast<std::size_t>(total));
  // Sequence number -> enqueue time of records appended and not yet committed; the pipeline's
  // commit callback (its shipping thread) turns them into latencies.
  std::mutex times_mutex;
  std::deque<std::pair<uint64_t, clock_type::time_point>> in_flight;
  uint64_t committed_records = 0;
  std::condition_variable all_committed;
  auto pipeline = start_pipeline(conninfo, o, spool_dir, [&](uint64_t up_to) {
    auto now = clock_type::now();
    std::lock_guard guard{times_mutex};
    ++result.ships;
    while (!in_flight.empty() && in_flight.front().first <= up_to) {
      std::chrono::duration<double, std::milli> waited = now - in_flight.front().second;
      result.ms.push_back(waited.count());
      in_flight.pop_front();
      ++committed_records;
    }
    all_committed.notify_all();
  });
  auto warm = make_records("warm", 0, 1);
  append_or_throw(*pipeline, warm);
  drain_or_throw(*pipeline);
  {
    std::lock_guard guard{times_mutex};
    result.ms.clear();
    result.ships = 0;
    committed_records = 0;
  }

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<pers::call_record, clock_type::time_point>> queue;
  std::thread producer{[&] {
    auto start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      std::this_thread::sleep_until(start
                                    + std::chrono::microseconds{int64_t{1'000'000} * i / o.rate});
      auto rec = make_record("late", i);
      std::lock_guard guard{mutex};
      queue.emplace_back(std::move(rec), clock_type::now());
      wake.notify_one();
    }
  }};
  // The owner thread, as the record writer: appends whatever is queued (one fdatasync per
  // group); the pipeline's thread ships meanwhile.
  int appended = 0;
  while (appended < total) {
    std::vector<pers::call_record> batch;
    std::vector<clock_type::time_point> enqueued;
    {
      std::unique_lock lock{mutex};
      wake.wait(lock, [&] { return !queue.empty(); });
      for (auto& [rec, at] : queue) {
        batch.push_back(std::move(rec));
        enqueued.push_back(at);
      }
      queue.clear();
    }
    // Registered before the append: the commit can come before append returns here.
    std::unique_lock times{times_mutex};
    const auto first = pipeline->stats().appended + 1; // sequence numbers start at 1
    for (std::size_t i = 0; i < enqueued.size(); ++i)
      in_flight.emplace_back(first + i, enqueued[i]);
    times.unlock();
    auto range = pipeline->append(batch);
    if (!range)
      throw std::runtime_error("append: " + pers::render_error(range.error()));
    if (range->first != first)
      throw std::runtime_error("unexpected sequence numbers from the spool");
    appended += static_cast<int>(enqueued.size());
  }
  producer.join();
  std::unique_lock times{times_mutex};
  auto everything = [&] { return committed_records >= static_cast<uint64_t>(total); };
  if (!all_committed.wait_for(times, 60s, everything))
    throw std::runtime_error("the latency run did not commit every record within 60 s");
  return result;
}

/// Sums the server-side statement durations logged in `log` between byte offsets `from` and
/// `to`, per statement kind (by prefix), in ms.
std::vector<std::pair<std::string, double>> statement_ms(const std::filesystem::path& log,
                                                          std::uintmax_t from, std::uintmax_t to) {
  std::vector<std::pair<std::string, double>> kinds{
    {"COPY cdr_staging", 0}, {"INSERT INTO cdr SELECT", 0}, {"DELETE FROM cdr_staging", 0},
    {"COPY cdr ", 0},        {"COMMIT", 0},                  {"BEGIN", 0}};
  std::ifstream in{log};
  in.seekg(static_cast<std::streamoff>(from));
  std::string line;
  while (static_cast<std::uintmax_t>(in.tellg()) < to && std::getline(in, line)) {
    auto d = line.find("duration: ");
    auto st = line.find("statement: ");
    if (d == std::string::npos || st == std::string::npos)
      continue;
    auto ms = std::strtod(line.c_str() + d + 10, nullptr);
    for (auto& [prefix, total] : kinds)
      if (line.compare(st + 11, prefix.size(), prefix) == 0) {
        total += ms;
        break;
      }
  }
  return kinds;
}

/// Where the time of one pipeline run and one raw COPY run goes, per 1000 rows: statement
/// durations from the server log (log_min_duration_statement = 0 for these two runs only).
json breakdown(callgrid::test_support::postgres_server& pg, connection& admin,
               const std::string& conninfo, const options& o,
               const std::filesystem::path& spool_dir) {
  admin.exec("ALTER DATABASE callgrid SET log_min_duration_statement = 0");
  reset_tables(admin);
  auto before_pipeline = std::filesystem::file_size(pg.log_path());
  auto p = run_pipeline(conninfo, o, "bkp0", spool_dir);
  reset_tables(admin);
  auto before_copy = std::filesystem::file_size(pg.log_path());
  auto copy_rate = run_copy(conninfo, o, "bkc0");
  admin.exec("ALTER DATABASE callgrid RESET log_min_duration_statement");
  auto after_copy = std::filesystem::file_size(pg.log_path());
  auto per_1000 = 1000.0 / o.records;
  auto pipeline_sql = statement_ms(pg.log_path(), before_pipeline, before_copy);
  auto copy_sql = statement_ms(pg.log_path(), before_copy, after_copy);
  json pipeline_json = json::object();
  for (const auto& [prefix, ms] : pipeline_sql)
    if (ms > 0)
      pipeline_json[prefix] = rounded(ms * per_1000, 1);
  json copy_json = json::object();
  for (const auto& [prefix, ms] : copy_sql)
    if (ms > 0)
      copy_json[prefix] = rounded(ms * per_1000, 1);
  return json{{"bench", "cdr_ingest"},
              {"metric", "cost_breakdown_ms_per_1000_rows"},
              {"value", rounded(1000.0 / p.rows_per_s * 1000.0, 1)},
              {"unit", "ms"},
              {"peer", nullptr},
              {"ratio", nullptr},
              {"spool_append", rounded(p.append_ms_per_1000, 1)},
              {"drain_after_last_append", rounded(p.drain_ms_per_1000, 1)},
              {"pipeline_statements", pipeline_json},
              {"batches", p.stats.batches},
              {"fallback_batches", p.stats.fallbacks},
              {"read_back_records", p.stats.read_back},
              {"peer_copy_total", rounded(1000.0 / copy_rate * 1000.0, 1)},
              {"peer_copy_statements", copy_json},
              {"note", "one logged run each (log_min_duration_statement = 0); statement times are "
                       "the server's; value = wall time per 1000 rows; appending overlaps "
                       "shipping, so spool_append is not on top of the statements"}};
}

int run(int argc, char** argv) {
  auto o = parse(argc, argv);
  log("nproc: " + std::to_string(std::thread::hardware_concurrency())
      + ", build: " CALLGRID_BENCH_BUILD_TYPE);
  log("no CAF actors in this benchmark, so CAF scheduler pinning does not apply");
  callgrid::test_support::postgres_options pg_options;
  pg_options.extra_args = {"-c", "fsync=on", "-c", "synchronous_commit=on"};
  callgrid::test_support::postgres_server pg{pg_options};
  pg.create_database("callgrid");
  auto conninfo = pg.conninfo("callgrid");
  if (auto migrated = pers::schema_migrator::migrate(conninfo); !migrated)
    throw std::runtime_error("migrate: " + pers::render_error(migrated.error()));
  log("PostgreSQL on 127.0.0.1:" + std::to_string(pg.port()) + ", migrated, fsync on");
  auto spool_dir = pg.directory() / "bench-spool";
  connection admin{conninfo};

  std::vector<double> pipeline, copy, insert, append_ms, drain_ms, one_connection;
  for (int i = 0; i < o.repeat; ++i) {
    auto tag = std::to_string(1000 + i);
    reset_tables(admin);
    auto p = run_pipeline(conninfo, o, tag.substr(0, 2) + "p" + tag.substr(3), spool_dir);
    pipeline.push_back(p.rows_per_s);
    append_ms.push_back(p.append_ms_per_1000);
    drain_ms.push_back(p.drain_ms_per_1000);
    reset_tables(admin);
    copy.push_back(run_copy(conninfo, o, tag.substr(0, 2) + "c" + tag.substr(3)));
    reset_tables(admin);
    insert.push_back(run_insert(conninfo, o, tag.substr(0, 2) + "i" + tag.substr(3)));
    // For comparison only: the same pipeline with one shipping connection.
    reset_tables(admin);
    one_connection.push_back(
      run_pipeline(conninfo, o, tag.substr(0, 2) + "o" + tag.substr(3), spool_dir, 1).rows_per_s);
    log("run " + std::to_string(i + 1) + ": pipeline " + std::to_string(pipeline.back())
        + " rows/s, copy " + std::to_string(copy.back()) + ", insert "
        + std::to_string(insert.back()) + ", pipeline with one connection "
        + std::to_string(one_connection.back()));
  }
  auto ours = median(pipeline);
  auto as_runs = [](const std::vector<double>& v) {
    json runs = json::array();
    for (auto x : v)
      runs.push_back(rounded(x, 0));
    return runs;
  };
  auto line = [&](const std::string& peer, double peer_value, double goal,
                  const std::vector<double>& peer_runs) {
    json l{{"bench", "cdr_ingest"},
           {"metric", "rows_per_s"},
           {"value", rounded(ours, 0)},
           {"unit", "1/s"},
           {"peer", peer},
           {"ratio", rounded(ours / peer_value, 3)},
           {"goal_ratio", goal},
           {"peer_value", rounded(peer_value, 0)},
           {"records", o.records},
           {"batch", o.batch},
           {"repeats", o.repeat},
           {"shipping_connections", 2},
           {"append_ms_per_1000", rounded(median(append_ms), 1)},
           {"drain_ms_per_1000", rounded(median(drain_ms), 1)},
           {"runs", as_runs(pipeline)},
           {"peer_runs", as_runs(peer_runs)}};
    std::cout << l.dump() << std::endl;
  };
  line("libpq binary COPY into cdr", median(copy), goal_vs_copy, copy);
  line("libpq pipeline single-row INSERT", median(insert), goal_vs_insert, insert);
  {
    auto single = median(one_connection);
    json l{{"bench", "cdr_ingest"},
           {"metric", "rows_per_s_one_shipping_connection"},
           {"value", rounded(single, 0)},
           {"unit", "1/s"},
           {"peer", "libpq binary COPY into cdr"},
           {"ratio", rounded(single / median(copy), 3)},
           {"ratio_to_insert", rounded(single / median(insert), 3)},
           {"note", "the pipeline with connections = 1, for comparison; no goal"},
           {"runs", as_runs(one_connection)}};
    std::cout << l.dump() << std::endl;
  }

  reset_tables(admin);
  log("latency run: " + std::to_string(o.rate) + " records/s for " + std::to_string(o.latency_s)
      + " s");
  auto lat = run_latency(conninfo, o, spool_dir);
  auto p99 = percentile(lat.ms, 0.99);
  json l{{"bench", "cdr_ingest"},
         {"metric", "enqueue_to_commit_p99_ms"},
         {"value", rounded(p99, 1)},
         {"unit", "ms"},
         {"peer", "goal"},
         {"ratio", rounded(p99 / goal_p99_ms, 3)},
         {"goal", goal_p99_ms},
         {"p50_ms", rounded(percentile(lat.ms, 0.50), 1)},
         {"p90_ms", rounded(percentile(lat.ms, 0.90), 1)},
         {"max_ms", rounded(percentile(lat.ms, 1.0), 1)},
         {"rate_per_s", o.rate},
         {"records", lat.ms.size()},
         {"ships", lat.ships},
         {"mean_batch", rounded(static_cast<double>(lat.ms.size())
                                  / static_cast<double>(std::max<uint64_t>(1, lat.ships)),
                                1)}};
  std::cout << l.dump() << std::endl;
  std::cout << breakdown(pg, admin, conninfo, o, spool_dir).dump() << std::endl;
  std::filesystem::remove_all(spool_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cdr_ingest_bench: " << e.what() << "\n";
    return 1;
  }
}
