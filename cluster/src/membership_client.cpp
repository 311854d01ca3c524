#include "cluster/membership_client.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "cluster/error.hpp"
#include "cluster/leader_lock.hpp"

namespace callgrid::cluster {

load_report to_load_report(const actors::node_load& load) {
  load_report out;
  out.live_calls = load.live_calls;
  out.calls_total = load.calls_total;
  out.capacity = load.capacity;
  out.esl_ready = load.esl_ready;
  out.freeswitch_ready = load.freeswitch_ready;
  out.session_count = load.session_count;
  out.max_sessions = load.max_sessions;
  out.idle_cpu = load.idle_cpu;
  switch (load.phase) {
    case actors::drain_phase::none: out.phase = drain_phase::none; break;
    case actors::drain_phase::draining: out.phase = drain_phase::draining; break;
    case actors::drain_phase::flushing: out.phase = drain_phase::flushing; break;
    case actors::drain_phase::drained: out.phase = drain_phase::drained; break;
  }
  out.hung_up_at_deadline = load.hung_up_at_deadline;
  out.spool_depth = load.spool_depth;
  return out;
}

namespace {

struct client_state {
  static inline const char* name = "cluster.membership_client";

  membership_client_options options;
  std::chrono::milliseconds interval{1000};
  /// The addresses of this round, tried in order.
  std::vector<std::string> candidates;
  std::size_t next = 0;
  bool connecting = false;
  bool beat_in_flight = false;
  bool leaving = false;
  registry_endpoint_actor registry;
  membership_client_status status;
  std::string last_problem;
  load_report last_load;
};

using client_pointer = membership_client_actor::stateful_pointer<client_state>;

void try_next(client_pointer self);

/// Logs `problem` once until it changes (a coordinator that stays away is one line, not one per
/// second).
void note_problem(client_pointer self, std::string problem) {
  auto& st = self->state;
  if (problem == st.last_problem)
    return;
  spdlog::warn("cluster: node {}: {}", st.options.node, problem);
  st.last_problem = std::move(problem);
}

bool split_address(const std::string& address, std::string& host, uint16_t& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return false;
  host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  try {
    auto number = std::stoul(address.substr(colon + 1));
    if (number == 0 || number > 65535)
      return false;
    port = static_cast<uint16_t>(number);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

join_request make_join(client_pointer self) {
  auto& st = self->state;
  return join_request{st.options.node,    st.options.sip_uri,     st.options.capacity,
                      st.options.version, st.options.incarnation, st.last_load};
}

void disconnect(client_pointer self, const std::string& why) {
  auto& st = self->state;
  if (st.registry) {
    self->demonitor(st.registry.address());
    spdlog::warn("cluster: node {} left coordinator {}: {}", st.options.node,
                 st.status.coordinator, why);
  }
  st.registry = nullptr;
  st.status.joined = false;
  st.status.coordinator.clear();
  if (!st.leaving)
    self->send(self, caf::connect_atom::value);
}

/// Sends the join to `registry` (reached at `address`); on success the client is joined, else
/// the next candidate is tried (`in_round`) or the connection is dropped.
void send_join(client_pointer self, registry_endpoint_actor registry, std::string address,
               bool in_round) {
  self->request(registry, self->state.options.request_timeout, make_join(self))
    .then(
      [self, registry, address](join_reply& reply) {
        auto& st = self->state;
        if (st.registry != registry) {
          if (st.registry)
            self->demonitor(st.registry.address());
          self->monitor(registry);
        }
        st.registry = registry;
        st.connecting = false;
        st.status.joined = true;
        st.status.coordinator = address;
        ++st.status.joins;
        st.last_problem.clear();
        if (reply.heartbeat_interval_ms > 0)
          st.interval = std::chrono::milliseconds{reply.heartbeat_interval_ms};
        spdlog::info("cluster: node {} joined coordinator {} (heartbeat every {} ms)",
                     st.options.node, address, st.interval.count());
      },
      [self, address, in_round](const caf::error& err) {
        note_problem(self, "join at " + address + " refused: " + render_error(err));
        if (in_round)
          try_next(self);
        else
          disconnect(self, "rejoin refused: " + render_error(err));
      });
}

/// Joins `registry` with the supervisor's current load, so that a healthy node becomes active
/// at once (with the last known load when the supervisor does not answer).
void join(client_pointer self, registry_endpoint_actor registry, std::string address,
          bool in_round) {
  auto& st = self->state;
  self->request(st.options.supervisor, st.options.request_timeout, actors::load_query{})
    .then(
      [self, registry, address, in_round](actors::node_load& load) {
        self->state.last_load = to_load_report(load);
        send_join(self, registry, address, in_round);
      },
      [self, registry, address, in_round](const caf::error&) {
        send_join(self, registry, address, in_round);
      });
}

void try_next(client_pointer self) {
  auto& st = self->state;
  if (st.next >= st.candidates.size()) {
    st.connecting = false;
    if (st.candidates.empty())
      note_problem(self, "no coordinator address is configured or recorded");
    self->delayed_send(self, st.options.retry_interval, caf::connect_atom::value);
    return;
  }
  auto address = st.candidates[st.next++];
  std::string host;
  uint16_t port = 0;
  if (!split_address(address, host, port)) {
    note_problem(self, "coordinator address '" + address + "' is not host:port");
    try_next(self);
    return;
  }
  auto mm = st.options.tls ? self->system().openssl_manager().actor_handle()
                           : self->system().middleman().actor_handle();
  self->request(mm, st.options.request_timeout, caf::connect_atom::value, host, port)
    .then(
      [self, address](const caf::node_id&, caf::strong_actor_ptr& ptr,
                      const std::set<std::string>& interface) {
        if (!ptr) {
          note_problem(self, "nothing is published at " + address);
          try_next(self);
          return;
        }
        if (!self->system().assignable<registry_endpoint_actor>(interface)) {
          note_problem(self, render_error(make_cluster_error(
                               errc::interface_mismatch,
                               "the actor at " + address + " is not a cluster registry")));
          try_next(self);
          return;
        }
        join(self, caf::actor_cast<registry_endpoint_actor>(std::move(ptr)), address, true);
      },
      [self, address](const caf::error& err) {
        note_problem(self, "cannot reach coordinator " + address + ": " + caf::to_string(err));
        try_next(self);
      });
}

void start_round(client_pointer self) {
  auto& st = self->state;
  st.connecting = true;
  st.candidates.clear();
  st.next = 0;
  if (!st.options.conninfo.empty()) {
    auto leader = leader_lock::read_leader_address(st.options.conninfo);
    if (!leader)
      note_problem(self, "cannot read the leader's address: " + render_error(leader.error()));
    else if (!leader->empty())
      st.candidates.push_back(*leader);
  }
  for (const auto& address : st.options.coordinators)
    if (std::find(st.candidates.begin(), st.candidates.end(), address) == st.candidates.end())
      st.candidates.push_back(address);
  try_next(self);
}

void send_heartbeat(client_pointer self) {
  self->state.beat_in_flight = true;
  self->request(self->state.options.supervisor, self->state.options.request_timeout,
                actors::load_query{})
    .then(
      [self](actors::node_load& load) {
        auto& st = self->state;
        st.last_load = to_load_report(load);
        if (!st.registry) {
          st.beat_in_flight = false;
          return;
        }
        auto registry = st.registry;
        self
          ->request(registry, st.options.request_timeout,
                    heartbeat{st.options.node, st.options.incarnation, st.last_load})
          .then(
            [self](caf::ok_atom) {
              self->state.beat_in_flight = false;
              ++self->state.status.heartbeats;
            },
            [self, registry](const caf::error& err) {
              auto& current = self->state;
              current.beat_in_flight = false;
              if (current.registry != registry)
                return;
              if (err == errc::unknown_node) {
                spdlog::info("cluster: node {}: the registry does not know it: joining again",
                             current.options.node);
                join(self, registry, current.status.coordinator, false);
              } else if (err == errc::not_leader) {
                disconnect(self, render_error(err));
              } else {
                note_problem(self, "heartbeat failed: " + render_error(err));
              }
            });
      },
      [self](const caf::error& err) {
        self->state.beat_in_flight = false;
        note_problem(self, "the node supervisor did not report its load (no heartbeat sent): "
                             + caf::to_string(err));
      });
}

membership_client_actor::behavior_type client_impl(client_pointer self,
                                                   membership_client_options options) {
  auto& setup = self->state;
  setup.options = std::move(options);
  if (setup.options.incarnation == 0)
    setup.options.incarnation = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count());
  setup.interval = setup.options.heartbeat_interval;
  setup.last_load.capacity = setup.options.capacity;
  self->set_down_handler([self](caf::down_msg& msg) {
    const auto& registry = self->state.registry;
    if (registry && msg.source == registry.address())
      disconnect(self, "connection lost (" + caf::to_string(msg.reason) + ")");
  });
  self->send(self, caf::connect_atom::value);
  self->send(self, caf::tick_atom::value);
  return {
    [self](node_command& command) -> caf::ok_atom {
      auto& st = self->state;
      ++st.status.commands;
      if (command.kind == command_kind::start_drain) {
        spdlog::info("cluster: node {}: the coordinator asks for a drain ({})", st.options.node,
                     command.reason);
        self->send(st.options.supervisor,
                   actors::start_drain{command.deadline_unix_ms, command.reason});
      } else {
        spdlog::info("cluster: node {}: the coordinator cancels the drain", st.options.node);
        self->send(st.options.supervisor, actors::cancel_drain{});
      }
      return caf::ok_atom::value;
    },
    [self](caf::get_atom) -> membership_client_status { return self->state.status; },
    [self](caf::leave_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      st.leaving = true;
      if (!st.registry)
        return caf::ok_atom::value;
      auto promise = self->make_response_promise<caf::ok_atom>();
      self
        ->request(st.registry, st.options.request_timeout,
                  leave_request{st.options.node, st.options.incarnation})
        .then([promise](caf::ok_atom) mutable { promise.deliver(caf::ok_atom::value); },
              [self, promise](const caf::error& err) mutable {
                spdlog::warn("cluster: node {}: leave not acknowledged: {}",
                             self->state.options.node, render_error(err));
                promise.deliver(caf::ok_atom::value);
              });
      return promise;
    },
    [self](caf::tick_atom) {
      auto& st = self->state;
      self->delayed_send(self, st.interval, caf::tick_atom::value);
      if (st.status.joined && !st.beat_in_flight && !st.leaving)
        send_heartbeat(self);
    },
    [self](caf::connect_atom) {
      auto& st = self->state;
      if (st.status.joined || st.connecting || st.leaving)
        return;
      start_round(self);
    },
  };
}

} // namespace

membership_client_actor spawn_membership_client(caf::actor_system& system,
                                                membership_client_options options) {
  return system.spawn<caf::detached>(client_impl, std::move(options));
}

} // namespace callgrid::cluster
