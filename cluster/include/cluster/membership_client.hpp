#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"
#include "cluster/registry_actor.hpp"

namespace callgrid::cluster {

/// The part of the node supervisor (actors/messages.hpp) the membership client uses: its load
/// report for every heartbeat, and the drain commands it forwards. The daemon passes its
/// supervisor cast to this handle.
using node_load_source_actor
  = caf::typed_actor<caf::replies_to<actors::load_query>::with<actors::node_load>,
                     caf::reacts_to<actors::start_drain>, caf::reacts_to<actors::cancel_drain>>;

/// What the membership client is doing, for health checks and tests.
struct membership_client_status {
  /// Joined to a coordinator that leads.
  bool joined = false;
  /// The coordinator's address ("host:port"); "" when not joined.
  std::string coordinator;
  /// Successful joins since start (a rejoin after a leader change counts).
  uint64_t joins = 0;
  /// Heartbeats the registry acknowledged.
  uint64_t heartbeats = 0;
  /// Commands received from the registry.
  uint64_t commands = 0;
  friend bool operator==(const membership_client_status&,
                         const membership_client_status&) = default;
};

/// The node side of the cluster (design.md §6): finds the leading coordinator, joins it with the
/// node's identity, SIP URI, capacity and version, sends a heartbeat built from the node
/// supervisor's `node_load` about once a second, follows a new leader when the connection drops
/// or the coordinator answers `not_leader`, and forwards the registry's `start_drain` /
/// `cancel_drain` to the supervisor. `leave_atom` tells the registry the node leaves (at
/// shutdown, after the drain); the reply comes once the registry acknowledged it or gave up.
///
/// A detached actor (its own thread): looking up the leader's address in PostgreSQL blocks on
/// libpq. Never fails: while no coordinator is reachable it retries every `retry_interval` and
/// logs once per change of the problem.
using membership_client_actor = node_endpoint_actor::extend<
  caf::replies_to<caf::get_atom>::with<membership_client_status>,
  caf::replies_to<caf::leave_atom>::with<caf::ok_atom>, caf::reacts_to<caf::tick_atom>,
  caf::reacts_to<caf::connect_atom>>;

/// Who the node is and where to look for the leader. Plain value.
struct membership_client_options {
  std::string node;
  std::string sip_uri;
  int32_t capacity = 0;
  std::string version;
  /// Chosen at start so that the registry can tell a restart; 0 = the start time in ms.
  uint64_t incarnation = 0;
  /// Coordinator addresses ("host:port") tried in order after the recorded leader.
  std::vector<std::string> coordinators;
  /// When set, the leader's recorded address (`cluster_leader`) is tried first.
  std::string conninfo;
  /// Connect through CAF's OpenSSL module (`configure_link_tls`, link_tls.hpp) instead of plain
  /// TCP: the coordinator must present a certificate that chains to the configured CA.
  bool tls = false;
  /// Until the registry says otherwise at join.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// Pause between rounds over every candidate address.
  std::chrono::milliseconds retry_interval{1000};
  /// Bound for each connect, join, heartbeat and load query.
  std::chrono::milliseconds request_timeout{2000};
  /// The node supervisor (its load and the drain commands).
  node_load_source_actor supervisor;
};

/// Converts the supervisor's report into the heartbeat's load report. Pure.
[[nodiscard]] load_report to_load_report(const actors::node_load& load);

/// Spawns the client (detached); it starts looking for the leader at once.
[[nodiscard]] membership_client_actor spawn_membership_client(caf::actor_system& system,
                                                              membership_client_options options);

} // namespace callgrid::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::cluster::membership_client_status)
