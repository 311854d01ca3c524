#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timestamp.hpp>

#include "persistence/call_record.hpp"
#include "persistence/errc.hpp"
#include "persistence/record_batcher.hpp"
#include "persistence/record_spool.hpp"

namespace callgrid::persistence {

/// How a `record_pipeline` ships. Read at `start`.
struct record_pipeline_options {
  /// The batcher the shipping thread uses (`batch_size`, retry backoff, `after_commit`). An
  /// empty `conninfo` means no database: records are only spooled and no thread is started.
  record_batcher_options batcher;
  /// Most appended records kept in memory for the shipper. Past that, `append` keeps only the
  /// spool copy and the shipper reads those records back from disk, so a long outage costs disk,
  /// not RAM.
  std::size_t max_buffered_records = 20'000;
  /// Shipping threads, each with its own batcher and connection. With two, one batch's COPY
  /// runs while the previous one waits for its commit to reach the WAL; batches may then commit
  /// out of order, and the spool is acknowledged only up to the last contiguous commit.
  std::size_t connections = 2;
  /// Called from the shipping threads with one line per problem: failed batches (the first and
  /// every 20th in a row), a failed acknowledgement, a partition that could not be created.
  std::function<void(const std::string&)> log_warning;
  /// Called from a shipping thread after each commit with the sequence number up to which
  /// every record is now committed; must be quick (benchmarks and tests time commits with it).
  std::function<void(uint64_t)> on_committed;
};

/// Counters of one `record_pipeline` since `start`, and its backlog now.
struct record_pipeline_stats {
  /// Records appended to the spool through `append`.
  uint64_t appended = 0;
  /// Rows inserted into `cdr`.
  uint64_t stored = 0;
  /// Records shipped that `cdr` already had (replays), or repeats inside a batch.
  uint64_t duplicates = 0;
  /// Committed batches, and how many of them took the staging fallback.
  uint64_t batches = 0;
  uint64_t fallbacks = 0;
  /// Records the shipper had to read back from the spool (replay after a restart, or past
  /// `max_buffered_records`).
  uint64_t read_back = 0;
  /// Failed batch attempts (each retried after the batcher's backoff).
  uint64_t ship_failures = 0;
  /// Failed attempts in a row now (0 when the last batch succeeded).
  uint32_t consecutive_failures = 0;
  /// Records appended (now or before a restart) and not yet committed.
  uint64_t pending = 0;
};

/// The call-record pipeline of one daemon: a `record_spool` plus shipping threads (each with
/// its own `record_batcher` and connection) that move what was appended into `cdr`, so that
/// appending (one fdatasync per batch) and shipping (COPY and commit) overlap instead of waiting
/// for each other, and so do one batch's COPY and the previous one's commit.
///
/// Owned by the record writer (or a benchmark); `append`, `flush`, `stats` and
/// `oldest_pending_age` may be called from any thread (appends are serialised). A shipping
/// thread takes the next batch straight from memory (the records `append` was given), reads
/// the spool back only for records from before a restart or beyond `max_buffered_records`, ships as soon
/// as it is idle and something is pending (a batch is whatever arrived while the previous one
/// was in flight, up to `batch_size`), and acknowledges each committed batch in the spool
/// up to the last batch with no uncommitted one before it (lazily on disk:
/// `spool_options::ack_sync_interval`). Failures are values from `append`
/// (the spool's errors; the batch is then not in the spool and the caller keeps it) and
/// `log_warning` lines from the shipper, which retries a failed batch with the batcher's
/// backoff for as long as the pipeline lives; nothing appended is lost or stored twice.
///
/// ```cpp
/// auto spool = record_spool::open(dir);
/// auto pipeline = record_pipeline::start(std::move(*spool), {.batcher = {.conninfo = ci}});
/// std::vector<call_record> batch = ...;
/// auto range = (*pipeline)->append(batch);                 // durable; shipping has begun
/// auto left = (*pipeline)->flush(std::chrono::seconds{5}); // 0: everything is in cdr
/// ```
class record_pipeline {
public:
  /// Takes over `spool` and starts the shipping threads (none when `batcher.conninfo` is
  /// empty). Cannot fail today; the `expected` leaves room for checks at start.
  [[nodiscard]] static caf::expected<std::unique_ptr<record_pipeline>>
  start(record_spool spool, record_pipeline_options options);

