#include "edge_writer.hpp"

#include <chrono>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics_registry.hpp"
#include "kamailio/dispatcher_updater.hpp"

namespace callgrid::daemon {

namespace {

using namespace std::chrono_literals;

/// The writer's own interface: the registry's dispatcher sets plus its reload timer.
using edge_writer_actor = cluster::dispatcher_sink_actor::extend<caf::reacts_to<caf::tick_atom>>;

kamailio::target_state to_target_state(cluster::dispatcher_state state) {
  switch (state) {
    case cluster::dispatcher_state::active: return kamailio::target_state::active;
    case cluster::dispatcher_state::admin_disabled: return kamailio::target_state::disabled;
  }
  return kamailio::target_state::disabled;
}

struct edge_writer_state {
  static inline const char* name = "edge_writer";
  std::optional<kamailio::dispatcher_updater> updater;
  int set = 1;
  actors::metric_counter* writes = nullptr;
  actors::metric_counter* write_failures = nullptr;
  actors::metric_counter* state_changes = nullptr;
  actors::metric_counter* rpc_failures = nullptr;
  actors::metric_counter* reloads = nullptr;
  actors::metric_counter* reload_failures = nullptr;
  actors::metric_counter* mismatches = nullptr;
  /// Whether a tick is scheduled already.
  bool tick_pending = false;
};

using writer_pointer = edge_writer_actor::stateful_pointer<edge_writer_state>;

void schedule_poll(writer_pointer self) {
  auto& st = self->state;
  auto due = st.updater->next_due();
  if (!due || st.tick_pending)
    return;
  auto wait = std::max(std::chrono::steady_clock::duration{0},
                       *due - std::chrono::steady_clock::now());
  st.tick_pending = true;
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(wait) + 1ms,
                     caf::tick_atom_v);
}

edge_writer_actor::behavior_type edge_writer_impl(writer_pointer self, config::edge_settings edge,
                                                  actors::metrics_registry* metrics) {
  auto& st = self->state;
  st.set = edge.dispatcher_set;
  kamailio::updater_options options;
  options.list_file = edge.dispatcher_list;
  options.rpc.socket_path = edge.rpc_socket;
  st.updater.emplace(std::move(options));
  auto& m = *metrics;
  st.writes = &m.counter("callgrid_dispatcher_writes_total",
                         "Dispatcher list files written for Kamailio");
  st.write_failures = &m.counter("callgrid_dispatcher_write_failures_total",
                                 "Dispatcher lists refused by validation or not written");
  st.state_changes = &m.counter("callgrid_dispatcher_state_changes_total",
                                "dispatcher.set_state calls Kamailio accepted");
  st.rpc_failures = &m.counter("callgrid_dispatcher_set_state_failures_total",
                               "dispatcher.set_state calls that failed (Kamailio down or target "
                               "unknown to it)");
  st.reloads = &m.counter("callgrid_dispatcher_reloads_total",
                          "dispatcher.reload calls Kamailio accepted");
  st.reload_failures = &m.counter("callgrid_dispatcher_reload_failures_total",
                                  "dispatcher.reload calls that failed or were refused");
  st.mismatches = &m.counter("callgrid_dispatcher_mismatches_total",
                             "Reloads after which dispatcher.list differed from the file");
  return {
    [self](cluster::dispatcher_view& view) {
      auto& state = self->state;
      std::vector<kamailio::dispatcher_target> targets;
      targets.reserve(view.entries.size());
      for (const auto& entry : view.entries)
        targets.push_back({.set = state.set,
                           .uri = entry.sip_uri,
                           .state = to_target_state(entry.state),
                           .weight = std::clamp(entry.weight, 1, 100),
                           .priority = 0,
                           .node_id = entry.node});
      auto report = state.updater->publish(std::move(targets), std::chrono::steady_clock::now());
      if (!report) {
        state.write_failures->increment();
        spdlog::error("edge: dispatcher list not written: {}",
                      kamailio::render_error(report.error()));
        return;
      }
      state.writes->increment();
      state.state_changes->increment(report->states_set);
      for (const auto& err : report->state_errors) {
        state.rpc_failures->increment();
        spdlog::warn("edge: {} (the next reload applies the file)", kamailio::render_error(err));
      }
      std::string summary;
      for (const auto& entry : view.entries)
        summary += (summary.empty() ? "" : ", ") + entry.node + "=" + cluster::to_string(entry.state);
      spdlog::info("edge: dispatcher set {} written: {}", state.set,
                   summary.empty() ? std::string{"no nodes"} : summary);
      schedule_poll(self);
    },
    [self](caf::tick_atom) {
      auto& state = self->state;
      state.tick_pending = false;
      auto report = state.updater->poll(std::chrono::steady_clock::now());
      if (report.reloaded)
        state.reloads->increment();
      if (report.reload_sent && !report.reloaded)
        state.reload_failures->increment();
      if (report.failure)
        spdlog::warn("edge: dispatcher.reload: {}", kamailio::render_error(*report.failure));
      if (!report.mismatches.empty()) {
        state.mismatches->increment();
        for (const auto& line : report.mismatches)
          spdlog::error("edge: after reload Kamailio differs from the list file: {}", line);
      }
      schedule_poll(self);
    },
  };
}

} // namespace

cluster::dispatcher_sink_actor spawn_edge_writer(caf::actor_system& system,
                                                 const config::edge_settings& edge,
                                                 actors::metrics_registry& metrics) {
  auto writer = system.spawn<caf::detached>(edge_writer_impl, edge, &metrics);
  return caf::actor_cast<cluster::dispatcher_sink_actor>(writer);
}

} // namespace callgrid::daemon
