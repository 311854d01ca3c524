#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/timestamp.hpp>

#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_snapshot.hpp"

namespace callgrid::persistence {

/// How a `catalog_watcher` behaves. Read at `start`.
struct catalog_watcher_options {
  /// libpq connection string of the database (schema version 4 or later). The watcher keeps one
  /// dedicated connection open on it.
  std::string conninfo;
  /// Notifications are coalesced: a reload starts once no new one arrived for this long...
  std::chrono::milliseconds debounce{50};
  /// ... or this long after the first one of a burst, whichever comes first. Together with the
  /// load time this bounds how stale the catalog can be (docs/catalog.md: under 1 s).
  std::chrono::milliseconds max_debounce{250};
  /// Wait before the first reconnect after a failure; doubled per further failure.
  std::chrono::milliseconds backoff_initial{100};
  /// Upper bound of the doubled wait.
  std::chrono::milliseconds backoff_max{5'000};
  /// Bound of one connection attempt (the watcher connects without blocking and enforces it).
  std::chrono::milliseconds connect_timeout{5'000};
  /// After this long without traffic the watcher sends `SELECT 1`, so a connection that died
  /// silently is found and replaced (a lost NOTIFY is then made up by the reload).
  std::chrono::milliseconds keepalive_interval{10'000};
  /// When true, `start` waits for the first connection and load and fails with its error (the
  /// daemon refuses to start without a catalog). When false, `start` returns at once and the
  /// watcher keeps trying in the background; `current()` is null until the first load.
  bool require_initial_load = true;
};

/// What a watcher is doing, for metrics and `/readyz`. Plain value.
struct catalog_watcher_status {
  /// Whether the dedicated connection is up and LISTENing.
  bool connected = false;
  /// Successful loads (the first one included) = snapshots published.
  uint64_t reloads = 0;
  /// Failed connects and loads.
  uint64_t failures = 0;
  /// Connections made after the first one.
  uint64_t reconnects = 0;
  /// NOTIFY messages received on `callgrid_catalog`.
  uint64_t notifications = 0;
  /// Generation of the snapshot published last (0: none yet).
  uint64_t generation = 0;
  /// How long the last successful load took.
  std::chrono::microseconds last_load_duration{0};
  /// When the last successful load began (wall clock); the epoch when none.
  caf::timestamp last_load_at;
  /// `render_error` of the most recent failure, "" when there was none. Kept after recovery;
  /// compare `last_error_at` with `last_load_at`.
  std::string last_error;
  /// When the most recent failure happened; the epoch when none.
  caf::timestamp last_error_at;

  friend bool operator==(const catalog_watcher_status&, const catalog_watcher_status&) = default;
};

/// Keeps an in-memory copy of the catalog current: owns one dedicated libpq connection and one
/// thread of its own, which `LISTEN`s on `callgrid_catalog` (the 0004 triggers NOTIFY it after
/// every change of routes, ivr_flows, prompts or campaigns), loads the catalog with
/// `load_catalog`, and on notifications reloads it (coalescing a burst into one reload) and
/// publishes each new snapshot as `std::shared_ptr<const catalog_snapshot>`.
///
/// Threads: everything (connecting, waiting, loading, both callbacks) runs on the watcher's own
/// thread; the callbacks must be quick and must not call `stop()`; hand the snapshot on (e.g.
/// `anon_send` to the node supervisor). `current()`, `status()` and `stop()` may be called from
/// any thread. The call path reads only the published snapshots and never waits for the
/// watcher.
///
/// Failures: a failed connect or load is reported to `on_error` and in `status()`, the last
/// snapshot stays in use, and the watcher reconnects with capped exponential backoff
/// (`backoff_initial` doubling to `backoff_max`). Every (re)connection LISTENs first and then
/// loads, so a change made while the watcher was disconnected, whose NOTIFY it could not get,
/// still arrives. Connection loss is seen when the server closes the socket (restart,
/// `pg_terminate_backend`) or by the keepalive query; a network that silently drops packets
/// needs `keepalives_idle` / `tcp_user_timeout` in the conninfo to bound the keepalive query.
/// `stop()` is prompt (an eventfd wakes the thread) except during a load, which it waits for.
///
/// ```cpp
/// auto watcher = catalog_watcher::start(
///   {.conninfo = conninfo},
///   [supervisor](std::shared_ptr<const catalog_snapshot> s) { anon_send(supervisor, s); },
///   [](const caf::error& err) { log_warning(render_error(err)); });
/// if (!watcher) return fail(render_error(watcher.error()));   // no catalog at start
/// metrics((*watcher)->status());
/// (*watcher)->stop();                                          // also done by the destructor
/// ```
class catalog_watcher {
public:
  /// Called with each new snapshot, on the watcher's thread.
  using snapshot_handler = std::function<void(std::shared_ptr<const catalog_snapshot>)>;
  /// Called with each failure (connect, load, lost connection), on the watcher's thread.
  using error_handler = std::function<void(const caf::error&)>;

  /// Starts the watcher thread. With `require_initial_load` (the default) waits for the first
  /// connection and load: fails with its `db_unavailable` / `db_query_failed` error (and leaves
  /// nothing running), or returns once the first snapshot was published through `on_snapshot`.
  /// Fails with `db_unavailable` also when the eventfd or the thread cannot be created.
  /// `on_snapshot` and `on_error` may be empty.
  [[nodiscard]] static caf::expected<std::unique_ptr<catalog_watcher>>
  start(catalog_watcher_options options, snapshot_handler on_snapshot, error_handler on_error);

  /// Stops the thread (see `stop`).
  ~catalog_watcher();

  catalog_watcher(const catalog_watcher&) = delete;
  catalog_watcher& operator=(const catalog_watcher&) = delete;
  catalog_watcher(catalog_watcher&&) = delete;
  catalog_watcher& operator=(catalog_watcher&&) = delete;

  /// Wakes the thread, waits for it to end and closes the connection. Idempotent; any thread
  /// but the watcher's own (not from a callback).
  void stop() noexcept;

  /// The snapshot published last, or null before the first load. Thread-safe.
  [[nodiscard]] std::shared_ptr<const catalog_snapshot> current() const;

  /// A copy of the counters. Thread-safe.
  [[nodiscard]] catalog_watcher_status status() const;

private:
  catalog_watcher(catalog_watcher_options options, snapshot_handler on_snapshot,
                  error_handler on_error, int wake_fd);

  void run() noexcept;
  [[nodiscard]] caf::error connect();
  [[nodiscard]] caf::error reload();
  [[nodiscard]] caf::error wait_for_change();
  uint64_t take_notifications();
  void disconnect() noexcept;
  void report(const caf::error& err);
  [[nodiscard]] bool sleep_unless_stopped(std::chrono::milliseconds duration) const noexcept;
  [[nodiscard]] bool stop_requested() const noexcept;

  catalog_watcher_options options_;
  snapshot_handler on_snapshot_;
  error_handler on_error_;
  int wake_fd_ = -1;
  internal::pg_conn_ptr conn_;
  std::string last_server_message_;
  uint64_t generation_ = 0;
  bool connected_once_ = false;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable initial_done_;
  std::optional<caf::error> initial_result_;
  std::shared_ptr<const catalog_snapshot> current_;
  catalog_watcher_status status_;
};

} // namespace callgrid::persistence
