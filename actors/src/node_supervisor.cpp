#include "actors/node_supervisor.hpp"

#include <charconv>
#include <chrono>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/channel_link.hpp"
#include "actors/metrics_registry.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/outbound_server.hpp"

namespace callgrid::actors {

namespace {

using namespace std::chrono_literals;

/// When the channels are listed a second time after the link became ready.
constexpr auto relisting_delay = 1500ms;

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t to_int(std::string_view text, int64_t fallback = 0) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} ? value : fallback;
}

struct tracked_call {
  call_actor handle;
  persistence::esl_mode mode = persistence::esl_mode::inbound;
  int64_t created_us = 0;
};

struct supervisor_metrics {
  metric_counter& calls_started;
  metric_counter& events;
  metric_counter& unowned_events;
  metric_counter& reconnects;
  metric_counter& adopted;
  metric_counter& lost;
  metric_counter& recovered_records;
  metric_counter& late_events;
  metric_gauge& event_lag;
  metric_gauge& esl_up;
  metric_gauge& fs_sessions;
  metric_gauge& fs_max_sessions;
  metric_gauge& fs_idle_cpu;
};

struct node_supervisor_state {
  static inline const char* name = "node_supervisor";

  node_supervisor_options options;
  std::shared_ptr<esl::inbound_client> client;
  std::unordered_map<std::string, tracked_call> calls;
  std::unordered_map<caf::actor_addr, std::string> uuid_by_actor;
  std::optional<supervisor_metrics> metrics;
  node_load load;
  bool ever_ready = false;
  /// When the link was lost (wall clock, µs); calls created before it and not listed after the
  /// reconnect are gone. 0 = not lost since start.
  int64_t link_lost_at_us = 0;
  /// Channels adopted from the first listing after a (re)connect, until the second confirms them.
  std::unordered_set<std::string> adopted_unconfirmed;
  /// Whether the session journal's leftovers were reconciled (once, after the first start).
  bool journal_reconciled = false;
  /// Channels FreeSWITCH listed at that time.
  std::unordered_set<std::string> listed_at_start;
  /// Listings reconciled since the link last became ready.
  int listings_since_ready = 0;
  /// The drain in progress (phase in `load.phase`): its deadline (wall clock, ms; 0 = none),
  /// whether the deadline's hangups were sent, and whether a spool flush is awaited.
  int64_t drain_deadline_unix_ms = 0;
  bool deadline_hangups_sent = false;
  bool flush_in_flight = false;
  std::string last_link_warning;
  std::chrono::steady_clock::time_point last_link_warning_at{};
};

using supervisor_pointer = node_supervisor_actor::stateful_pointer<node_supervisor_state>;

call_setup make_setup(node_supervisor_state& st, std::string uuid, std::string caller,
                      std::string callee, int64_t created_us, bool answered,
                      persistence::esl_mode mode) {
  call_setup setup;
  setup.uuid = std::move(uuid);
  setup.caller = std::move(caller);
  setup.callee = std::move(callee);
  setup.direction = persistence::call_direction::inbound;
  setup.mode = mode;
  setup.node = st.options.node_name;
  setup.created_us = created_us > 0 ? created_us : wall_clock_us();
  setup.already_answered = answered;
  const auto& catalog = st.options.catalog;
  if (catalog && catalog->routes) {
    if (const route* r = catalog->routes->match(setup.callee, setup.caller,
                                                std::chrono::system_clock::now())) {
      setup.matched_route = *r;
      if (r->flow_id) {
        auto it = catalog->flows.find(*r->flow_id);
        if (it != catalog->flows.end())
          setup.flow = it->second;
      }
    }
  }
  return setup;
}

