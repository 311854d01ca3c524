#pragma once

// The registry's admin interface: the requests the lead's HTTP API sends to the registry actor
// (`registry_actor.hpp`) and the member view it answers `list_members` with. Plain values
// without CAF; their `inspect` overloads and type IDs are in `cluster/wire.hpp`.
//
// ```cpp
// self->request(registry, 5s, cluster::request_drain{.node = "fs-2", .deadline_unix_ms = t,
//                                                      .reason = "kernel update", .who = "ops"})
//   .then([](caf::ok_atom) { ... },
//         [](const caf::error& err) { reply(409, cluster::render_error(err)); });
// self->request(registry, 5s, cluster::list_members{})
//   .then([](const std::vector<cluster::member_view>& members) {
//     nlohmann::json doc = members;   // -o json
//   });
// ```

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace callgrid::cluster {

/// What the registry says a member is (design.md §6): `joining → active ⇄ draining → drained →
/// left`, with `suspect` and `down` from the failure detector shown instead of the lifecycle
/// while the heartbeats are missing.
enum class member_state : uint8_t { joining, active, suspect, draining, drained, down, left };

/// The word of `state`, e.g. "draining". Never fails.
[[nodiscard]] const char* to_string(member_state state) noexcept;

/// Where a node says it is in its drain; mirrors `actors::drain_phase` (the node supervisor's
/// view), kept separate so that this header needs nothing of the engine.
enum class drain_phase : uint8_t { none, draining, flushing, drained };

/// The word of `phase`, e.g. "flushing". Never fails.
[[nodiscard]] const char* to_string(drain_phase phase) noexcept;

/// Lists every member the registry knows; the reply is `std::vector<member_view>` ordered by
/// node id.
struct list_members {
  friend bool operator==(const list_members&, const list_members&) = default;
};

/// Drains `node`: the edge stops sending it calls at once and the node is told to let its calls
/// finish. `deadline_unix_ms` is the wall-clock time (ms since the epoch) at which the node hangs
/// up what is left (0 = no deadline); `force` means "hang up now" and overrides the deadline.
/// Sending it again for a draining node replaces the deadline. Refused with `unknown_node`,
/// `already_drained` or `invalid_request` (empty `who`, negative deadline).
struct request_drain {
  std::string node;
  int64_t deadline_unix_ms = 0;
  bool force = false;
  std::string reason;
  std::string who;
  friend bool operator==(const request_drain&, const request_drain&) = default;
};

/// Cancels the drain of `node`: the node accepts calls again once it is healthy. Refused with
/// `unknown_node` or `not_draining`.
struct cancel_drain {
  std::string node;
  std::string reason;
  std::string who;
  friend bool operator==(const cancel_drain&, const cancel_drain&) = default;
};

/// Makes `node` eligible for new calls or not (admin-disabled at the edge; calls in progress
/// continue). Persisted like a drain. Refused with `unknown_node`.
struct set_eligibility {
  std::string node;
  bool eligible = true;
  std::string reason;
  std::string who;
  friend bool operator==(const set_eligibility&, const set_eligibility&) = default;
};

/// Removes `node` from the member table (and the dispatcher sets). Only for `down` or `left`
/// members unless `force`; refused with `member_alive` or `unknown_node`. The node's persisted
/// admin state stays, so a node that comes back under that name keeps it.
struct force_leave {
  std::string node;
  bool force = false;
  std::string reason;
  std::string who;
  friend bool operator==(const force_leave&, const force_leave&) = default;
};

/// One row of `node list`: what the registry knows about a member now. Plain value.
struct member_view {
  std::string node;
  std::string sip_uri;
  /// callgridd's version as the node reported it at join.
  std::string version;
  member_state state = member_state::joining;
  /// Admin eligibility (false = admin-disabled at the edge).
  bool eligible = true;
  /// An operator asked for a drain (persisted).
  bool drain_requested = false;
  /// The drain deadline, ms since the epoch; 0 = none.
  int64_t drain_deadline_unix_ms = 0;
  /// The node's own drain progress from its last heartbeat.
  drain_phase phase = drain_phase::none;
  int32_t live_calls = 0;
  int32_t capacity = 0;
  /// live_calls / capacity (0 when the capacity is 0).
  double load = 0;
  /// FreeSWITCH's idle CPU share in percent from the node's last heartbeat.
  double idle_cpu = 0;
  /// Call records the node has not yet stored in PostgreSQL.
  int32_t spool_depth = 0;
  /// Calls the node hung up at the drain deadline.
  int32_t hung_up_at_deadline = 0;
  /// The last admin reason (drain or eligibility) and who gave it.
  std::string reason;
  std::string changed_by;
  /// Milliseconds since the last heartbeat (or the join).
  int64_t last_heartbeat_age_ms = 0;
  friend bool operator==(const member_view&, const member_view&) = default;
};

/// Renders `view` as a JSON object for `-o json`: keys as the field names, `state` and `phase`
/// as words, the deadline as `null` when there is none.
void to_json(nlohmann::json& out, const member_view& view);

} // namespace callgrid::cluster
