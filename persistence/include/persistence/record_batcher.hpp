#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/timestamp.hpp>

#include "persistence/errc.hpp"
#include "persistence/record_spool.hpp"

namespace callgrid::persistence {

/// How a `record_batcher` ships. Read at construction.
struct record_batcher_options {
  /// libpq connection string of the database holding `cdr` (migrated by `schema_migrator`).
  /// Add `connect_timeout=N` so that an unreachable host fails in bounded time.
  std::string conninfo;
  /// Most spool entries sent in one transaction (one COPY).
  std::size_t batch_size = 1000;
  /// The owner ships a partial batch once its oldest record is this old (see `batch_due`).
  std::chrono::milliseconds max_delay{200};
  /// Wait before the retry after the first consecutive failure; doubled per further failure.
  std::chrono::milliseconds retry_initial{100};
  /// Upper bound of the doubled retry wait.
  std::chrono::milliseconds retry_max{10'000};
  /// Fraction of the retry wait taken off at random (0 = none, 0.5 = wait in [d/2, d]), so that
  /// many daemons do not reconnect in step after an outage.
  double retry_jitter = 0.2;
  /// Test seam, called after COMMIT and before the spool is acknowledged; returning false skips
  /// the acknowledgement, as a crash between the two would. Empty in production.
  std::function<bool()> after_commit;
};

/// What one successful `ship_once` did.
struct ship_result {
  /// Records sent to the server and accepted by its COPY (0: nothing was pending).
  uint64_t staged = 0;
  /// Rows that really went into `cdr`; the rest were already there (replays) or repeated inside
  /// the batch.
  uint64_t inserted = 0;
  /// The sequence number acknowledged in the spool (0 when nothing was sent or the
  /// acknowledgement was skipped by the test seam).
  uint64_t acknowledged_up_to = 0;
  /// True when the batch went the fallback way: the COPY straight into `cdr` met a unique
  /// violation (a row already stored, or a leg twice in the batch), was rolled back, and the
  /// batch went through `cdr_staging` and `INSERT … ON CONFLICT DO NOTHING` instead.
  bool fallback = false;
  /// Set when `callgrid_create_cdr_partitions` failed on this connection: not fatal (rows land in
  /// the default partition), but the owner should log it.
  caf::error partition_error;

  /// Records dropped as already stored.
  [[nodiscard]] uint64_t duplicates() const noexcept { return staged - inserted; }
};

/// Moves call records into PostgreSQL's `cdr` table, one blocking batch per call: a binary COPY
/// straight into `cdr` as its own transaction; only when that fails with a unique violation (a
/// replay of rows already stored) is it rolled back and the batch sent again through
/// `cdr_staging` and the ingest `INSERT … ON CONFLICT DO NOTHING` in one transaction.
/// `ship_once` takes the batch from a `record_spool` and `acknowledge`s it after the commit;
/// `deliver` stores records the caller holds (the `record_pipeline` ships from memory this
/// way). Delivery is at-least-once; `cdr`'s unique key `(call_uuid, leg)` makes the rows
/// exactly-once.
///
/// Owned by one thread: the detached actor (or thread) that also owns the spool, since
/// `record_spool` is not thread-safe. Every call blocks on libpq; never call it from an
/// event-based actor or the call path. Keeps one connection open between calls and drops it
/// after any failure. Failures are values: `db_unavailable` (no connection, or the connection
/// was lost), `db_query_failed` (a statement failed; the context names it and holds the server
/// message), or a spool error; after a failure nothing was acknowledged, so the same records
/// go again on the next call. Wait `next_retry_delay()` before that call.
///
/// ```cpp
/// record_batcher batcher{{.conninfo = conninfo}};
/// while (spool.depth() > 0) {
///   auto shipped = batcher.ship_once(spool);
///   if (!shipped) { log(render_error(shipped.error())); sleep(batcher.next_retry_delay()); }
/// }
/// ```
class record_batcher {
public:
  explicit record_batcher(record_batcher_options options);
  ~record_batcher();
  record_batcher(record_batcher&&) noexcept;
  record_batcher& operator=(record_batcher&&) noexcept;
  record_batcher(const record_batcher&) = delete;
  record_batcher& operator=(const record_batcher&) = delete;

  /// Ships up to `batch_size` pending entries of `spool` (read back from it) with `deliver` and
  /// acknowledges them after the commit. Returns `staged == 0` without touching the database
  /// when nothing is pending. Connects first when needed and then calls
  /// `callgrid_create_cdr_partitions(today, 2)` once per connection. Fails with `db_unavailable`, `db_query_failed` (both after a
  /// rollback; nothing acknowledged) or the spool's error from `pending` / `acknowledge` (when
  /// `acknowledge` fails the rows are committed: they go again and are counted as duplicates).
  [[nodiscard]] caf::expected<ship_result> ship_once(record_spool& spool);

  /// Stores `records` in `cdr`, all or none, without a spool: `acknowledged_up_to` stays 0 and
  /// `after_commit` is not called. Connects first when needed, like `ship_once`. Fails with
  /// `db_unavailable` or `db_query_failed` (nothing stored; the connection is dropped). Counts
  /// toward `consecutive_failures` like `ship_once`; an empty span succeeds at once.
  [[nodiscard]] caf::expected<ship_result> deliver(std::span<const call_record> records);

  /// Connects now when no connection is open (with the partition call `ship_once` makes), so
  /// that the first batch does not pay for it. Fails with `db_unavailable` (a later batch
  /// simply tries again), or `db_query_failed` when only the partition call failed (the
  /// connection is then open and used; rows go to the default partition meanwhile).
  [[nodiscard]] caf::error prepare();

  /// True when the owner should ship now: `batch_size` entries are pending, or the oldest
  /// pending record ended at least `max_delay` before `now`.
  [[nodiscard]] bool batch_due(const record_spool& spool, caf::timestamp now) const;

  /// How long to wait before the next `ship_once`: zero after a success, else `retry_initial *
  /// 2^(failures - 1)` capped at `retry_max`, less a random part of up to `retry_jitter`.
  [[nodiscard]] std::chrono::milliseconds next_retry_delay();

  /// Failed `ship_once` calls since the last success.
  [[nodiscard]] uint32_t consecutive_failures() const noexcept { return failures_; }

  /// Whether a connection is open (it is dropped after every failure).
  [[nodiscard]] bool connected() const noexcept;

  /// The options in effect.
  [[nodiscard]] const record_batcher_options& options() const noexcept { return options_; }

private:
  struct connection;

  caf::expected<ship_result> store(std::span<const call_record> records);
  caf::error connect(ship_result& result);

  record_batcher_options options_;
  std::unique_ptr<connection> conn_;
  uint32_t failures_ = 0;
  std::minstd_rand rng_;
  /// The batch `ship_once` read from the spool; kept to reuse its capacity.
  std::vector<call_record> records_;
};

} // namespace callgrid::persistence