void start_call(supervisor_pointer self, call_setup setup, std::shared_ptr<channel_link> link) {
  auto& st = self->state;
  auto uuid = setup.uuid;
  auto mode = setup.mode;
  auto created = setup.created_us;
  if (!setup.matched_route)
    spdlog::warn("call {}: no route for {} -> {}", uuid, setup.caller, setup.callee);
  else
    spdlog::info("call {}: {} -> {} on route '{}' ({} mode)", uuid, setup.caller, setup.callee,
                 setup.matched_route->name, persistence::to_string(mode));
  if (st.options.journal.save) {
    nlohmann::json snapshot{{"caller", setup.caller},
                            {"callee", setup.callee},
                            {"mode", persistence::to_string(mode)},
                            {"created_us", setup.created_us},
                            {"node", setup.node}};
    if (setup.matched_route) {
      snapshot["route_id"] = setup.matched_route->id;
      if (setup.matched_route->flow_id)
        snapshot["flow_id"] = *setup.matched_route->flow_id;
    }
    st.options.journal.save(uuid, snapshot.dump());
  }
  auto handle = spawn_call_actor(self->system(), std::move(setup),
                                 call_context{std::move(link), st.options.records,
                                              st.options.metrics, st.options.lookup});
  self->monitor(handle);
  st.uuid_by_actor.emplace(handle.address(), uuid);
  st.calls.emplace(std::move(uuid), tracked_call{handle, mode, created});
  st.metrics->calls_started.increment();
  ++st.load.calls_total;
  st.load.live_calls = static_cast<int32_t>(st.calls.size());
}

void on_park(supervisor_pointer self, std::shared_ptr<const esl::frame> ev) {
  auto& st = self->state;
  std::string uuid{ev->unique_id()};
  if (auto it = st.calls.find(uuid); it != st.calls.end()) {
    if (it->second.mode == persistence::esl_mode::inbound)
      self->send(it->second.handle, esl_event{std::move(ev)});
    return;
  }
  // A channel running `socket` parks too; its own socket brings it to us (outbound mode).
  if (ev->field("variable_current_application") == std::optional<std::string_view>{"socket"})
    return;
  auto setup = make_setup(st, uuid, std::string{ev->field("Caller-Caller-ID-Number").value_or("")},
                          std::string{ev->field("Caller-Destination-Number").value_or("")},
                          to_int(ev->field("Caller-Channel-Created-Time").value_or("0")),
                          ev->field("Answer-State") == std::optional<std::string_view>{"answered"},
                          persistence::esl_mode::inbound);
  start_call(self, std::move(setup), make_inbound_link(st.client, uuid));
}

void on_heartbeat(node_supervisor_state& st, const esl::frame& ev) {
  st.load.session_count = static_cast<int32_t>(to_int(ev.field("Session-Count").value_or("0")));
  st.load.max_sessions = static_cast<int32_t>(to_int(ev.field("Max-Sessions").value_or("0")));
  auto idle = ev.field("Idle-CPU").value_or("0");
  st.load.idle_cpu = std::strtod(std::string{idle}.c_str(), nullptr);
  st.metrics->fs_sessions.set(static_cast<double>(st.load.session_count));
  st.metrics->fs_max_sessions.set(static_cast<double>(st.load.max_sessions));
  st.metrics->fs_idle_cpu.set(st.load.idle_cpu);
}

void request_listing(supervisor_pointer self) {
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  self->state.client->api("show channels as json",
                          [handle](caf::expected<std::string> output) {
                            if (!output)
                              caf::anon_send(handle, channel_listing{
                                                       esl::render_error(output.error()), true});
                            else
                              caf::anon_send(handle, channel_listing{std::move(*output), false});
                          });
}

