#pragma once

// The message vocabulary between the engine's actors on one node: plain structs, each with
// operator== (CAF's test DSL compares with it). They carry pointers to frames and sockets, so
// they are local-only (CAF_ALLOW_UNSAFE_MESSAGE_TYPE); the cluster's remote messages (issue 6)
// get a type-ID block and serialization of their own.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "persistence/call_record.hpp"

namespace callgrid::esl {
class frame;
class outbound_session;
} // namespace callgrid::esl

namespace callgrid::actors {

/// One ESL event (or outbound disconnect notice) for a call actor or the node supervisor.
/// Frames are immutable and shared; the Asio thread creates them.
struct esl_event {
  std::shared_ptr<const esl::frame> frame;
  friend bool operator==(const esl_event& a, const esl_event& b) { return a.frame == b.frame; }
};

/// The events of one read on the inbound link, in order, for the node supervisor (one message
/// per read instead of one per event: `event_batcher`).
struct esl_events {
  std::vector<std::shared_ptr<const esl::frame>> frames;
  friend bool operator==(const esl_events& a, const esl_events& b) { return a.frames == b.frames; }
};

/// A call's timer expired (the id the call's IVR chose). `serial` says which of the calls its
/// (pooled) call actor hosted armed it; an expiry from an earlier call is ignored.
struct call_timer {
  uint64_t id = 0;
  uint64_t serial = 0;
  friend bool operator==(const call_timer&, const call_timer&) = default;
};

/// The answer of a hot-data lookup for a call.
struct lookup_answer {
  uint64_t id = 0;
  std::optional<std::string> value;
  bool timed_out = false;
  /// As `call_timer::serial`: which hosted call asked.
  uint64_t serial = 0;
  friend bool operator==(const lookup_answer&, const lookup_answer&) = default;
};

/// The supervisor ends a call: hang it up with `cause` (when `hang_up`) and close its record
/// with `reason` (drain deadline, node lost, shutdown).
struct end_call {
  persistence::end_reason reason = persistence::end_reason::normal;
  std::string cause;
  bool hang_up = true;
  friend bool operator==(const end_call&, const end_call&) = default;
};

/// The inbound ESL link is back; the call's channel is still listed by FreeSWITCH.
struct link_restored {
  friend bool operator==(const link_restored&, const link_restored&) = default;
};

/// FreeSWITCH's `socket` application connected and finished the handshake.
struct outbound_call {
  std::shared_ptr<esl::outbound_session> session;
  friend bool operator==(const outbound_call& a, const outbound_call& b) {
    return a.session == b.session;
  }
};

/// The inbound ESL link changed state (from the Asio thread).
struct link_status {
  bool ready = false;
  std::string why;
  friend bool operator==(const link_status&, const link_status&) = default;
};

/// The output of `show channels as json` after the link became ready (recovery).
struct channel_listing {
  std::string json;
  bool failed = false;
  friend bool operator==(const channel_listing&, const channel_listing&) = default;
};

/// A call record for the record writer.
struct record_message {
  persistence::call_record record;
  friend bool operator==(const record_message&, const record_message&) = default;
};

/// The record writer to itself: the append interval of the group it opened is over.
struct append_group_due {
  friend bool operator==(const append_group_due&, const append_group_due&) = default;
};


/// Where a node is in its drain (design.md section 6): `draining` while calls finish,
/// `flushing` while the record spool is shipped, `drained` when both are done.
enum class drain_phase : uint8_t { none, draining, flushing, drained };

/// The words of `drain_phase` as reported in metrics and the admin API, e.g. "draining".
[[nodiscard]] inline const char* to_string(drain_phase phase) noexcept {
  switch (phase) {
    case drain_phase::none: return "none";
    case drain_phase::draining: return "draining";
    case drain_phase::flushing: return "flushing";
    case drain_phase::drained: return "drained";
  }
  return "none";
}

/// Ask the node supervisor for the node's load; the reply is a `node_load`.
struct load_query {
  friend bool operator==(const load_query&, const load_query&) = default;
};

/// The node supervisor's load report: what the cluster's heartbeat carries.
struct node_load {
  int32_t live_calls = 0;
  int64_t calls_total = 0;
  int32_t capacity = 0;
  /// The inbound ESL link is authenticated and subscribed.
  bool esl_ready = false;
  /// FreeSWITCH answers and is not shutting down (a HEARTBEAT or a reply was seen lately).
  bool freeswitch_ready = false;
  /// The last HEARTBEAT's Session-Count, Max-Sessions and Idle-CPU (0 before the first).
  int32_t session_count = 0;
  int32_t max_sessions = 0;
  double idle_cpu = 0;
  drain_phase phase = drain_phase::none;
  /// Calls ended with SYSTEM_SHUTDOWN because the drain deadline passed.
  int32_t hung_up_at_deadline = 0;
  /// Call records not yet committed to PostgreSQL.
  int32_t spool_depth = 0;
  friend bool operator==(const node_load&, const node_load&) = default;
};

/// Drain this node: `fsctl pause inbound`, no new originations, let calls finish; at
/// `deadline_unix_ms` (0 = no deadline) end the rest with SYSTEM_SHUTDOWN, then flush the
/// record spool. Progress shows in `node_load`. Sending it again replaces the deadline.
struct start_drain {
  int64_t deadline_unix_ms = 0;
  std::string reason;
  friend bool operator==(const start_drain&, const start_drain&) = default;
};

/// Stop draining: `fsctl resume` and accept calls again (no effect when not draining).
struct cancel_drain {
  friend bool operator==(const cancel_drain&, const cancel_drain&) = default;
};

/// New values of the node settings a running supervisor takes (a SIGHUP changed them):
/// `node.capacity` (load reports, refusals, the idle actor pool), `node.park_timeout` (new
/// originations) and `node.answer_timeout` (new calls' bridges, new originations' default).
struct node_settings_update {
  int32_t capacity = 0;
  std::chrono::seconds park_timeout{30};
  std::chrono::seconds answer_timeout{60};
  friend bool operator==(const node_settings_update&, const node_settings_update&) = default;
};

/// Ask the node supervisor to place an outbound call (`bgapi originate`). The channel runs
/// `route_number`'s route (looked up in the route table as an inbound call to that number
/// would be) or the flow named `flow_name` once it answers; exactly one of the two is given.
/// The reply is an `originate_reply`, or an `errc` error: `invalid_request`, `node_draining`,
/// `esl_not_ready` or `at_capacity`.
struct originate_request {
  /// FreeSWITCH dial string, e.g. "sofia/gateway/carrier/4930123" or "loopback/5000".
  std::string destination;
  std::string caller_id_name;
  std::string caller_id_number;
  /// A destination number whose route the answered call runs ("" when `flow_name` is given).
  std::string route_number;
  /// The name of a flow in the catalog the answered call runs ("" when `route_number` is).
  std::string flow_name;
  /// Channel variables set on the new channel (name, value).
  std::vector<std::pair<std::string, std::string>> variables;
  /// How long the far end may ring, in seconds (`originate_timeout`); 0: the node's
  /// `node.answer_timeout`.
  int32_t timeout_seconds = 0;
  /// The campaign the attempt belongs to ("" for a call placed by an operator).
  std::string campaign;
  friend bool operator==(const originate_request&, const originate_request&) = default;
};

/// The node supervisor accepted an `originate_request`: the new channel's UUID (sent as
/// `origination_uuid`) and the Job-UUID of the `bgapi originate` whose result decides it.
struct originate_reply {
  std::string uuid;
  std::string job_uuid;
  friend bool operator==(const originate_reply&, const originate_reply&) = default;
};

} // namespace callgrid::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::esl_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::esl_events)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::call_timer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::lookup_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::end_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::link_restored)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::outbound_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::link_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::channel_listing)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::record_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::append_group_due)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::load_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::node_load)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::start_drain)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::cancel_drain)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::node_settings_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::originate_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::originate_reply)
