#pragma once

// The cluster's message vocabulary for CAF: `inspect` overloads for every message the registry,
// the membership client and the leader elector exchange, and one type-ID block for all of them.
// Register the block with `register_types(cfg)` in every process that takes part (coordinator
// and node): an unregistered type crosses the network as 0 bytes with no error
// (platform-notes.md).
//
// ```cpp
// caf::actor_system_config cfg;
// cfg.load<caf::io::middleman>();
// callgrid::cluster::register_types(cfg);
// caf::actor_system system{cfg};
// ```

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "cluster/admin.hpp"
#include "cluster/dispatcher_view.hpp"
#include "cluster/membership.hpp"

namespace callgrid::cluster {

/// The registry's answer to a join: who accepted it and how often to send heartbeats.
struct join_reply {
  /// The accepting coordinator's advertised address ("host:port").
  std::string coordinator;
  int64_t heartbeat_interval_ms = 1000;
  friend bool operator==(const join_reply&, const join_reply&) = default;
};

/// CAF serialization of `load_report`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_report& x) {
  return f(caf::meta::type_name("load_report"), x.live_calls, x.calls_total, x.capacity,
           x.esl_ready, x.freeswitch_ready, x.session_count, x.max_sessions, x.idle_cpu, x.phase,
           x.hung_up_at_deadline, x.spool_depth);
}

/// CAF serialization of `join_request`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("join_request"), x.node, x.sip_uri, x.capacity, x.version,
           x.incarnation, x.load);
}

/// CAF serialization of `join_reply`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_reply& x) {
  return f(caf::meta::type_name("join_reply"), x.coordinator, x.heartbeat_interval_ms);
}

/// CAF serialization of `heartbeat`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat& x) {
  return f(caf::meta::type_name("heartbeat"), x.node, x.incarnation, x.load);
}

/// CAF serialization of `leave_request`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leave_request& x) {
  return f(caf::meta::type_name("leave_request"), x.node, x.incarnation);
}

/// CAF serialization of `node_command`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_command& x) {
  return f(caf::meta::type_name("node_command"), x.kind, x.deadline_unix_ms, x.reason);
}

/// CAF serialization of `admin_state`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, admin_state& x) {
  return f(caf::meta::type_name("admin_state"), x.node, x.eligible, x.drain_requested,
           x.drain_reason, x.drain_deadline_unix_ms, x.reason, x.changed_by);
}

/// CAF serialization of `list_members`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_members&) {
  return f(caf::meta::type_name("list_members"));
}

/// CAF serialization of `request_drain`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_drain& x) {
  return f(caf::meta::type_name("request_drain"), x.node, x.deadline_unix_ms, x.force, x.reason,
           x.who);
}

/// CAF serialization of `cancel_drain`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_drain& x) {
  return f(caf::meta::type_name("cancel_drain"), x.node, x.reason, x.who);
}

/// CAF serialization of `set_eligibility`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, set_eligibility& x) {
  return f(caf::meta::type_name("set_eligibility"), x.node, x.eligible, x.reason, x.who);
}

/// CAF serialization of `force_leave`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, force_leave& x) {
  return f(caf::meta::type_name("force_leave"), x.node, x.force, x.reason, x.who);
}

/// CAF serialization of `member_view`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_view& x) {
  return f(caf::meta::type_name("member_view"), x.node, x.sip_uri, x.version, x.state, x.eligible,
           x.drain_requested, x.drain_deadline_unix_ms, x.phase, x.live_calls, x.capacity, x.load,
           x.idle_cpu, x.spool_depth, x.hung_up_at_deadline, x.reason, x.changed_by,
           x.last_heartbeat_age_ms);
}

/// CAF serialization of `dispatcher_entry`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatcher_entry& x) {
  return f(caf::meta::type_name("dispatcher_entry"), x.node, x.sip_uri, x.capacity, x.weight,
           x.state, x.why);
}

/// CAF serialization of `dispatcher_view`: every field in declaration order.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispatcher_view& x) {
  return f(caf::meta::type_name("dispatcher_view"), x.entries);
}

/// Registers the cluster's type-ID block and the "cluster" error category with `cfg`. Call it
/// before the actor system is built, in coordinators and nodes alike.
void register_types(caf::actor_system_config& cfg);

} // namespace callgrid::cluster

// Offset 100 past CAF's first custom ID leaves room for a block of the engine's own.
CAF_BEGIN_TYPE_ID_BLOCK(callgrid_cluster, caf::first_custom_type_id + 100)
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::load_report))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::join_request))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::join_reply))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::heartbeat))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::leave_request))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::node_command))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::admin_state))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::list_members))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::request_drain))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::cancel_drain))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::set_eligibility))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::force_leave))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::member_view))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::dispatcher_entry))
  CAF_ADD_TYPE_ID(callgrid_cluster, (callgrid::cluster::dispatcher_view))
CAF_END_TYPE_ID_BLOCK(callgrid_cluster)
