#include "actors/call_actor.hpp"

#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/channel_link.hpp"
#include "actors/metrics_registry.hpp"
#include "esl/frame.hpp"
#include "ivr/flow.hpp"

namespace callgrid::actors {

namespace {

struct call_actor_state {
  static inline const char* name = "call";

  /// The hosted call; empty while the actor waits in the supervisor's pool.
  std::optional<call_state> call;
  call_context context;
  std::vector<call_action> actions;
  bool finished = false;
  /// Counts the calls this actor hosted; its timers and lookups carry it.
  uint64_t serial = 0;
  /// callgrid_event_to_command_seconds and callgrid_live_calls, looked up once per actor (null
  /// without metrics).
  metric_histogram* reaction_times = nullptr;
  metric_gauge* live_calls = nullptr;
  /// The callgrid_calls_total and callgrid_ivr_outcomes_total series this actor counted into,
  /// by disposition or flow and outcome: a pooled actor looks each one up in the registry once.
  std::vector<std::pair<std::string, metric_counter*>> end_counters;
};

using call_pointer = call_actor::stateful_pointer<call_actor_state>;

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

metric_gauge& live_calls_gauge(metrics_registry& metrics) {
  return metrics.gauge("callgrid_live_calls", "Calls in progress on this node");
}

metric_histogram& reaction_time_histogram(metrics_registry& metrics) {
  return metrics.histogram(
    "callgrid_event_to_command_seconds",
    "From reading a channel event off the ESL socket to writing the first command it caused "
    "(the engine's own share of a call's reaction time)",
    {0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01,
     0.025, 0.05, 0.1, 0.25, 1.0});
}

/// The counter `key` names in the actor's cache, looked up with `lookup` the first time.
template <class Lookup>
metric_counter& end_counter(call_actor_state& st, std::string key, Lookup&& lookup) {
  for (const auto& [cached_key, counter] : st.end_counters)
    if (cached_key == key)
      return *counter;
  auto& counter = lookup();
  st.end_counters.emplace_back(std::move(key), &counter);
  return counter;
}

/// The call is over: count it, hand its record to the writer, then exit or wait for the next.
void finish(call_pointer self) {
  auto& st = self->state;
  auto& ctx = st.context;
  st.finished = true;
  auto record = st.call->make_record();
  if (ctx.metrics) {
    st.live_calls->add(-1);
    auto& metrics = *ctx.metrics;
    end_counter(st, "disposition\n" + record.disposition, [&]() -> metric_counter& {
      return metrics.counter("callgrid_calls_total", "Calls ended on this node, by disposition",
                             {{"disposition", record.disposition}});
    }).increment();
    if (auto outcome = st.call->ivr_outcome(); !outcome.empty() && st.call->setup().flow) {
      const auto& flow = st.call->setup().flow->name();
      // The node label is this daemon's name, the same for every call.
      end_counter(st, "ivr\n" + flow + "\n" + outcome, [&]() -> metric_counter& {
        return metrics.counter("callgrid_ivr_outcomes_total",
                               "IVR sessions ended, by flow and outcome",
                               {{"flow", flow}, {"node", record.node}, {"outcome", outcome}});
      }).increment();
    }
  }
  spdlog::info("call {}: ended, cause {}, disposition {}, {} ms", record.call_uuid,
               record.hangup_cause, record.disposition, record.duration_ms);
  auto uuid = record.call_uuid;
  self->send(ctx.records, record_message{std::move(record)});
  ctx.link->release();
  if (!ctx.on_finished) {
    self->quit();
    return;
  }
  st.call.reset();
  ctx.link.reset();
  ctx.on_finished(call_finished{std::move(uuid), caf::actor_cast<call_actor>(self)});
}

/// Executes what the call asked for, then writes the record if the leg is over. `cause_read_at`:
/// when the event these actions answer was read off the socket (the epoch for a timer or a
/// lookup); the first command is timed from there.
void perform(call_pointer self,
             std::chrono::steady_clock::time_point cause_read_at = {}) {
  auto& st = self->state;
  auto& ctx = st.context;
  auto time_reaction = [&] {
    if (cause_read_at == std::chrono::steady_clock::time_point{} || !st.reaction_times)
      return;
    st.reaction_times->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - cause_read_at).count());
    cause_read_at = {};
  };
  for (auto& action : st.actions) {
    std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, execute_app>) {
          ctx.link->execute(a.app, a.arg, a.event_uuid);
          time_reaction();
        } else if constexpr (std::is_same_v<T, hangup_channel>) {
          ctx.link->hangup(a.cause);
          time_reaction();
        } else if constexpr (std::is_same_v<T, run_api>) {
          ctx.link->api(a.command);
          time_reaction();
        } else if constexpr (std::is_same_v<T, arm_timer>) {
          self->delayed_send(self, a.after, call_timer{a.id, st.serial});
        } else if constexpr (std::is_same_v<T, disarm_timer>) {
          // Stale expiries are ignored by the IVR session; nothing to cancel here.
        } else if constexpr (std::is_same_v<T, lookup_hot_data>) {
          if (!ctx.lookup) {
            self->send(self, lookup_answer{a.id, std::nullopt, false, st.serial});
            return;
          }
          auto id = a.id;
          auto serial = st.serial;
          caf::actor handle = caf::actor_cast<caf::actor>(self);
          ctx.lookup(a.key, a.budget,
                     [handle, id, serial](std::optional<std::string> value, bool timed_out) {
                       caf::anon_send(handle,
                                      lookup_answer{id, std::move(value), timed_out, serial});
                     });
        }
      },
      action);
  }
  st.actions.clear();
  if (st.call->ended() && !st.finished)
    finish(self);
}