/// Re-adopts parked channels nobody owns, tells owned ones the link is back, and ends the calls
/// whose channels are gone.
void reconcile(supervisor_pointer self, const channel_listing& listing) {
  auto& st = self->state;
  if (listing.failed) {
    spdlog::warn("recovery: listing the channels failed: {}", listing.json);
    return;
  }
  nlohmann::json doc = nlohmann::json::parse(listing.json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    spdlog::warn("recovery: 'show channels as json' did not answer JSON: {}",
                 listing.json.substr(0, 200));
    return;
  }
  std::unordered_set<std::string> listed;
  if (auto rows = doc.find("rows"); rows != doc.end() && rows->is_array()) {
    for (const auto& row : *rows) {
      auto text = [&](const char* key) {
        auto it = row.find(key);
        return it != row.end() && it->is_string() ? it->get<std::string>() : std::string{};
      };
      auto uuid = text("uuid");
      if (uuid.empty())
        continue;
      listed.insert(uuid);
      if (auto it = st.calls.find(uuid); it != st.calls.end()) {
        self->send(it->second.handle, link_restored{});
        continue;
      }
      auto application = text("application");
      if (application == "socket" || application == "bridge" || application == "transfer")
        continue;
      auto created_epoch = to_int(text("created_epoch"));
      auto setup = make_setup(st, uuid, text("cid_num"), text("dest"), created_epoch * 1'000'000,
                              text("callstate") == "ACTIVE", persistence::esl_mode::inbound);
      spdlog::info("recovery: re-adopting channel {} ({} -> {}, application '{}')", uuid,
                   setup.caller, setup.callee, application);
      st.metrics->adopted.increment();
      st.adopted_unconfirmed.insert(uuid);
      start_call(self, std::move(setup), make_inbound_link(st.client, uuid));
    }
  }
  // Ending calls whose channel is gone waits for the second look: the first listing may miss
  // channels created just before the link was lost (FreeSWITCH's listing lags).
  if (++st.listings_since_ready < 2)
    return;
  // A channel adopted from the first listing but missing from the second was already gone (the
  // listing lags behind hangups too): close its record, nothing will come for it.
  for (const auto& uuid : st.adopted_unconfirmed) {
    auto it = st.calls.find(uuid);
    if (it == st.calls.end() || listed.contains(uuid))
      continue;
    spdlog::warn("recovery: adopted channel {} is gone; closing its record", uuid);
    self->send(it->second.handle,
               end_call{persistence::end_reason::engine_restart, "UNKNOWN", false});
  }
  st.adopted_unconfirmed.clear();
  if (!st.journal_reconciled && st.options.journal.list) {
    st.journal_reconciled = true;
    st.listed_at_start = listed;
    caf::actor handle = caf::actor_cast<caf::actor>(self);
    st.options.journal.list([handle](std::vector<std::pair<std::string, std::string>> entries) {
      caf::anon_send(handle, journal_entries{std::move(entries)});
    });
  }
  if (st.link_lost_at_us == 0)
    return;
  for (auto& [uuid, call] : st.calls) {
    if (call.mode != persistence::esl_mode::inbound || listed.contains(uuid)
        || call.created_us >= st.link_lost_at_us)
      continue;
    spdlog::warn("recovery: channel {} is gone after the ESL link was lost; closing its record",
                 uuid);
    st.metrics->lost.increment();
    self->send(call.handle, end_call{persistence::end_reason::node_lost, "LOSE_RACE", false});
  }
  st.link_lost_at_us = 0;
}

/// The inbound link's totals, read at each scrape.
void register_link_metrics(metrics_registry& m, std::shared_ptr<esl::inbound_client> client) {
  auto read = [client](std::atomic<std::uint64_t> esl::connection_counters::*member) {
    return [client, member] { return static_cast<double>((client->counters().*member).load()); };
  };
  using cc = esl::connection_counters;
  m.callback_gauge("callgrid_esl_received_bytes_total", "Bytes read from the inbound ESL link",
                   {}, read(&cc::bytes_received));
  m.callback_gauge("callgrid_esl_sent_bytes_total", "Bytes written to the inbound ESL link", {},
                   read(&cc::bytes_sent));
  m.callback_gauge("callgrid_esl_commands_total", "Commands sent on the inbound ESL link", {},
                   read(&cc::commands_sent));
  m.callback_gauge("callgrid_esl_commands_rejected_total",
                   "Commands not sent: the link was down or its queue full", {},
                   read(&cc::commands_rejected));
  m.callback_gauge("callgrid_esl_protocol_errors_total",
                   "Inbound ESL links closed for a corrupt stream or a reply timeout", {},
                   read(&cc::protocol_errors));
}

/// Calls in the journal that nobody owns and FreeSWITCH no longer lists ended while callgridd
/// was down: each gets a record closed with `engine_restart` (what is known: who, when it
/// started; the hangup cause is unknown).
void close_leftover_calls(supervisor_pointer self, journal_entries& leftovers) {
  auto& st = self->state;
  for (auto& [uuid, text] : leftovers.entries) {
    if (st.calls.contains(uuid) || st.listed_at_start.contains(uuid))
      continue;
    auto snapshot = nlohmann::json::parse(text, nullptr, false);
    if (snapshot.is_discarded() || !snapshot.is_object()) {
      spdlog::warn("recovery: unreadable session snapshot of call {}; dropped", uuid);
      st.options.journal.drop(uuid);
      continue;
    }
    call_setup setup;
    setup.uuid = uuid;
    setup.caller = snapshot.value("caller", "");
    setup.callee = snapshot.value("callee", "");
    setup.node = snapshot.value("node", st.options.node_name);
    setup.mode = snapshot.value("mode", "inbound") == "outbound" ? persistence::esl_mode::outbound
                                                                 : persistence::esl_mode::inbound;
    setup.created_us = snapshot.value("created_us", int64_t{0});
    if (snapshot.contains("route_id")) {
      route r;
      r.id = snapshot.value("route_id", int64_t{0});
      if (snapshot.contains("flow_id"))
        r.flow_id = snapshot.value("flow_id", int64_t{0});
      setup.matched_route = r;
    }
    call_state call{std::move(setup)};
    call.end_untracked(persistence::end_reason::engine_restart, "UNKNOWN", wall_clock_us());
    spdlog::warn("call {}: ended while callgridd was down; recorded with end reason "
                 "engine_restart",
                 uuid);
    st.metrics->recovered_records.increment();
    self->send(st.options.records, record_message{call.make_record()});
    st.options.journal.drop(uuid);
  }
  st.listed_at_start.clear();
}

