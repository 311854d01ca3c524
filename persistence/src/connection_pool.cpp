#include "persistence/connection_pool.hpp"

#include <poll.h>

#include <string>
#include <utility>

#include <libpq-fe.h>

#include "persistence/errc.hpp"

namespace callgrid::persistence {

namespace {

/// Returns whether an idle connection still works, without a round trip: a backend that was
/// terminated or a server that shut down has sent an error and closed the socket, which makes
/// it readable; reading that input makes libpq notice. Leftover NOTIFYs are dropped.
bool healthy(PGconn* conn) noexcept {
  if (!internal::pg_connected(conn) || PQtransactionStatus(conn) != PQTRANS_IDLE)
    return false;
  // A goodbye may arrive in more than one read (the error, then the end of the stream).
  for (int round = 0; round < 4; ++round) {
    pollfd fd{PQsocket(conn), POLLIN, 0};
    if (fd.fd < 0)
      return false;
    if (::poll(&fd, 1, 0) <= 0)
      break;
    if (PQconsumeInput(conn) == 0)
      return false;
    while (PGnotify* notify = PQnotifies(conn))
      PQfreemem(notify);
  }
  return internal::pg_connected(conn) && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

} // namespace

// -- lease ----------------------------------------------------------------------------------------

connection_pool::lease::lease(lease&& other) noexcept
  : pool_(std::exchange(other.pool_, nullptr)),
    conn_(std::exchange(other.conn_, nullptr)),
    broken_(std::exchange(other.broken_, false)) {
}

connection_pool::lease& connection_pool::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::exchange(other.conn_, nullptr);
    broken_ = std::exchange(other.broken_, false);
  }
  return *this;
}

connection_pool::lease::~lease() {
  release();
}

void connection_pool::lease::release() noexcept {
  if (pool_ != nullptr && conn_ != nullptr)
    pool_->give_back(conn_, broken_);
  pool_ = nullptr;
  conn_ = nullptr;
  broken_ = false;
}

// -- pool -----------------------------------------------------------------------------------------

connection_pool::connection_pool(connection_pool_options options) : options_(std::move(options)) {
  if (options_.size == 0)
    options_.size = 1;
  counts_.size = options_.size;
}

connection_pool::~connection_pool() {
  for (auto* conn : idle_)
    PQfinish(conn);
}

caf::expected<connection_pool::lease>
connection_pool::acquire(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock guard{mutex_};
  for (;;) {
    if (!idle_.empty()) {
      auto* conn = idle_.back();
      idle_.pop_back();
      ++counts_.leased;
      guard.unlock();
      if (healthy(conn))
        return lease{this, conn};
      PQfinish(conn);
      guard.lock();
      --counts_.leased;
      --counts_.open;
      ++counts_.broken_total;
      continue;
    }
    if (counts_.open < options_.size) {
      ++counts_.open;
      ++counts_.leased;
      guard.unlock();
      auto conn = internal::pg_connect(options_.conninfo);
      guard.lock();
      if (!conn) {
        --counts_.open;
        --counts_.leased;
        ++counts_.connect_failures_total;
        returned_.notify_one();
        return caf::make_error(errc::db_unavailable,
                               "connection pool: " + internal::error_context(conn.error()));
      }
      ++counts_.connects_total;
      return lease{this, conn->release()};
    }
    ++counts_.waiting;
    auto available = returned_.wait_until(guard, deadline, [this] {
      return !idle_.empty() || counts_.open < options_.size;
    });
    --counts_.waiting;
    if (!available) {
      ++counts_.timeouts_total;
      return caf::make_error(errc::db_unavailable,
                             "connection pool: no connection free within "
                               + std::to_string(timeout.count()) + " ms (all "
                               + std::to_string(options_.size) + " leased)");
    }
  }
}

void connection_pool::give_back(PGconn* conn, bool broken) noexcept {
  if (!broken && internal::pg_connected(conn)) {
    auto state = PQtransactionStatus(conn);
    // A worker that returns its connection inside a transaction (an early return after an
    // error) must not hand that transaction to the next one.
    if (state == PQTRANS_INTRANS || state == PQTRANS_INERROR) {
      internal::pg_roll_back(conn);
      state = PQtransactionStatus(conn);
    }
    broken = state != PQTRANS_IDLE || !internal::pg_connected(conn);
  } else {
    broken = true;
  }
  if (broken)
    PQfinish(conn);
  std::lock_guard guard{mutex_};
  --counts_.leased;
  if (broken) {
    --counts_.open;
    ++counts_.broken_total;
  } else {
    idle_.push_back(conn);
  }
  returned_.notify_one();
}

connection_pool_status connection_pool::status() const {
  std::lock_guard guard{mutex_};
  auto out = counts_;
  out.idle = idle_.size();
  return out;
}

} // namespace callgrid::persistence
