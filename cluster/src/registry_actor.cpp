#include "cluster/registry_actor.hpp"

#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics_registry.hpp"
#include "cluster/admin_state_store.hpp"
#include "cluster/error.hpp"
#include "cluster/leader_lock.hpp"
#include "persistence/errc.hpp"

namespace callgrid::cluster {

namespace {

constexpr std::array all_states{member_state::joining,  member_state::active,
                                member_state::suspect,  member_state::draining,
                                member_state::drained,  member_state::down,
                                member_state::left};

/// The registry's series in the daemon's metrics registry (null members without one).
struct registry_metrics {
  std::array<actors::metric_gauge*, all_states.size()> members{};
  actors::metric_counter* heartbeats = nullptr;
  std::array<actors::metric_counter*, 3> transitions{};
  actors::metric_gauge* leader = nullptr;
  actors::metric_counter* commands = nullptr;
  actors::metric_counter* command_failures = nullptr;
  actors::metric_counter* view_changes = nullptr;
  /// Per member: calls, load ratio, and the drain's progress (calls left and records not yet
  /// in PostgreSQL while it drains, 0 otherwise).
  struct node_series {
    actors::metric_gauge* calls = nullptr;
    actors::metric_gauge* load = nullptr;
    actors::metric_gauge* drain_calls = nullptr;
    actors::metric_gauge* drain_records = nullptr;
  };
  std::map<std::string, node_series, std::less<>> per_node;
};

registry_metrics make_metrics(actors::metrics_registry* registry) {
  registry_metrics m;
  if (registry == nullptr)
    return m;
  for (std::size_t i = 0; i < all_states.size(); ++i)
    m.members[i] = &registry->gauge("callgrid_cluster_members", "Cluster members by state",
                                    {{"state", to_string(all_states[i])}});
  m.heartbeats = &registry->counter("callgrid_cluster_heartbeats_total",
                                    "Heartbeats received from nodes");
  for (auto health : {member_health::alive, member_health::suspect, member_health::down})
    m.transitions[static_cast<std::size_t>(health)] = &registry->counter(
      "callgrid_cluster_failure_detector_transitions_total",
      "Failure detector verdict changes, by the new verdict", {{"to", to_string(health)}});
  m.leader = &registry->gauge("callgrid_cluster_leader",
                              "1 while this coordinator leads the cluster, else 0");
  m.commands = &registry->counter("callgrid_cluster_commands_total",
                                  "Drain and cancel commands sent to nodes");
  m.command_failures = &registry->counter("callgrid_cluster_command_failures_total",
                                          "Commands to nodes that failed or timed out");
  m.view_changes = &registry->counter("callgrid_cluster_dispatcher_view_changes_total",
                                      "Changes of the dispatcher set the registry published");
  return m;
}

struct registry_state {
  static inline const char* name = "cluster.registry";

