#include "cluster/leader_lock.hpp"

#include <utility>

#include <libpq-fe.h>

namespace callgrid::cluster {

namespace {

using persistence::internal::pg_connect;
using persistence::internal::pg_exec;
using persistence::internal::pg_text;

} // namespace

leader_lock::leader_lock(leader_lock_options options) : options_(std::move(options)) {
}

int leader_lock::backend_pid() const noexcept {
  return conn_ ? PQbackendPID(conn_.get()) : 0;
}

void leader_lock::release() noexcept {
  conn_.reset();
  held_ = false;
}

caf::expected<bool> leader_lock::try_acquire() {
  if (held_)
    return still_held();
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    conn_.reset();
    auto conn = pg_connect(options_.conninfo);
    if (!conn)
      return std::move(conn.error());
    conn_ = std::move(*conn);
  }
  auto taken = pg_exec(conn_.get(), "leader lock: pg_try_advisory_lock",
                       "SELECT pg_try_advisory_lock($1::bigint)",
                       {std::to_string(options_.lock_key)});
  if (!taken) {
    conn_.reset();
    return std::move(taken.error());
  }
  if (pg_text(taken->get(), 0, 0) != "t")
    return false;
  auto recorded = pg_exec(conn_.get(), "leader lock: record the leader's address",
                          "INSERT INTO cluster_leader (id, address, holder, since) "
                          "VALUES (1, $1, $2, now()) ON CONFLICT (id) DO UPDATE SET "
                          "address = excluded.address, holder = excluded.holder, since = now()",
                          {options_.address, options_.holder});
  if (!recorded) {
    // Without the record nodes cannot find this leader: give the lock back to the others.
    release();
    return std::move(recorded.error());
  }
  held_ = true;
  return true;
}

caf::expected<bool> leader_lock::still_held() {
  if (!held_ || !conn_)
    return false;
  auto checked = pg_exec(conn_.get(), "leader lock: check", "SELECT 1");
  if (!checked) {
    release();
    return std::move(checked.error());
  }
  return true;
}

caf::expected<std::string> leader_lock::current_leader() {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    if (held_)
      return std::string{options_.address};
    auto conn = pg_connect(options_.conninfo);
    if (!conn)
      return std::move(conn.error());
    conn_ = std::move(*conn);
  }
  auto address = read_leader_address(conn_.get());
  if (!address && !held_)
    conn_.reset();
  return address;
}

caf::expected<std::string> leader_lock::read_leader_address(PGconn* conn) {
  auto result = pg_exec(conn, "read the leader's address",
                        "SELECT address FROM cluster_leader WHERE id = 1");
  if (!result)
    return std::move(result.error());
  if (PQntuples(result->get()) == 0)
    return std::string{};
  return pg_text(result->get(), 0, 0);
}

caf::expected<std::string> leader_lock::read_leader_address(const std::string& conninfo) {
  auto conn = pg_connect(conninfo);
  if (!conn)
    return std::move(conn.error());
  return read_leader_address(conn->get());
}

} // namespace callgrid::cluster
