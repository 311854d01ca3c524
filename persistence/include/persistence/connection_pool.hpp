#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/catalog_libpq.hpp"

namespace callgrid::persistence {

/// How a `connection_pool` behaves. Read at construction.
struct connection_pool_options {
  /// libpq connection string. Put `connect_timeout=N` in it: a connection is opened inside
  /// `acquire`, and an unreachable host would otherwise block it for as long as TCP tries.
  std::string conninfo;
  /// Most connections open at once (and most leases out at once). At least 1.
  std::size_t size = 4;
};

/// Counters and gauges of a pool, for metrics. Plain value.
struct connection_pool_status {
  /// `options.size`.
  std::size_t size = 0;
  /// Connections open now (idle + leased).
  std::size_t open = 0;
  /// Connections open and not leased.
  std::size_t idle = 0;
  /// Leases out now.
  std::size_t leased = 0;
  /// Threads waiting in `acquire` now.
  std::size_t waiting = 0;
  /// Connections opened since construction (the first ones and replacements).
  uint64_t connects_total = 0;
  /// Connections found broken (at acquire or at return) and closed; each is replaced by a new
  /// one when next needed.
  uint64_t broken_total = 0;
  /// `acquire` calls that failed because no connection became free in time.
  uint64_t timeouts_total = 0;
  /// `acquire` calls that failed because no connection could be opened.
  uint64_t connect_failures_total = 0;

  friend bool operator==(const connection_pool_status&, const connection_pool_status&) = default;
};

/// A small fixed-size pool of blocking libpq connections for blocking workers: detached actors
/// (the record batcher's owner, the campaign store), admin tools and `callgridctl`. Connections
/// are opened lazily, at most `size` at once, and closed when the pool is destroyed.
///
/// **Nothing on the call path uses it**: call actors read the in-memory catalog
/// (`catalog_watcher`) and send records to the writer; a blocking `acquire` there would stall
/// every call on that scheduler thread.
///
/// Thread-safe: any thread may `acquire`; a `lease` is used by one thread at a time and returns
/// its connection when destroyed. The pool must outlive its leases. Broken connections are
/// replaced: before a connection is handed out, it is checked without a round trip (its socket
/// polled; a backend ended by `pg_terminate_backend` or a server restart has sent its
/// goodbye and closed); a connection returned inside a transaction is rolled back (and closed
/// if that fails), one returned broken or after `mark_broken` is closed. A check
/// cannot see a connection that dies silently later: a failure on a lease's connection
/// surfaces as `db_unavailable` from the call that met it; call `mark_broken()` then.
///
/// Failures of `acquire` (values, never exceptions): `db_unavailable` with "no connection free
/// within N ms" when all are leased until the timeout, or with libpq's message when a new
/// connection could not be opened (the conninfo's password masked).
///
/// ```cpp
/// connection_pool pool{{.conninfo = conninfo, .size = 4}};
/// auto lease = pool.acquire(std::chrono::seconds{2});
/// if (!lease) return log(render_error(lease.error()));
/// auto written = catalog_store::upsert_route(lease->get(), route);
/// if (!written && written.error() == errc::db_unavailable) lease->mark_broken();
/// // leaving the scope returns the connection (or closes it when broken)
/// ```
class connection_pool {
public:
  /// A leased connection: movable, not copyable; returns the connection to the pool when
  /// destroyed (or closes it when it is broken).
  class lease {
  public:
    lease() = default;
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease();

    /// The connection; null for a moved-from lease.
    [[nodiscard]] PGconn* get() const noexcept { return conn_; }

    /// Says that the connection failed in a way the pool cannot see (e.g. a query timed out):
    /// it is closed instead of returned.
    void mark_broken() noexcept { broken_ = true; }

    /// Returns the connection to the pool now; the lease is empty afterwards.
    void release() noexcept;

  private:
    friend class connection_pool;
    lease(connection_pool* pool, PGconn* conn) noexcept : pool_(pool), conn_(conn) {}

    connection_pool* pool_ = nullptr;
    PGconn* conn_ = nullptr;
    bool broken_ = false;
  };

  /// Creates the pool; opens nothing yet. A `size` of 0 is taken as 1. Never fails.
  explicit connection_pool(connection_pool_options options);

  /// Closes every idle connection. Leases must be gone by now.
  ~connection_pool();

  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;
  connection_pool(connection_pool&&) = delete;
  connection_pool& operator=(connection_pool&&) = delete;

  /// Leases a healthy connection: an idle one (checked, replaced when broken), else a new one
  /// while fewer than `size` are open, else waits up to `timeout` for one to come back. Blocks
  /// the calling thread (also while connecting, bounded by `connect_timeout` in the conninfo).
  /// Fails with `db_unavailable` (timeout, or the connection could not be opened).
  [[nodiscard]] caf::expected<lease> acquire(std::chrono::milliseconds timeout);

  /// Current counters; thread-safe.
  [[nodiscard]] connection_pool_status status() const;

private:
  void give_back(PGconn* conn, bool broken) noexcept;

  connection_pool_options options_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<PGconn*> idle_;
  connection_pool_status counts_;
};

} // namespace callgrid::persistence
