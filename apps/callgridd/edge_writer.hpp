#pragma once

#include <caf/fwd.hpp>

#include "cluster/registry_actor.hpp"
#include "config/daemon_config.hpp"

namespace callgrid::actors {
class metrics_registry;
} // namespace callgrid::actors

namespace callgrid::daemon {

/// Spawns the coordinator's edge writer: it receives every dispatcher set the registry derives,
/// writes it as Kamailio's dispatcher list (atomically), tells Kamailio at once with
/// `dispatcher.set_state`, and sends the coalesced `dispatcher.reload` when Kamailio's rate limit
/// allows (then checks `dispatcher.list`). A detached actor: the file and RPC work blocks for at
/// most the RPC budget. Kamailio being down is logged and counted, never fatal: the file is
/// written anyway and Kamailio starts from it (fail-static, docs/edge.md).
[[nodiscard]] cluster::dispatcher_sink_actor
spawn_edge_writer(caf::actor_system& system, const config::edge_settings& edge,
                  actors::metrics_registry& metrics);

} // namespace callgrid::daemon
