#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/call_state.hpp"
#include "actors/messages.hpp"
#include "actors/record_writer.hpp"

namespace callgrid::actors {

class channel_link;
class metrics_registry;

/// A pooled call actor takes its next call: what `spawn_call_actor` gets, as a message.
struct host_call {
  call_setup setup;
  std::shared_ptr<channel_link> link;
  friend bool operator==(const host_call& a, const host_call& b) {
    return a.setup.uuid == b.setup.uuid && a.link == b.link;
  }
};

/// One call leg (design.md §3): receives its channel's events, timers and lookup answers, runs
/// `call_state`, sends the resulting commands over its `channel_link`, and when the leg is over
/// hands exactly one record to the record writer. Then it exits, or, when its context has an
/// `on_finished`, reports `call_finished` and waits idle for its next `host_call` (the node
/// supervisor pools its inbound call actors: spawning and ending an actor per call cost more
/// than the call's own logic). While idle, and for messages of an earlier call, it ignores
/// everything else. `end_call` from the supervisor ends a call early (drain deadline, node
/// lost, shutdown). An exception inside the call's logic hangs the channel up
/// (NORMAL_TEMPORARY_FAILURE), still writes the record, and ends the actor (never pooled);
/// other calls are not touched.
using call_actor = caf::typed_actor<caf::reacts_to<esl_event>, caf::reacts_to<call_timer>,
                                    caf::reacts_to<lookup_answer>, caf::reacts_to<end_call>,
                                    caf::reacts_to<link_restored>, caf::reacts_to<host_call>>;

/// A call actor's call is over and its record sent; the actor is idle now.
struct call_finished {
  std::string uuid;
  call_actor handle;
  friend bool operator==(const call_finished&, const call_finished&) = default;
};

/// Answers a hot-data lookup: calls `done(value, timed_out)` once, from any thread.
using hot_data_lookup = std::function<void(
  const std::string& key, std::chrono::milliseconds budget,
  std::function<void(std::optional<std::string> value, bool timed_out)> done)>;

/// What a call actor needs besides its setup; shared by all calls of a node.
struct call_context {
  std::shared_ptr<channel_link> link;
  record_writer_actor records;
  /// Daemon-wide metrics (outlives every call actor).
  metrics_registry* metrics = nullptr;
  /// Empty: every lookup answers "missing" at once.
  hot_data_lookup lookup;
  /// Set: the actor stays for another call when its call is over and reports it here (from
  /// its own thread). Empty: it exits.
  std::function<void(call_finished)> on_finished;
};

/// Spawns a call actor for `setup` and starts its route at once.
[[nodiscard]] call_actor spawn_call_actor(caf::actor_system& system, call_setup setup,
                                          call_context context);

} // namespace callgrid::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::host_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::call_finished)
