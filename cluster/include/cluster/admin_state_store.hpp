#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "cluster/membership.hpp"
#include "persistence/catalog_libpq.hpp"

namespace callgrid::cluster {

/// One row of the admin audit log (`node_admin_actions`).
struct admin_action_record {
  admin_action action;
  /// When it was written, ms since the epoch.
  int64_t at_unix_ms = 0;
  friend bool operator==(const admin_action_record&, const admin_action_record&) = default;
};

/// Loads and saves the persisted admin state of the nodes (`nodes`: eligible, drain_requested,
/// drain_reason, drain_deadline, admin_reason, admin_changed_by) and the audit log of admin
/// actions (`node_admin_actions`, migration 0005). Stateless: every function works on the
/// connection it is given — a `persistence::connection_pool` lease, or the leader lock's own
/// connection, so that only the lock holder can write.
///
/// Blocking (libpq): call it from a detached actor or a thread of its own, never from an
/// event-based actor. Failures are values: `db_unavailable` when the connection is gone,
/// `db_query_failed` when a statement fails (persistence's errc, category "db").
///
/// ```cpp
/// auto lease = pool.acquire(2s);
/// auto states = admin_state_store::load(lease->get());        // at start, for restore()
/// if (auto err = admin_state_store::save(lease->get(), row))   // a persist_node effect
///   log(render_error(err));
/// ```
class admin_state_store {
public:
  /// Every node's admin state, ordered by node id.
  [[nodiscard]] static caf::expected<std::vector<admin_state>> load(PGconn* conn);

  /// Writes `row` in one transaction: inserts or updates the node (SIP URI, capacity, every admin
  /// field, `version` + 1, `updated_at`) and appends `row.action` to the audit log when set.
  [[nodiscard]] static caf::error save(PGconn* conn, const persist_node& row);

  /// The newest `limit` audit entries for `node` (every node when empty), newest first.
  [[nodiscard]] static caf::expected<std::vector<admin_action_record>>
  audit_log(PGconn* conn, const std::string& node, std::size_t limit = 100);
};

} // namespace callgrid::cluster
