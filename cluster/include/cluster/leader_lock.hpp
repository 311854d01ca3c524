#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "persistence/catalog_libpq.hpp"

namespace callgrid::cluster {

/// The advisory lock key coordinators compete for: "cgleader" in ASCII.
inline constexpr int64_t default_leader_lock_key = 0x63676c6561646572;

/// How a coordinator competes for leadership. Plain value.
struct leader_lock_options {
  /// libpq connection string of the cluster's database. Put `connect_timeout=` in it, and on a
  /// network that can drop packets silently also `keepalives_idle=` / `tcp_user_timeout=`: a
  /// leader only notices a dead link when a statement on it fails.
  std::string conninfo;
  /// The advisory lock key; every coordinator of one cluster uses the same.
  int64_t lock_key = default_leader_lock_key;
  /// Where this coordinator's registry is reachable ("host:port"), recorded when it leads.
  std::string address;
  /// This coordinator's name, recorded with the address (for operators).
  std::string holder;
};

/// One coordinator's claim on leadership: a session-level PostgreSQL advisory lock
/// (`pg_try_advisory_lock`) held on a dedicated connection. Whoever holds the lock leads; losing
/// the connection (server restart, `pg_terminate_backend`, network) releases the lock on the
/// server, so a standby can take it, and this side finds out at its next `still_held()`. The
/// leader records its address in `cluster_leader` (migration 0005) right after taking the lock.
///
/// Blocking (libpq): owned by one detached actor or thread; not thread-safe. Failures are values
/// (`db_unavailable`, `db_query_failed`); a failure while leading means leadership is lost.
///
/// ```cpp
/// leader_lock lock{{.conninfo = conninfo, .address = "10.0.0.2:4242", .holder = "coord-a"}};
/// auto leading = lock.try_acquire();           // every retry interval while standing by
/// if (leading && *leading) { ... lead ... }
/// if (auto held = lock.still_held(); !held || !*held) { ... stop leading ... }
/// ```
class leader_lock {
public:
  explicit leader_lock(leader_lock_options options);

  /// Tries to take the lock (connecting first when needed). True: this side leads now and its
  /// address is recorded; false: another session holds it. While already leading it only checks
  /// like `still_held`.
  [[nodiscard]] caf::expected<bool> try_acquire();

  /// Checks with one round trip that the connection (and so the lock) is still there. False or
  /// an error means leadership is lost; the connection is then closed.
  [[nodiscard]] caf::expected<bool> still_held();

  /// Releases the lock by closing the connection (the server drops session locks with it).
  void release() noexcept;

  /// Whether this side believes it leads (the last acquire or check said so).
  [[nodiscard]] bool held() const noexcept { return held_; }

  /// The dedicated connection while leading, for writes that must only succeed while the lock
  /// is held (the admin state); null otherwise.
  [[nodiscard]] PGconn* connection() const noexcept { return held_ ? conn_.get() : nullptr; }

  /// The backend pid of the dedicated connection (0 without one), for tests and logs.
  [[nodiscard]] int backend_pid() const noexcept;

  /// The options in use.
  [[nodiscard]] const leader_lock_options& options() const noexcept { return options_; }

  /// Reads the recorded leader address on the dedicated connection (connecting first when
  /// needed): what a standby tells nodes that ask it.
  [[nodiscard]] caf::expected<std::string> current_leader();

  /// Reads the leader's recorded address ("" when no coordinator has led yet) on `conn`.
  [[nodiscard]] static caf::expected<std::string> read_leader_address(PGconn* conn);

  /// Reads the leader's recorded address on a connection of its own (opened and closed here).
  [[nodiscard]] static caf::expected<std::string>
  read_leader_address(const std::string& conninfo);

private:
  leader_lock_options options_;
  persistence::internal::pg_conn_ptr conn_;
  bool held_ = false;
};

} // namespace callgrid::cluster
