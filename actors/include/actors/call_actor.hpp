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

/// One call leg (design.md §3): receives its channel's events, timers and lookup answers, runs
/// `call_state`, sends the resulting commands over its `channel_link`, and when the leg is over
/// hands exactly one record to the record writer and exits. `end_call` from the supervisor ends
/// it early (drain deadline, node lost, shutdown). An exception inside the call's logic hangs
/// the channel up (NORMAL_TEMPORARY_FAILURE) and still writes the record; other calls are not
/// touched.
using call_actor = caf::typed_actor<caf::reacts_to<esl_event>, caf::reacts_to<call_timer>,
                                    caf::reacts_to<lookup_answer>, caf::reacts_to<end_call>,
                                    caf::reacts_to<link_restored>>;

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
};

/// Spawns a call actor for `setup` and starts its route at once.
[[nodiscard]] call_actor spawn_call_actor(caf::actor_system& system, call_setup setup,
                                          call_context context);

} // namespace callgrid::actors