  registry_options options;
  membership table;
  /// Leading: the elector holds the lock and the admin state is restored (both arrive in one
  /// `leadership` message), or `lead_without_lock`.
  bool leading = false;
  std::string leader_address;
  leader_elector_actor elector;
  std::map<std::string, node_endpoint_actor, std::less<>> endpoints;
  actors::metrics_registry* metrics_sink = nullptr;
  registry_metrics metrics;
};

using registry_pointer = registry_actor::stateful_pointer<registry_state>;

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

caf::error refusal(const outcome& out) {
  return make_cluster_error(out.error, out.message);
}

/// The error a registry that cannot serve now answers with, or none.
caf::error not_serving(registry_pointer self) {
  auto& st = self->state;
  if (!st.leading)
    return make_cluster_error(errc::not_leader,
                              st.leader_address.empty()
                                ? std::string{"this coordinator does not lead; the leader is unknown"}
                                : "this coordinator does not lead; the leader is at "
                                    + st.leader_address);
  return {};
}

void update_gauges(registry_pointer self) {
  auto& st = self->state;
  if (st.metrics_sink == nullptr)
    return;
  std::array<int, all_states.size()> counts{};
  for (const auto& [node, m] : st.table.members()) {
    ++counts[static_cast<std::size_t>(m.state())];
    auto i = st.metrics.per_node.find(node);
    if (i == st.metrics.per_node.end()) {
      auto& sink = *st.metrics_sink;
      registry_metrics::node_series series;
      series.calls = &sink.gauge("callgrid_cluster_member_live_calls",
                                 "Calls in progress per member (last heartbeat)", {{"node", node}});
      series.load = &sink.gauge("callgrid_cluster_member_load_ratio",
                                "Calls in progress per member over its capacity", {{"node", node}});
      series.drain_calls = &sink.gauge(
        "callgrid_cluster_member_drain_remaining_calls",
        "Calls a draining member still has up (0 when it is not draining)", {{"node", node}});
      series.drain_records = &sink.gauge(
        "callgrid_cluster_member_drain_pending_records",
        "Call records a draining or drained member still has to store in PostgreSQL (0 "
        "otherwise)",
        {{"node", node}});
      i = st.metrics.per_node.emplace(node, series).first;
    }
    auto& series = i->second;
    series.calls->set(m.load.live_calls);
    series.load->set(m.capacity > 0 ? static_cast<double>(m.load.live_calls) / m.capacity : 0.0);
    const bool draining
      = m.state() == member_state::draining || m.state() == member_state::drained;
    series.drain_calls->set(m.state() == member_state::draining ? m.load.live_calls : 0);
    series.drain_records->set(draining ? m.load.spool_depth : 0);
  }
  for (std::size_t i = 0; i < counts.size(); ++i)
    st.metrics.members[i]->set(counts[i]);
  st.metrics.leader->set(st.leading ? 1 : 0);
}

void send_command_to(registry_pointer self, const send_command& cmd) {
  auto& st = self->state;
  auto i = st.endpoints.find(cmd.node);
  if (i == st.endpoints.end()) {
    spdlog::warn("cluster: no handle for node {} to send {} to", cmd.node,
                 cmd.command.kind == command_kind::start_drain ? "start_drain" : "cancel_drain");
    return;
  }
  if (st.metrics.commands != nullptr)
    st.metrics.commands->increment();
  auto node = cmd.node;
  self->request(i->second, st.options.request_timeout, cmd.command)
    .then([](caf::ok_atom) {},
          [self, node](const caf::error& err) {
            if (self->state.metrics.command_failures != nullptr)
              self->state.metrics.command_failures->increment();
            spdlog::warn("cluster: command to node {} failed: {} (sent again while its "
                         "heartbeats do not show it)",
                         node, render_error(err));
          });
}

/// Executes the effects of one input. `promise`, when given, is answered once the persisted row
/// of an admin action is committed (or with the error).
void execute(registry_pointer self, outcome& out,
             std::optional<caf::typed_response_promise<caf::ok_atom>> promise = std::nullopt) {
  auto& st = self->state;
  bool answered = false;
  for (auto& e : out.effects) {
    if (auto* cmd = std::get_if<send_command>(&e)) {
      send_command_to(self, *cmd);
    } else if (auto* row = std::get_if<persist_node>(&e)) {
      if (!st.elector) {
        continue;
      }
      const bool answers = promise && row->action && !answered;
      answered = answered || answers;
      auto node = row->node;
      auto rp = answers ? promise : std::nullopt;
      self->request(st.elector, st.options.request_timeout, *row)
        .then(
          [rp](caf::ok_atom) mutable {
            if (rp)
              rp->deliver(caf::ok_atom::value);
          },
          [rp, node](const caf::error& err) mutable {
            spdlog::error("cluster: the admin state of node {} was not persisted: {}", node,
                          render_error(err));
            if (rp)
              rp->deliver(err);
          });
    } else if (auto* changed = std::get_if<view_changed>(&e)) {
      if (st.metrics.view_changes != nullptr)
        st.metrics.view_changes->increment();
      if (st.options.dispatcher && st.leading)
        self->send(st.options.dispatcher, changed->view);
    } else if (auto* health = std::get_if<health_changed>(&e)) {
      if (auto* counter = st.metrics.transitions[static_cast<std::size_t>(health->to)])
        counter->increment();
    } else if (auto* line = std::get_if<log_line>(&e)) {
      if (line->severity == log_line::level::warning)
        spdlog::warn("cluster: {}", line->text);
      else
        spdlog::info("cluster: {}", line->text);
    }
  }
  if (promise && !answered)
    promise->deliver(caf::ok_atom::value);
  update_gauges(self);
}

/// Answers an admin request: the refusal, or `ok` once its row is committed.
caf::result<caf::ok_atom> admin_request(registry_pointer self, outcome out) {
  if (!out.ok())
    return refusal(out);
  auto promise = self->make_response_promise<caf::ok_atom>();
  execute(self, out, promise);
  return promise;
}

/// Stops leading: refuse nodes and admin requests; the new leader rebuilds the table from the
/// nodes' joins.
void step_down(registry_pointer self, const std::string& why) {
  auto& st = self->state;
  if (st.leading)
    spdlog::error("cluster: this coordinator lost its leadership: {}", why);
  if (st.elector)
    self->demonitor(st.elector.address());
  st.leading = false;
  st.elector = nullptr;
  st.table = membership{st.options.settings};
  st.endpoints.clear();
  update_gauges(self);
}

registry_actor::behavior_type registry_impl(registry_pointer self, registry_options options) {
  auto& setup = self->state;
  setup.options = std::move(options);
  setup.table = membership{setup.options.settings};
  setup.metrics_sink = setup.options.metrics;
  setup.metrics = make_metrics(setup.options.metrics);
  if (setup.options.lead_without_lock) {
    setup.leading = true;
    setup.leader_address = setup.options.address;
    spdlog::info("cluster: registry leads without a leader lock (admin state not persisted)");
  }
  if (setup.options.dispatcher && setup.leading)
    self->send(setup.options.dispatcher, setup.table.view());
  update_gauges(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    const auto& elector = self->state.elector;
    if (elector && msg.source == elector.address())
      step_down(self, "the leader elector stopped (" + caf::to_string(msg.reason) + ")");
  });
  self->send(self, caf::tick_atom::value);
  return {
    [self](join_request& request) -> caf::result<join_reply> {
      if (auto err = not_serving(self))
        return err;
      auto& st = self->state;
      auto now = self->clock().now();
      auto out = st.table.join(request, now);
      if (!out.ok())
        return refusal(out);
      if (auto sender = self->current_sender())
        st.endpoints.insert_or_assign(request.node,
                                      caf::actor_cast<node_endpoint_actor>(std::move(sender)));
      execute(self, out);
      return join_reply{st.options.address, st.options.settings.heartbeat_interval.count()};
    },
    [self](heartbeat& beat) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      auto& st = self->state;
      if (st.metrics.heartbeats != nullptr)
        st.metrics.heartbeats->increment();
      auto out = st.table.apply(beat, self->clock().now());
      if (!out.ok())
        return refusal(out);
      execute(self, out);
      return caf::ok_atom::value;
    },
    [self](leave_request& request) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      auto out = self->state.table.apply(request, self->clock().now());
      if (!out.ok())
        return refusal(out);
      self->state.endpoints.erase(request.node);
      execute(self, out);
      return caf::ok_atom::value;
    },
    [self](list_members) -> caf::result<std::vector<member_view>> {
      if (auto err = not_serving(self))
        return err;
      return self->state.table.list(self->clock().now());
    },
    [self](request_drain& request) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      return admin_request(self,
                           self->state.table.apply(request, self->clock().now(), unix_now_ms()));
    },
    [self](cancel_drain& request) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      return admin_request(self, self->state.table.apply(request, self->clock().now()));
    },
    [self](set_eligibility& request) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      return admin_request(self, self->state.table.apply(request, self->clock().now()));
    },
    [self](force_leave& request) -> caf::result<caf::ok_atom> {
      if (auto err = not_serving(self))
        return err;
      auto node = request.node;
      auto result
        = admin_request(self, self->state.table.apply(request, self->clock().now()));
      if (self->state.table.find(node) == nullptr)
        self->state.endpoints.erase(node);
      return result;
    },
    [self](caf::get_atom) -> dispatcher_view { return self->state.table.view(); },
    [self](leadership& change) {
      auto& st = self->state;
      auto now = self->clock().now();
      st.leader_address = change.leader_address;
      if (change.leading) {
        st.leading = true;
        st.elector = std::move(change.elector);
        // An elector that dies takes the lock (its connection) with it.
        if (st.elector)
          self->monitor(st.elector);
        spdlog::info("cluster: this coordinator leads now ({} nodes with admin state)",
                     change.admin.size());
        auto out = st.table.restore(std::move(change.admin), now);
        execute(self, out);
        if (st.options.dispatcher)
          self->send(st.options.dispatcher, st.table.view());
      } else {
        step_down(self, "the leader is " + (st.leader_address.empty() ? std::string{"unknown"}
                                                                      : st.leader_address));
      }
      update_gauges(self);
    },
    [self](caf::tick_atom) {
      auto& st = self->state;
      if (st.leading) {
        auto out = st.table.tick(self->clock().now());
        if (!out.effects.empty())
          execute(self, out);
      }
      self->delayed_send(self, st.options.tick_interval, caf::tick_atom::value);
    },
  };
}

