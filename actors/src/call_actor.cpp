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

  std::optional<call_state> call;
  call_context context;
  std::vector<call_action> actions;
  bool finished = false;
};

using call_pointer = call_actor::stateful_pointer<call_actor_state>;

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Executes what the call asked for, then writes the record and exits if the leg is over.
void perform(call_pointer self) {
  auto& st = self->state;
  auto& ctx = st.context;
  const auto& uuid = st.call->setup().uuid;
  auto on_failure = [uuid](std::string why) {
    spdlog::warn("call {}: FreeSWITCH refused a command: {}", uuid, why);
  };
  for (auto& action : st.actions) {
    std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, execute_app>) {
          ctx.link->execute(a.app, a.arg, a.event_uuid, on_failure);
        } else if constexpr (std::is_same_v<T, hangup_channel>) {
          ctx.link->hangup(a.cause, on_failure);
        } else if constexpr (std::is_same_v<T, run_api>) {
          ctx.link->api(a.command, on_failure);
        } else if constexpr (std::is_same_v<T, arm_timer>) {
          self->delayed_send(self, a.after, call_timer{a.id});
        } else if constexpr (std::is_same_v<T, disarm_timer>) {
          // Stale expiries are ignored by the IVR session; nothing to cancel here.
        } else if constexpr (std::is_same_v<T, lookup_hot_data>) {
          if (!ctx.lookup) {
            self->send(self, lookup_answer{a.id, std::nullopt, false});
            return;
          }
          auto id = a.id;
          caf::actor handle = caf::actor_cast<caf::actor>(self);
          ctx.lookup(a.key, a.budget,
                     [handle, id](std::optional<std::string> value, bool timed_out) {
                       caf::anon_send(handle, lookup_answer{id, std::move(value), timed_out});
                     });
        }
      },
      action);
  }
  st.actions.clear();
  if (st.call->ended() && !st.finished) {
    st.finished = true;
    auto record = st.call->make_record();
    if (ctx.metrics) {
      ctx.metrics->gauge("callgrid_live_calls", "Calls in progress on this node").add(-1);
      ctx.metrics
        ->counter("callgrid_calls_total", "Calls ended on this node, by disposition",
                  {{"disposition", record.disposition}})
        .increment();
      if (auto outcome = st.call->ivr_outcome(); !outcome.empty() && st.call->setup().flow)
        ctx.metrics
          ->counter("callgrid_ivr_outcomes_total", "IVR sessions ended, by flow and outcome",
                    {{"flow", st.call->setup().flow->name()},
                     {"node", record.node},
                     {"outcome", outcome}})
          .increment();
    }
    spdlog::info("call {}: ended, cause {}, disposition {}, {} ms", uuid, record.hangup_cause,
                 record.disposition, record.duration_ms);
    self->send(ctx.records, record_message{std::move(record)});
    ctx.link->release();
    self->quit();
  }
}

call_actor::behavior_type call_actor_impl(call_pointer self, call_setup setup,
                                          call_context context) {
  auto& st = self->state;
  st.call.emplace(std::move(setup));
  st.context = std::move(context);
  if (st.context.metrics)
    st.context.metrics->gauge("callgrid_live_calls", "Calls in progress on this node").add(1);
  self->set_exception_handler([self](std::exception_ptr& eptr) -> caf::error {
    auto& state = self->state;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("call {}: engine failure, hanging up: {}", state.call->setup().uuid, what);
    state.actions.clear();
    state.call->fail("NORMAL_TEMPORARY_FAILURE", state.actions);
    state.call->end_untracked(persistence::end_reason::normal, "NORMAL_TEMPORARY_FAILURE",
                              wall_clock_us());
    perform(self);
    return caf::exit_reason::unhandled_exception;
  });
  st.call->start(std::chrono::system_clock::now(), st.actions);
  perform(self);
  return {
    [self](esl_event& ev) {
      self->state.call->on_event(*ev.frame, self->state.actions);
      perform(self);
    },
    [self](call_timer timer) {
      self->state.call->on_timer(timer.id, self->state.actions);
      perform(self);
    },
    [self](lookup_answer& answer) {
      self->state.call->on_lookup(answer.id, std::move(answer.value), answer.timed_out,
                                  self->state.actions);
      perform(self);
    },
    [self](end_call& request) {
      auto& call = *self->state.call;
      if (request.hang_up)
        self->state.actions.push_back(hangup_channel{request.cause});
      call.end_untracked(request.reason, request.cause, wall_clock_us());
      perform(self);
    },
    [self](link_restored) {
      self->state.call->on_link_restored(self->state.actions);
      perform(self);
    },
  };
}

} // namespace

call_actor spawn_call_actor(caf::actor_system& system, call_setup setup, call_context context) {
  return system.spawn(call_actor_impl, std::move(setup), std::move(context));
}

} // namespace callgrid::actors
