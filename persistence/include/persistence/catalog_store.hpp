#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_snapshot.hpp"

namespace callgrid::persistence {

/// What `catalog_store::import_flow` did.
struct flow_import_result {
  /// The flow's id: the existing one for a known name, a new one (max + 1) otherwise.
  int64_t flow_id = 0;
  /// The version now current: new when `created`, the unchanged latest otherwise.
  int32_t version = 0;
  /// Whether a new version (or a new flow) was written.
  bool created = false;

  friend bool operator==(const flow_import_result&, const flow_import_result&) = default;
};

/// What an upsert did: the row's id and version after it, and whether it was inserted.
struct catalog_upsert_result {
  int64_t id = 0;
  int64_t version = 0;
  bool created = false;

  friend bool operator==(const catalog_upsert_result&, const catalog_upsert_result&) = default;
};

/// The write side of the catalog: what `callgridctl flow import` and `callgridctl route import`
/// run. Every function runs one transaction on the caller's connection and leaves it idle; the
/// tables' NOTIFY triggers then tell every catalog watcher, which reload within the refresh
/// bound (docs/catalog.md).
///
/// Stateless and blocking: call from a tool, a detached actor or a pooled worker, never from the
/// call path. `conn` must be open with no transaction in progress. Failures are values:
/// `db_unavailable` when the connection is down, `db_query_failed` when the server refuses
/// (invalid JSON, a CHECK such as an action without its target, an invalid caller regex); the
/// context names the step and the object and holds the server's message. A failed call changes
/// nothing.
///
/// ```cpp
/// auto imported = catalog_store::import_flow(conn, "main-menu", json_text);
/// if (!imported) return fail(render_error(imported.error()));
/// catalog_route route{.name = "support", .match_prefix = "+4930800",
///                     .flow_id = imported->flow_id};
/// auto written = catalog_store::upsert_route(conn, route);
/// ```
class catalog_store {
public:
  /// Stores `document_json` as the flow `name`: a flow of that name gets a new version only when
  /// the document differs from its latest version as JSON (key order and white space do not
  /// count); a new name gets a new flow_id. Concurrent imports are serialised by a
  /// transaction-scoped advisory lock. Fails with `db_query_failed` for text that is not JSON.
  [[nodiscard]] static caf::expected<flow_import_result>
  import_flow(PGconn* conn, std::string_view name, std::string_view document_json);

  /// Inserts the route `route.name` or replaces all its columns (except `id`); the stored row
  /// `version` is bumped on every update (`route.id` and `route.version` are ignored). Fails
  /// with `db_query_failed` when a CHECK refuses the row.
  [[nodiscard]] static caf::expected<catalog_upsert_result>
  upsert_route(PGconn* conn, const catalog_route& route);

  /// Deletes the route `name`; returns whether it existed.
  [[nodiscard]] static caf::expected<bool> delete_route(PGconn* conn, std::string_view name);

  /// Inserts the prompt (`name`, `language`) or replaces its `uri` and `sha256`. `version` in
  /// the result is always 1 (prompts carry none).
  [[nodiscard]] static caf::expected<catalog_upsert_result>
  upsert_prompt(PGconn* conn, const catalog_prompt& prompt);

  /// Renders `windows` as the JSON that `routes.time_windows` holds; "" for an empty list (the
  /// column is then NULL). Pure.
  [[nodiscard]] static std::string time_windows_json(const std::vector<time_window>& windows);
};

} // namespace callgrid::persistence