// -- leader elector ------------------------------------------------------------------------

struct elector_state {
  static inline const char* name = "cluster.leader_elector";

  std::optional<leader_lock> lock;
  leader_elector_options options;
  bool leading = false;
  std::string last_problem;
  std::string last_leader;
};

using elector_pointer = leader_elector_actor::stateful_pointer<elector_state>;

void lose_leadership(elector_pointer self, const std::string& why) {
  auto& st = self->state;
  spdlog::error("cluster: leader lock lost: {}", why);
  st.leading = false;
  st.lock->release();
  st.last_leader.clear();
  self->send(st.options.registry, leadership{false, {}, {}, leader_elector_actor{}});
}

void elect_step(elector_pointer self) {
  auto& st = self->state;
  if (st.leading) {
    auto held = st.lock->still_held();
    if (!held)
      lose_leadership(self, render_error(held.error()));
    else if (!*held)
      lose_leadership(self, "the connection is gone");
    return;
  }
  auto taken = st.lock->try_acquire();
  if (!taken) {
    auto problem = render_error(taken.error());
    if (problem != st.last_problem)
      spdlog::warn("cluster: cannot compete for leadership (retrying every {} ms): {}",
                   st.options.retry_interval.count(), problem);
    st.last_problem = std::move(problem);
    return;
  }
  st.last_problem.clear();
  if (!*taken) {
    auto leader = st.lock->current_leader();
    if (leader && *leader != st.last_leader) {
      st.last_leader = *leader;
      spdlog::info("cluster: standing by; the leader is {}", *leader);
      self->send(st.options.registry, leadership{false, *leader, {}, leader_elector_actor{}});
    }
    return;
  }
  auto states = admin_state_store::load(st.lock->connection());
  if (!states) {
    spdlog::error("cluster: took the leader lock but cannot read the admin state: {}",
                  render_error(states.error()));
    st.lock->release();
    return;
  }
  st.leading = true;
  spdlog::info("cluster: took the leader lock; leading at {}", st.options.address);
  self->send(st.options.registry,
             leadership{true, st.options.address, std::move(*states),
                        caf::actor_cast<leader_elector_actor>(self)});
}