/// Asks FreeSWITCH for `status`: it says "is ready" once it takes calls (not while shutting
/// down); the answer sets `freeswitch_ready` (the cluster admits a node only when it is set).
void check_freeswitch_ready(supervisor_pointer self) {
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  self->state.client->api("status", [handle](caf::expected<std::string> output) {
    bool ready = output && output->find(" is ready") != std::string::npos;
    caf::anon_send(handle, freeswitch_status{ready});
  });
}

/// Sends an api command whose only effect is on FreeSWITCH (pause, resume), logging failures.
/// Logged on failure only: FreeSWITCH's own log has the rest.
void send_switch_command(supervisor_pointer self, std::string command) {
  self->state.client->api(command, [command](caf::expected<std::string> output) {
    if (!output)
      spdlog::error("'{}' failed: {}", command, esl::render_error(output.error()));
    else if (output->starts_with("-ERR"))
      spdlog::error("'{}' answered {}", command, *output);
    else
      spdlog::debug("'{}' done", command);
  });
}

constexpr auto drain_tick_interval = 200ms;

int64_t wall_clock_ms() { return wall_clock_us() / 1000; }

void begin_drain(supervisor_pointer self, start_drain request) {
  auto& st = self->state;
  st.drain_deadline_unix_ms = request.deadline_unix_ms;
  if (st.load.phase != drain_phase::none) {
    spdlog::info("drain: deadline changed ({} calls left)", st.calls.size());
    return;
  }
  spdlog::info("drain: started ({}), {} calls up, deadline {}",
               request.reason.empty() ? "no reason given" : request.reason, st.calls.size(),
               request.deadline_unix_ms == 0 ? std::string{"none"}
                                             : std::to_string(request.deadline_unix_ms));
  st.load.phase = drain_phase::draining;
  st.load.hung_up_at_deadline = 0;
  st.deadline_hangups_sent = false;
  send_switch_command(self, "fsctl pause inbound");
  self->send(self, caf::tick_atom_v);
}

void end_drain(supervisor_pointer self) {
  auto& st = self->state;
  if (st.load.phase == drain_phase::none)
    return;
  spdlog::info("drain: cancelled; accepting calls again");
  st.load.phase = drain_phase::none;
  st.drain_deadline_unix_ms = 0;
  send_switch_command(self, "fsctl resume inbound");
}

/// One step of the drain, every `drain_tick_interval` while it runs: the deadline's hangups,
/// then the spool flush once the last call is gone.
void advance_drain(supervisor_pointer self) {
  auto& st = self->state;
  if (st.load.phase == drain_phase::none || st.load.phase == drain_phase::drained)
    return;
  if (st.load.phase == drain_phase::draining) {
    if (st.drain_deadline_unix_ms != 0 && !st.deadline_hangups_sent
        && wall_clock_ms() >= st.drain_deadline_unix_ms && !st.calls.empty()) {
      st.deadline_hangups_sent = true;
      st.load.hung_up_at_deadline = static_cast<int32_t>(st.calls.size());
      spdlog::warn("drain: deadline reached; hanging up {} calls with SYSTEM_SHUTDOWN",
                   st.calls.size());
      for (auto& [uuid, call] : st.calls)
        self->send(call.handle,
                   end_call{persistence::end_reason::node_drain, "SYSTEM_SHUTDOWN", true});
    }
    if (st.calls.empty()) {
      spdlog::info("drain: no calls left; flushing the record spool");
      st.load.phase = drain_phase::flushing;
    }
  }
  if (st.load.phase == drain_phase::flushing && !st.flush_in_flight) {
    st.flush_in_flight = true;
    self->request(st.options.records, 30s, caf::flush_atom_v)
      .then(
        [self](uint64_t pending) {
          auto& state = self->state;
          state.flush_in_flight = false;
          state.load.spool_depth = static_cast<int32_t>(pending);
          if (pending == 0 && state.load.phase == drain_phase::flushing) {
            state.load.phase = drain_phase::drained;
            spdlog::info("drain: drained (every record is in PostgreSQL)");
          }
        },
        [self](caf::error& err) {
          self->state.flush_in_flight = false;
          spdlog::warn("drain: flushing the record spool failed: {}", caf::to_string(err));
        });
  }
  self->delayed_send(self, drain_tick_interval, caf::tick_atom_v);
}

