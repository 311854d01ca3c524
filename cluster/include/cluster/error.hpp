#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include "cluster/errc.hpp"

CAF_ERROR_CODE_ENUM(callgrid::cluster::errc, "cluster")

namespace callgrid::cluster {

/// Returns a `caf::error` of category "cluster" with `context` as its one context string.
[[nodiscard]] caf::error make_cluster_error(errc code, std::string context);

/// Renders an error for humans: cluster errors as "cluster.unknown_node: <context>",
/// persistence errors by their renderer, others by CAF. Never fails.
[[nodiscard]] std::string render_error(const caf::error& err);

/// Registers the renderer of category "cluster" with an actor system config, so that CAF's own
/// logs and `to_string` print cluster errors by name.
void add_error_category(caf::actor_system_config& cfg);

} // namespace callgrid::cluster