leader_elector_actor::behavior_type elector_impl(elector_pointer self,
                                                 leader_elector_options options) {
  auto& setup = self->state;
  setup.options = std::move(options);
  setup.lock.emplace(leader_lock_options{setup.options.conninfo, setup.options.lock_key,
                                      setup.options.address, setup.options.holder});
  self->send(self, caf::tick_atom::value);
  return {
    [self](caf::tick_atom) {
      elect_step(self);
      auto& st = self->state;
      self->delayed_send(self, st.leading ? st.options.check_interval : st.options.retry_interval,
                         caf::tick_atom::value);
    },
    [self](persist_node& row) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (!st.leading || st.lock->connection() == nullptr)
        return make_cluster_error(errc::not_leader,
                                  "the admin state of " + row.node
                                    + " is not written: this coordinator lost its leadership");
      if (auto err = admin_state_store::save(st.lock->connection(), row)) {
        if (err == persistence::errc::db_unavailable)
          lose_leadership(self, render_error(err));
        return err;
      }
      return caf::ok_atom::value;
    },
  };
}

} // namespace

registry_actor spawn_registry(caf::actor_system& system, registry_options options) {
  return system.spawn(registry_impl, std::move(options));
}

caf::expected<uint16_t> publish_registry(caf::actor_system& system, const registry_actor& registry,
                                         uint16_t port, const std::string& host, bool tls) {
  auto endpoint = caf::actor_cast<registry_endpoint_actor>(registry);
  const char* address = host.empty() ? nullptr : host.c_str();
  if (tls)
    return caf::openssl::publish(endpoint, port, address, true);
  return system.middleman().publish(endpoint, port, address, true);
}

leader_elector_actor spawn_leader_elector(caf::actor_system& system,
                                          leader_elector_options options) {
  return system.spawn<caf::detached>(elector_impl, std::move(options));
}

} // namespace callgrid::cluster
