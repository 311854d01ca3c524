#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "cluster/admin.hpp"
#include "cluster/dispatcher_view.hpp"
#include "cluster/leader_lock.hpp"
#include "cluster/membership.hpp"
#include "cluster/wire.hpp"

namespace callgrid::actors {
class metrics_registry;
} // namespace callgrid::actors

namespace callgrid::cluster {

/// The part of the registry that nodes reach over the network (published on a TCP port): join,
/// heartbeat, leave. Every request fails with `not_leader` (context: the leader's address when
/// known) on a coordinator that does not lead; a new leader restores the admin state before it
/// serves anything.
using registry_endpoint_actor
  = caf::typed_actor<caf::replies_to<join_request>::with<join_reply>,
                     caf::replies_to<heartbeat>::with<caf::ok_atom>,
                     caf::replies_to<leave_request>::with<caf::ok_atom>>;

/// The node side's endpoint (the membership client) that the registry sends commands to.
using node_endpoint_actor = caf::typed_actor<caf::replies_to<node_command>::with<caf::ok_atom>>;

/// Receives every new dispatcher set (the kamailio component's writer on the coordinator).
using dispatcher_sink_actor = caf::typed_actor<caf::reacts_to<dispatcher_view>>;

/// The leader elector: takes and holds the leader lock and writes the admin state on the lock's
/// connection (so only the leader writes). Replies `ok` once a row is committed, or the error.
using leader_elector_actor
  = caf::typed_actor<caf::replies_to<persist_node>::with<caf::ok_atom>,
                     caf::reacts_to<caf::tick_atom>>;

/// From the leader elector to the registry: leadership was taken (with the admin state read
/// right after taking the lock) or lost. Local only.
struct leadership {
  bool leading = false;
  /// The leader's address as recorded in PostgreSQL ("" when unknown).
  std::string leader_address;
  /// The admin state of every node, read under the lock (only when `leading`).
  std::vector<admin_state> admin;
  /// Where to persist admin changes while leading.
  leader_elector_actor elector;
  friend bool operator==(const leadership&, const leadership&) = default;
};

/// The coordinator's cluster registry (design.md §6): owns a `membership` table and executes its
/// effects — commands to nodes (through the handle each node joined from), admin state to the
/// leader elector, the dispatcher set to `dispatcher`, log lines to spdlog, metrics. Runs the
/// failure detector every `tick_interval`. Serves the admin requests of `admin.hpp`; a mutating
/// admin request is answered once its row is committed (or with the database error; the change
/// then holds in memory only until the next leader change). An event-based actor: it never
/// blocks (PostgreSQL is the elector's business).
using registry_actor = registry_endpoint_actor::extend<
  caf::replies_to<list_members>::with<std::vector<member_view>>,
  caf::replies_to<request_drain>::with<caf::ok_atom>,
  caf::replies_to<cancel_drain>::with<caf::ok_atom>,
  caf::replies_to<set_eligibility>::with<caf::ok_atom>,
  caf::replies_to<force_leave>::with<caf::ok_atom>,
  caf::replies_to<caf::get_atom>::with<dispatcher_view>, caf::reacts_to<leadership>,
  caf::reacts_to<caf::tick_atom>>;

/// How the registry runs. Plain value.
struct registry_options {
  membership_settings settings;
  /// How often the failure detector runs; bounds how late a transition is seen.
  std::chrono::milliseconds tick_interval{250};
  /// Commands to nodes and admin persistence give up after this long.
  std::chrono::milliseconds request_timeout{5000};
  /// This coordinator's advertised address ("host:port"), told to joining nodes.
  std::string address;
  /// Lead from the start without a leader lock or a database (one coordinator, tests): admin
  /// state starts empty and is not persisted.
  bool lead_without_lock = false;
  /// Receives the dispatcher set at start and after every change; may be null.
  dispatcher_sink_actor dispatcher;
  /// Where the registry's metrics go; may be null.
  actors::metrics_registry* metrics = nullptr;
};

/// Spawns the registry (event-based). It does not lead until a `leadership` message says so
/// (unless `lead_without_lock`).
[[nodiscard]] registry_actor spawn_registry(caf::actor_system& system, registry_options options);

/// Publishes the registry's network part on `port` (0 = any free port) at `host` ("" = every
/// address) through CAF's io middleman (it must be loaded), or with `tls` through CAF's OpenSSL
/// module (`configure_link_tls`, link_tls.hpp): then only peers whose certificate chains to the
/// configured CA get through the handshake. Blocking; call it at start-up. Returns the bound
/// port, or the middleman's error.
[[nodiscard]] caf::expected<uint16_t> publish_registry(caf::actor_system& system,
                                                       const registry_actor& registry,
                                                       uint16_t port, const std::string& host,
                                                       bool tls = false);

/// How the leader elector competes and how often it looks.
struct leader_elector_options {
  /// Connection, lock key, advertised address and name (`leader_lock.hpp`).
  std::string conninfo;
  int64_t lock_key = default_leader_lock_key;
  std::string address;
  std::string holder;
  /// A standby tries to take the lock this often: the failover bound is about this plus the
  /// time PostgreSQL needs to notice that the old leader's session is gone.
  std::chrono::milliseconds retry_interval{1000};
  /// The leader checks its connection this often (one `SELECT 1`).
  std::chrono::milliseconds check_interval{500};
  /// Told about every change of leadership.
  registry_actor registry;
};

/// Spawns the leader elector as a detached actor (it blocks on libpq) and starts competing at
/// once. Leadership changes go to `options.registry` as `leadership` messages.
[[nodiscard]] leader_elector_actor spawn_leader_elector(caf::actor_system& system,
                                                        leader_elector_options options);

} // namespace callgrid::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::cluster::leadership)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::cluster::persist_node)