node_supervisor_actor::behavior_type node_supervisor_impl(supervisor_pointer self,
                                                          node_supervisor_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.load.capacity = st.options.capacity;
  auto& m = *st.options.metrics;
  st.metrics.emplace(supervisor_metrics{
    m.counter("callgrid_calls_started_total", "Calls taken over by this node's engine"),
    m.counter("callgrid_esl_events_total", "ESL events received on the inbound link"),
    m.counter("callgrid_esl_unowned_events_total",
              "Channel events for channels no call actor owns (dropped)"),
    m.counter("callgrid_esl_reconnects_total", "Times the inbound ESL link became ready again"),
    m.counter("callgrid_calls_adopted_total", "Parked channels re-adopted after a (re)connect"),
    m.counter("callgrid_calls_lost_total",
              "Calls closed because their channel was gone after a link loss"),
    m.counter("callgrid_calls_recorded_after_restart_total",
              "Calls that ended while callgridd was down, recorded from the session journal"),
    m.counter("callgrid_esl_late_events_total",
              "Events that reached the supervisor more than 1 s after FreeSWITCH stamped them"),
    m.gauge("callgrid_esl_event_lag_seconds",
            "Delay of the last event from FreeSWITCH's timestamp to the supervisor"),
    m.gauge("callgrid_esl_up", "1 while the inbound ESL link is ready"),
    m.gauge("callgrid_freeswitch_sessions", "Session-Count of FreeSWITCH's last HEARTBEAT"),
    m.gauge("callgrid_freeswitch_max_sessions", "Max-Sessions of FreeSWITCH's last HEARTBEAT"),
    m.gauge("callgrid_freeswitch_idle_cpu_ratio",
            "Idle-CPU of FreeSWITCH's last HEARTBEAT, as a ratio"),
  });
  auto esl_options = st.options.esl;
  esl_options.events.clear();
  std::istringstream names{node_supervisor_events};
  for (std::string name; names >> name;)
    esl_options.events.push_back(name);
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  st.client = esl::inbound_client::make(
    *st.options.io, std::move(esl_options),
    {.on_event =
       [handle](esl::frame&& f) {
         caf::anon_send(handle, esl_event{std::make_shared<const esl::frame>(std::move(f))});
       },
     .on_state =
       [handle](esl::link_state state, const caf::error& why) {
         caf::anon_send(handle, link_status{state == esl::link_state::ready,
                                            why ? esl::render_error(why) : std::string{}});
       }});
  st.client->start();
  self->attach_functor([client = st.client] { client->stop(); });
  register_link_metrics(m, st.client);
  self->set_down_handler([self](caf::down_msg& down) {
    auto& state = self->state;
    auto it = state.uuid_by_actor.find(down.source);
    if (it == state.uuid_by_actor.end())
      return;
    auto call = state.calls.find(it->second);
    if (call != state.calls.end() && call->second.handle.address() == down.source) {
      // The actor handed its record to the writer before it exited.
      if (state.options.journal.drop)
        state.options.journal.drop(call->first);
      state.calls.erase(call);
    }
    state.uuid_by_actor.erase(it);
    state.load.live_calls = static_cast<int32_t>(state.calls.size());
  });
  return {
    [self](esl_event& ev) {
      auto& state = self->state;
      state.metrics->events.increment();
      // How far behind FreeSWITCH's clock the event reaches us (both clocks are this host's).
      if (auto stamp = to_int(ev.frame->field("Event-Date-Timestamp").value_or("0")); stamp > 0) {
        auto lag = static_cast<double>(wall_clock_us() - stamp) / 1e6;
        state.metrics->event_lag.set(lag);
        if (lag > 1.0)
          state.metrics->late_events.increment();
      }
      auto name = ev.frame->event_name();
      if (name == "CHANNEL_PARK") {
        on_park(self, std::move(ev.frame));
        return;
      }
      if (name == "HEARTBEAT") {
        on_heartbeat(state, *ev.frame);
        return;
      }
      auto it = state.calls.find(std::string{ev.frame->unique_id()});
      if (it == state.calls.end() || it->second.mode != persistence::esl_mode::inbound) {
        if (it == state.calls.end())
          state.metrics->unowned_events.increment();
        return;
      }
      self->send(it->second.handle, std::move(ev));
    },
    [self](link_status& status) {
      auto& state = self->state;
      state.load.esl_ready = status.ready;
      if (!status.ready)
        state.load.freeswitch_ready = false;
      state.metrics->esl_up.set(status.ready ? 1 : 0);
      if (status.ready) {
        spdlog::info("ESL link to FreeSWITCH ready");
        if (state.ever_ready)
          state.metrics->reconnects.increment();
        state.ever_ready = true;
        state.listings_since_ready = 0;
        request_listing(self);
        check_freeswitch_ready(self);
        // A drain pauses FreeSWITCH's inbound calls; a daemon that stopped or lost the link
        // during one must not leave the node refusing calls when no drain is under way.
        if (state.load.phase == drain_phase::none)
          send_switch_command(self, "fsctl resume inbound");
        else
          send_switch_command(self, "fsctl pause inbound");
        // FreeSWITCH lists channels from its core database, which lags up to a second behind:
        // a second look catches channels created just before the (re)connect.
        self->delayed_send(self, relisting_delay, relist_channels{});
      } else {
        if (state.link_lost_at_us == 0 && state.ever_ready)
          state.link_lost_at_us = wall_clock_us();
        // One line per distinct reason and at most one every 30 s for a repeating one, so a
        // FreeSWITCH that stays down does not flood the log at every backoff step.
        auto now = std::chrono::steady_clock::now();
        if (!status.why.empty()
            && (status.why != state.last_link_warning || now - state.last_link_warning_at > 30s)) {
          spdlog::warn("ESL link to FreeSWITCH not ready: {}", status.why);
          state.last_link_warning = status.why;
          state.last_link_warning_at = now;
        }
      }
    },
    [self](channel_listing& listing) { reconcile(self, listing); },
    [self](journal_entries& leftovers) { close_leftover_calls(self, leftovers); },
    [self](freeswitch_status status) { self->state.load.freeswitch_ready = status.ready; },
    [self](relist_channels) {
      if (self->state.load.esl_ready)
        request_listing(self);
    },
    [self](outbound_call& call) {
      auto& state = self->state;
      auto session = call.session;
      const auto& data = session->channel_data();
      auto setup = make_setup(
        state, std::string{data.unique_id()},
        std::string{data.field("Caller-Caller-ID-Number").value_or("")},
        std::string{data.field("Caller-Destination-Number").value_or("")},
        to_int(data.field("Caller-Channel-Created-Time").value_or("0")),
        data.field("Answer-State") == std::optional<std::string_view>{"answered"},
        persistence::esl_mode::outbound);
      auto uuid = setup.uuid;
      start_call(self, std::move(setup), make_outbound_link(session));
      auto call_handle = state.calls.at(uuid).handle;
      session->start(
        [call_handle](esl::frame&& f) {
          caf::anon_send(call_handle, esl_event{std::make_shared<const esl::frame>(std::move(f))});
        },
        [call_handle](const caf::error&) {
          // The socket closed; if the call had not ended by its events, end it now.
          caf::anon_send(call_handle, end_call{persistence::end_reason::normal, "NORMAL_CLEARING",
                                          false});
        });
    },
    [self](catalog_update& update) { self->state.options.catalog = std::move(update.catalog); },
    [self](load_query) { return self->state.load; },
    [self](start_drain& request) { begin_drain(self, std::move(request)); },
    [self](cancel_drain) { end_drain(self); },
    [self](caf::tick_atom) { advance_drain(self); },
  };
}

} // namespace

node_supervisor_actor spawn_node_supervisor(caf::actor_system& system,
                                            node_supervisor_options options) {
  return system.spawn(node_supervisor_impl, std::move(options));
}

} // namespace callgrid::actors
