#pragma once

// Shared by the cluster's actor tests and cluster_node_driver: a stand-in for the node
// supervisor (answers load_query with a settable load, records the drain commands, and drains
// like the real one when asked), a dispatcher sink that keeps the last set, and a poll helper.

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/messages.hpp"
#include "cluster/membership_client.hpp"
#include "cluster/registry_actor.hpp"

namespace callgrid::cluster::testing {

/// The stand-in supervisor: node_load_source_actor plus `put` (set the load) and `get` (the
/// commands received so far, as "start_drain <deadline> <reason>" / "cancel_drain").
using fake_supervisor_actor = node_load_source_actor::extend<
  caf::reacts_to<caf::put_atom, actors::node_load>,
  caf::replies_to<caf::get_atom>::with<std::vector<std::string>>>;

struct fake_supervisor_state {
  static inline const char* name = "test.fake_supervisor";
  actors::node_load load;
  std::vector<std::string> commands;
};

/// A healthy, idle node of capacity `capacity`.
inline actors::node_load healthy_node_load(int32_t capacity = 100) {
  actors::node_load load;
  load.capacity = capacity;
  load.esl_ready = true;
  load.freeswitch_ready = true;
  return load;
}

/// Spawns the stand-in; with `drain_at_once` a start_drain makes it report drained (no calls)
/// and a cancel_drain makes it report none again, like an idle node.
inline fake_supervisor_actor spawn_fake_supervisor(caf::actor_system& system,
                                                   actors::node_load load, bool drain_at_once) {
  auto impl = [load, drain_at_once](
                fake_supervisor_actor::stateful_pointer<fake_supervisor_state> self)
    -> fake_supervisor_actor::behavior_type {
    self->state.load = load;
    return {
      [self](actors::load_query) { return self->state.load; },
      [self, drain_at_once](actors::start_drain& cmd) {
        self->state.commands.push_back("start_drain " + std::to_string(cmd.deadline_unix_ms)
                                       + " " + cmd.reason);
        if (drain_at_once)
          self->state.load.phase = actors::drain_phase::drained;
      },
      [self, drain_at_once](actors::cancel_drain) {
        self->state.commands.push_back("cancel_drain");
        if (drain_at_once)
          self->state.load.phase = actors::drain_phase::none;
      },
      [self](caf::put_atom, actors::node_load& next) { self->state.load = next; },
      [self](caf::get_atom) { return self->state.commands; },
    };
  };
  return system.spawn(impl);
}

/// Keeps the last dispatcher set and how many arrived.
using view_sink_actor = dispatcher_sink_actor::extend<
  caf::replies_to<caf::get_atom>::with<dispatcher_view, int32_t>>;

struct view_sink_state {
  static inline const char* name = "test.view_sink";
  dispatcher_view last;
  int32_t received = 0;
};

inline view_sink_actor spawn_view_sink(caf::actor_system& system) {
  auto impl = [](view_sink_actor::stateful_pointer<view_sink_state> self)
    -> view_sink_actor::behavior_type {
    return {
      [self](dispatcher_view& view) {
        self->state.last = std::move(view);
        ++self->state.received;
      },
      [self](caf::get_atom) {
        return std::make_tuple(self->state.last, self->state.received);
      },
    };
  };
  return system.spawn(impl);
}

/// Calls `done` every 25 ms until it returns true or `timeout` passes; returns whether it did.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{25});
  }
  return true;
}

} // namespace callgrid::cluster::testing