/// Starts hosting a call: its route runs at once.
void host(call_pointer self, call_setup setup, std::shared_ptr<channel_link> link) {
  auto& st = self->state;
  ++st.serial;
  st.finished = false;
  st.actions.clear();
  st.context.link = std::move(link);
  st.call.emplace(std::move(setup));
  if (st.context.metrics) {
    if (!st.live_calls) {
      st.live_calls = &live_calls_gauge(*st.context.metrics);
      st.reaction_times = &reaction_time_histogram(*st.context.metrics);
    }
    st.live_calls->add(1);
  }
  auto started_by = st.call->setup().started_by_event_at;
  st.call->start(std::chrono::system_clock::now(), st.actions);
  perform(self, started_by);
}

/// Whether a message may go to the hosted call: there is one and it has not ended.
bool hosting(call_pointer self) {
  return self->state.call && !self->state.finished;
}

call_actor::behavior_type call_actor_impl(call_pointer self, call_setup setup,
                                          call_context context) {
  self->state.context = std::move(context);
  self->set_exception_handler([self](std::exception_ptr& eptr) -> caf::error {
    auto& state = self->state;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (!hosting(self)) {
      spdlog::error("call actor failed while idle: {}", what);
      return caf::exit_reason::unhandled_exception;
    }
    spdlog::error("call {}: engine failure, hanging up: {}", state.call->setup().uuid, what);
    // A failed actor is not pooled again: it ends after this call's record.
    state.context.on_finished = nullptr;
    state.actions.clear();
    state.call->fail("NORMAL_TEMPORARY_FAILURE", state.actions);
    state.call->end_untracked(persistence::end_reason::normal, "NORMAL_TEMPORARY_FAILURE",
                              wall_clock_us());
    perform(self);
    return caf::exit_reason::unhandled_exception;
  });
  auto link = std::move(self->state.context.link);
  host(self, std::move(setup), std::move(link));
  return {
    [self](esl_event& ev) {
      if (!hosting(self))
        return;
      // Events of an earlier call may still be queued when a pooled actor gets its next one.
      auto id = ev.frame->unique_id();
      if (!id.empty() && id != self->state.call->setup().uuid)
        return;
      self->state.call->on_event(*ev.frame, self->state.actions);
      perform(self, ev.frame->received_at());
    },
    [self](call_timer timer) {
      if (!hosting(self) || timer.serial != self->state.serial)
        return;
      self->state.call->on_timer(timer.id, self->state.actions);
      perform(self);
    },
    [self](lookup_answer& answer) {
      if (!hosting(self) || answer.serial != self->state.serial)
        return;
      self->state.call->on_lookup(answer.id, std::move(answer.value), answer.timed_out,
                                  self->state.actions);
      perform(self);
    },
    [self](end_call& request) {
      if (!hosting(self))
        return;
      auto& call = *self->state.call;
      if (request.hang_up)
        self->state.actions.push_back(hangup_channel{request.cause});
      call.end_untracked(request.reason, request.cause, wall_clock_us());
      perform(self);
    },
    [self](link_restored) {
      if (!hosting(self))
        return;
      self->state.call->on_link_restored(self->state.actions);
      perform(self);
    },
    [self](host_call& next) {
      if (self->state.call) {
        spdlog::error("call {}: its actor was given call {} while still busy; refused",
                      self->state.call->setup().uuid, next.setup.uuid);
        return;
      }
      host(self, std::move(next.setup), std::move(next.link));
    },
  };
}

} // namespace

call_actor spawn_call_actor(caf::actor_system& system, call_setup setup, call_context context) {
  return system.spawn(call_actor_impl, std::move(setup), std::move(context));
}

} // namespace callgrid::actors