  /// Stops the shipping threads after the batches they have in flight, applies the last
  /// acknowledgement and closes the spool (which writes the acknowledgement to disk).
  ~record_pipeline();
  record_pipeline(const record_pipeline&) = delete;
  record_pipeline& operator=(const record_pipeline&) = delete;

  /// Appends `records` to the spool as one batch (durable when it returns) and hands them to
  /// the shipper. On success `records` is left empty (moved into the pipeline); on failure it
  /// is untouched and nothing of it is in the spool. Blocks on the fdatasync. Fails with the
  /// spool's errors (`spool_full`, `spool_io_error`, `record_too_large`, `spool_broken`).
  [[nodiscard]] caf::expected<sequence_range> append(std::vector<call_record>& records);

  /// Asks the shipping threads to ship now (cutting retry waits short) and waits until
  /// everything appended before the call is committed, a batch fails, or `timeout` passes.
  /// Returns the records still pending (0: everything is in `cdr`).
  uint64_t flush(std::chrono::milliseconds timeout);

  /// Counters and backlog now.
  [[nodiscard]] record_pipeline_stats stats() const;

  /// `now` minus the end time of the oldest record not yet committed; empty when none is.
  /// Applies an acknowledgement the shipping threads left for the spool first.
  [[nodiscard]] std::optional<std::chrono::microseconds> oldest_pending_age(caf::timestamp now);

  /// The last sequence number committed to `cdr` (every record up to it is stored).
  [[nodiscard]] uint64_t committed_up_to() const;

  /// What opening the spool found and repaired.
  [[nodiscard]] const open_report& spool_report() const noexcept { return report_; }

private:
  /// Records `append` handed over, in sequence order from `first`.
  struct buffered_batch {
    uint64_t first = 0;
    std::vector<call_record> records;
  };

  record_pipeline(record_spool spool, record_pipeline_options options);

  void ship_loop();
  bool claim_batch(std::vector<call_record>& batch, uint64_t& first, uint64_t& last);
  void record_commit(uint64_t first, uint64_t last, bool acknowledge);
  /// Shipping thread: fills `batch` with records from sequence `next` on (memory first, else
  /// the spool) and sets `last` to the last sequence number they cover.
  caf::error next_batch(uint64_t next, std::vector<call_record>& batch, uint64_t& last);
  void apply_acknowledgement();
  /// Acknowledges up to `up_to` in the spool (logging a failure); `spool_mutex_` held.
  void acknowledge_locked(uint64_t up_to);
  void warn(const std::string& line) const;

  record_pipeline_options options_;
  open_report report_;
  bool shipping_ = false;

  /// Guards `spool_`. Taken before `state_mutex_` when both are needed.
  mutable std::mutex spool_mutex_;
  record_spool spool_;
  /// The acknowledgement the shipper wants in the spool; applied by whoever holds it next.
  std::atomic<uint64_t> ack_wanted_{0};

  /// Guards everything below, and is the mutex of both condition variables.
  mutable std::mutex state_mutex_;
  std::condition_variable wake_;
  std::condition_variable progress_;
  std::deque<buffered_batch> buffer_;
  std::size_t buffered_records_ = 0;
  uint64_t appended_up_to_ = 0;
  /// Every record up to it is committed, `on_committed` has seen it and its acknowledgement is
  /// requested: what `flush`, `stats` and `committed_up_to` report.
  uint64_t committed_up_to_ = 0;
  /// Every record up to it is committed (ahead of `committed_up_to_` while it is published).
  uint64_t contiguous_up_to_ = 0;
  /// The first sequence number no shipping thread has taken yet.
  uint64_t next_to_claim_ = 1;
  /// Committed batches beyond `committed_up_to_` (first → last), waiting for the gap before
  /// them to close.
  std::map<uint64_t, uint64_t> committed_ahead_;
  uint64_t failure_count_ = 0;
  /// Bumped by `flush`: threads waiting out a retry delay retry at once.
  uint64_t retry_now_ = 0;
  bool stop_ = false;
  record_pipeline_stats stats_;

  /// Serialises taking the next batch (memory or spool) among the shipping threads.
  std::mutex claim_mutex_;
  /// Serialises making commits visible (see `record_commit`); taken before `state_mutex_`.
  std::mutex publish_mutex_;
  std::vector<std::thread> shippers_;
};

} // namespace callgrid::persistence
