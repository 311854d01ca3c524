#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/route_table.hpp"

namespace callgrid::ivr {
class flow;
} // namespace callgrid::ivr

namespace callgrid::persistence {
struct catalog_snapshot;
} // namespace callgrid::persistence

namespace callgrid::actors {

/// What the engine routes with: the route table and the loaded flows by id. Immutable and
/// shared by the node supervisor and its calls; a catalog change builds a new one.
struct engine_catalog {
  std::shared_ptr<const route_table> routes;
  std::map<int64_t, std::shared_ptr<const ivr::flow>> flows;
  /// Flow names by id, for logs and metrics labels.
  std::map<int64_t, std::string> flow_names;
  /// The catalog generation it was built from.
  uint64_t generation = 0;
};

/// Builds the engine's catalog from a catalog snapshot: parses and validates every flow
/// document (prompt names checked against the snapshot's prompts), loads the time zones of the
/// routes' windows, compiles the caller patterns. A catalog prompt a flow names plays the row in
/// the flow's own `language`, else in `prompt_language` (`ivr.default_language`), else in the
/// alphabetically first language. Pure apart from reading zoneinfo files; runs
/// on the catalog watcher's thread. What cannot be used (a flow with errors, a route with a bad
/// pattern or zone) is left out and described in `problems`, one line each; a route whose flow
/// was left out stays, and its calls are rejected with SERVICE_UNAVAILABLE.
[[nodiscard]] std::shared_ptr<const engine_catalog>
build_engine_catalog(const persistence::catalog_snapshot& snapshot,
                     std::string_view prompt_language, std::vector<std::string>& problems);

} // namespace callgrid::actors
