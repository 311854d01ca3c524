#pragma once

#include <caf/expected.hpp>

#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_snapshot.hpp"

namespace callgrid::persistence {

/// Reads the catalog (enabled routes with their time windows, the highest version of every IVR
/// flow, prompts, campaigns) from `conn` in one `REPEATABLE READ READ ONLY` transaction, so the
/// snapshot is consistent even while writers commit. `generation` is 0 (the watcher numbers
/// what it publishes); `loaded_at` is this host's clock when the read began.
///
/// Blocking: runs on the caller's thread, which must be the catalog watcher's own thread, a
/// detached actor or a tool, never the call path. `conn` must be an open connection with no
/// transaction in progress, schema at version 4 or later; it is left idle (committed or rolled
/// back). Fails with `db_unavailable` when the connection is or goes down, `db_query_failed`
/// when a statement fails (e.g. an older schema) or a value cannot be read; the context names
/// the step and holds the server's message.
///
/// ```cpp
/// auto snapshot = load_catalog(conn);           // caf::expected<catalog_snapshot>
/// if (!snapshot) return log(render_error(snapshot.error()));
/// auto* flow = snapshot->find_flow(route.flow_id.value());
/// ```
[[nodiscard]] caf::expected<catalog_snapshot> load_catalog(PGconn* conn);

} // namespace callgrid::persistence
