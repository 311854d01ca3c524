#include "actors/call_state.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <span>

#include "actors/bridge_legs.hpp"
#include "esl/frame.hpp"

namespace callgrid::actors {

namespace {

std::optional<int64_t> text_as_int(std::optional<std::string_view> text) {
  if (!text || text->empty())
    return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc{} || end != text->data() + text->size())
    return std::nullopt;
  return value;
}

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Whether `text` reads like a FreeSWITCH hangup cause (USER_BUSY, NO_ANSWER, ...).
bool is_cause_name(std::string_view text) {
  return !text.empty() && text != "SUCCESS" && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const char* disposition_for(ivr::outcome result) {
  switch (result) {
    case ivr::outcome::running:
      return "in_ivr";
    case ivr::outcome::transferred:
      return "transferred";
    case ivr::outcome::bridged:
      return "bridged";
    case ivr::outcome::hung_up_by_flow:
      return "ivr_completed";
    case ivr::outcome::caller_hung_up:
      return "abandoned";
    case ivr::outcome::escalated:
      return "escalated";
    case ivr::outcome::failed:
      return "ivr_failed";
  }
  return "unknown";
}

} // namespace

const char* to_string(call_phase phase) noexcept {
  switch (phase) {
    case call_phase::created:
      return "created";
    case call_phase::running:
      return "running";
    case call_phase::hanging_up:
      return "hanging_up";
    case call_phase::ended:
      return "ended";
  }
  return "unknown";
}

call_state::call_state(call_setup setup) : setup_(std::move(setup)) {
}

call_state::~call_state() = default;
call_state::call_state(call_state&&) noexcept = default;
call_state& call_state::operator=(call_state&&) noexcept = default;

void call_state::start_bridge(std::string_view dial_string, std::vector<call_action>& out) {
  auto named = name_far_legs(dial_string, setup_.uuid, next_far_leg_, setup_.answer_timeout);
  next_far_leg_ += named.legs;
  bridging_ = true;
  // FreeSWITCH hangs the caller up when a bridge that connected ends, unless the caller was
  // transferred meanwhile (a blind transfer by the far party's phone): it knows, the bridge's
  // completion does not say. The set's completion is one the node's link skips unread.
  out.push_back(execute_app{"set", "hangup_after_bridge=true", next_event_uuid()});
  out.push_back(execute_app{"bridge", std::move(named.text), next_event_uuid()});
  bridge_event_ = event_counter_;
}

bool call_state::ends_bridge(const esl::frame& completion,
                             std::optional<std::string_view> app_uuid) const {
  if (!bridging_)
    return false;
  if (bridge_event_ != 0)
    return app_uuid == std::optional<std::string_view>{event_uuid(bridge_event_)};
  // A re-adopted bridged leg: its bridge was sent before the restart.
  return completion.field("Application") == std::optional<std::string_view>{"bridge"};
}

void call_state::end_of_bridge(const esl::frame& completion, std::vector<call_action>& out) {
  bridging_ = false;
  // Its completion said `Answer-State: hangup` (note_hangup ran): nothing left to end.
  if (phase_ != call_phase::running)
    return;
  // The bridge application returned and the channel is still up. After a bridge that connected
  // that means the caller was transferred during it (hangup_after_bridge, see start_bridge,
  // hangs up the others): it goes on elsewhere, and its record comes at its hangup. A bridge
  // that failed leaves the caller up after NO_ANSWER (or when continue_on_fail says so): the
  // route has nothing after a bridge, and the channel would wait in park (or on its socket) in
  // silence, so the call ends here.
  enum slot { dial_status, failed_cause, originate_disposition, slots };
  static constexpr std::array<std::string_view, slots> names{
    "variable_DIALSTATUS", "variable_originate_failed_cause", "variable_originate_disposition"};
  std::array<std::optional<std::string_view>, slots> found;
  completion.find_fields(names, found);
  if (found[dial_status] == std::optional<std::string_view>{"SUCCESS"})
    return;
  // Never connected: the caller gets the far end's cause (a busy far end, a busy caller).
  std::string cause = "NORMAL_TEMPORARY_FAILURE";
  for (auto which : {failed_cause, originate_disposition})
    if (found[which] && is_cause_name(*found[which])) {
      cause = std::string{*found[which]};
      break;
    }
  disposition_ = "bridge_failed";
  send_hangup(std::move(cause), out);
}

std::string call_state::event_uuid(uint32_t number) const {
  // Unique per call and cheap: the channel UUID plus a counter.
  return setup_.uuid + "-" + std::to_string(number);
}

std::string call_state::next_event_uuid() {
  return event_uuid(++event_counter_);
}

void call_state::start(std::chrono::system_clock::time_point now, std::vector<call_action>& out) {
  started_at_ = now;
  if (!setup_.watch_only_as.empty()) {
    // Re-adopted while bridged or transferred: FreeSWITCH runs the leg; we wait for its end.
    phase_ = call_phase::running;
    disposition_ = setup_.watch_only_as;
    // A bridged leg's bridge is ours (its route ran before the restart): when it ends with the
    // channel still up, the call ends (see end_of_bridge).
    bridging_ = setup_.watch_only_as == "bridged";
    return;
  }
  if (!setup_.matched_route) {
    disposition_ = "no_route";
    send_hangup("NO_ROUTE_DESTINATION", out);
    return;
  }
  const auto& r = *setup_.matched_route;
  if (r.action == route_action::hangup) {
    disposition_ = "rejected";
    send_hangup(r.hangup_cause.empty() ? "CALL_REJECTED" : r.hangup_cause, out);
    return;
  }
  if (r.action == route_action::flow && !setup_.flow) {
    disposition_ = "flow_missing";
    send_hangup("SERVICE_UNAVAILABLE", out);
    return;
  }
  if (r.answer && !setup_.already_answered) {
    // The answer and the route's first actions leave together, without waiting for the
    // answer's confirmation: FreeSWITCH runs the applications queued on a channel in order, so
    // the first prompt starts once the answer is done. Waiting cost a round trip per call, and
    // the answer's completion need not be read at all (the node supervisor's link skips it).
    // If the answer fails, the channel hangs up and its final event says so (note_hangup). The
    // answer time comes from CHANNEL_ANSWER where it is read, and from the final event.
    out.push_back(execute_app{"answer", "", next_event_uuid()});
  }
  begin_action(out);
}

void call_state::begin_action(std::vector<call_action>& out) {
  phase_ = call_phase::running;
  const auto& r = *setup_.matched_route;
  if (r.action == route_action::bridge) {
    disposition_ = "bridged";
    start_bridge(r.bridge_target, out);
    return;
  }
  disposition_ = "in_ivr";
  ivr_ = std::make_unique<ivr::session>(setup_.flow);
  ivr::call_facts facts;
  facts.caller = setup_.caller;
  facts.callee = setup_.callee;
  facts.campaign = setup_.campaign;
  feed_ivr(ivr::started{std::move(facts), started_at_}, out);
}

void call_state::feed_ivr(const ivr::event& event, std::vector<call_action>& out) {
  if (!ivr_ || ivr_->finished())
    return;
  std::vector<ivr::command> commands;
  ivr_->handle(event, commands);
  for (auto& cmd : commands) {
    std::visit(
      [&](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, ivr::play_prompt>) {
          playing_.push_back(next_event_uuid());
          out.push_back(execute_app{"playback", std::move(c.uri), playing_.back()});
        } else if constexpr (std::is_same_v<T, ivr::stop_prompt>) {
          // Breaks the playback in progress; its completion still counts as its prompt's end.
          out.push_back(run_api{"uuid_break " + setup_.uuid});
        } else if constexpr (std::is_same_v<T, ivr::start_timer>) {
          out.push_back(arm_timer{c.timer_id, c.after});
        } else if constexpr (std::is_same_v<T, ivr::cancel_timer>) {
          out.push_back(disarm_timer{c.timer_id});
        } else if constexpr (std::is_same_v<T, ivr::start_lookup>) {
          out.push_back(lookup_hot_data{c.request_id, std::move(c.key), c.budget});
        } else if constexpr (std::is_same_v<T, ivr::set_variable>) {
          out.push_back(execute_app{"set", c.name + "=" + c.value, next_event_uuid()});
        } else if constexpr (std::is_same_v<T, ivr::transfer_call>) {
          out.push_back(execute_app{"transfer", std::move(c.target), next_event_uuid()});
        } else if constexpr (std::is_same_v<T, ivr::bridge_call>) {
          start_bridge(c.endpoint, out);
        } else if constexpr (std::is_same_v<T, ivr::hang_up>) {
          send_hangup(c.cause.empty() ? "NORMAL_CLEARING" : std::move(c.cause), out);
        }
      },
      cmd);
  }
  if (ivr_->finished())
    disposition_ = disposition_for(ivr_->result());
}

void call_state::send_hangup(std::string cause, std::vector<call_action>& out) {
  if (phase_ != call_phase::ended)
    phase_ = call_phase::hanging_up;
  if (hangup_sent_)
    return;
  hangup_sent_ = true;
  out.push_back(hangup_channel{std::move(cause)});
}

void call_state::on_event(const esl::frame& event, std::vector<call_action>& out) {
  if (phase_ == call_phase::ended)
    return;
  if (event.type() == esl::content_type::disconnect_notice) {
    // Outbound socket: a `disconnect` notice means FreeSWITCH closes the socket; with linger
    // the final events came before it, without linger they never will.
    auto disposition = event.header("Content-Disposition");
    if (!disposition || *disposition == "disconnect") {
      if (ivr_ && !ivr_->finished())
        feed_ivr(ivr::caller_hung_up{}, out);
      end_untracked(persistence::end_reason::normal,
                    hangup_cause_.empty() ? "NORMAL_CLEARING" : hangup_cause_, now_us());
    }
    return;
  }
  auto name = event.event_name();
  // What an event is read for, found in one pass over it (esl::frame::find_fields): every
  // event's Answer-State, an application's UUID when one completes, and an answer's time.
  enum slot { answer_state, app_uuid, answered_time, slots };
  static constexpr std::array<std::string_view, slots> names{
    "Answer-State", "Application-UUID", "Caller-Channel-Answered-Time"};
  bool is_answer = name == "CHANNEL_ANSWER";
  bool is_completion = name == "CHANNEL_EXECUTE_COMPLETE";
  std::size_t wanted = is_answer ? 3 : is_completion ? 2 : 1;
  std::array<std::optional<std::string_view>, slots> found;
  event.find_fields(std::span{names}.first(wanted), std::span{found}.first(wanted));
  auto answered_at = [&found] { return text_as_int(found[answered_time]); };
  // The inbound link does not subscribe to CHANNEL_HANGUP (one event less per call): the first
  // event that says `Answer-State: hangup` (the interrupted application's completion, at the
  // latest CHANNEL_HANGUP_COMPLETE) tells the call that its channel is gone. That comes before
  // the event itself is applied: a prompt cut short by the hangup did not finish for the IVR.
  if (name == "CHANNEL_HANGUP" || name == "CHANNEL_HANGUP_COMPLETE"
      || found[answer_state] == std::optional<std::string_view>{"hangup"})
    note_hangup(event, out);
  if (is_answer) {
    answered_us_ = answered_at();
  } else if (is_completion) {
    if (ends_bridge(event, found[app_uuid])) {
      end_of_bridge(event, out);
      return;
    }
    if (!found[app_uuid])
      return;
    auto it = std::find(playing_.begin(), playing_.end(), *found[app_uuid]);
    if (it != playing_.end()) {
      playing_.erase(it);
      feed_ivr(ivr::prompt_finished{}, out);
    }
  } else if (name == "DTMF") {
    auto digit = event.field("DTMF-Digit");
    if (digit && digit->size() == 1)
      feed_ivr(ivr::digit_pressed{(*digit)[0]}, out);
  } else if (name == "CHANNEL_HANGUP_COMPLETE") {
    absorb_final_event(event);
    phase_ = call_phase::ended;
  }
}

void call_state::note_hangup(const esl::frame& event, std::vector<call_action>& out) {
  if (auto cause = event.field("Hangup-Cause"))
    hangup_cause_ = std::string{*cause};
  phase_ = call_phase::hanging_up;
  if (ivr_ && !ivr_->finished()) {
    feed_ivr(ivr::caller_hung_up{}, out);
    disposition_ = "abandoned";
  }
  // The channel is gone: drop whatever actions the IVR still wanted.
  std::erase_if(out, [](const call_action& a) {
    return !std::holds_alternative<disarm_timer>(a);
  });
}

void call_state::absorb_final_event(const esl::frame& event) {
  // The final event has a few hundred fields, most of them variables: one pass picks the
  // seven this needs, without decoding the rest (esl::frame::find_fields).
  enum slot { cause, answered, created, hung_up, mduration, billmsec, term_status, slots };
  static constexpr std::array<std::string_view, slots> names{
    "Hangup-Cause",
    "Caller-Channel-Answered-Time",
    "Caller-Channel-Created-Time",
    "Caller-Channel-Hangup-Time",
    "variable_mduration",
    "variable_billmsec",
    "variable_sip_term_status",
  };
  std::array<std::optional<std::string_view>, slots> found;
  event.find_fields(names, found);
  auto as_int = [&](slot which) { return text_as_int(found[which]); };
  if (found[cause])
    hangup_cause_ = std::string{*found[cause]};
  if (auto at = as_int(answered); at && *at)
    answered_us_ = *at;
  if (auto at = as_int(created); at && *at)
    setup_.created_us = *at;
  ended_us_ = as_int(hung_up).value_or(0);
  if (ended_us_ == 0)
    ended_us_ = now_us();
  duration_ms_ = as_int(mduration).value_or((ended_us_ - setup_.created_us) / 1000);
  billsec_ms_ = as_int(billmsec).value_or(0);
  if (auto code = as_int(term_status))
    sip_code_ = static_cast<int32_t>(*code);
}

void call_state::on_timer(uint64_t id, std::vector<call_action>& out) {
  feed_ivr(ivr::timer_expired{id}, out);
}

void call_state::on_lookup(uint64_t id, std::optional<std::string> value, bool timed_out,
                           std::vector<call_action>& out) {
  feed_ivr(ivr::lookup_finished{id, std::move(value), timed_out}, out);
}

void call_state::on_link_restored(std::vector<call_action>& out) {
  // Completions may have been lost with the link: count every outstanding prompt as done.
  auto outstanding = playing_.size();
  playing_.clear();
  for (std::size_t i = 0; i < outstanding; ++i)
    feed_ivr(ivr::prompt_finished{}, out);
}

void call_state::end_untracked(persistence::end_reason reason, std::string cause,
                               int64_t now) {
  if (phase_ == call_phase::ended)
    return;
  end_reason_ = reason;
  if (hangup_cause_.empty())
    hangup_cause_ = std::move(cause);
  ended_us_ = now;
  duration_ms_ = setup_.created_us > 0 ? (now - setup_.created_us) / 1000 : 0;
  billsec_ms_ = answered_us_ ? (now - *answered_us_) / 1000 : 0;
  if (disposition_.empty() || disposition_ == "in_ivr")
    disposition_ = reason == persistence::end_reason::normal ? "ended" : to_string(reason);
  phase_ = call_phase::ended;
}

void call_state::fail_origination(std::string cause, int64_t now) {
  disposition_ = unanswered_disposition(cause);
  end_untracked(persistence::end_reason::normal, std::move(cause), now);
}

void call_state::fail(std::string cause, std::vector<call_action>& out) {
  disposition_ = "engine_error";
  send_hangup(std::move(cause), out);
}

std::string call_state::ivr_outcome() const {
  if (!ivr_)
    return {};
  return disposition_for(ivr_->result());
}

persistence::call_record call_state::make_record() const {
  persistence::call_record rec;
  rec.call_uuid = setup_.uuid;
  rec.leg_uuid = setup_.uuid;
  rec.leg = 0;
  rec.direction = setup_.direction;
  rec.caller = setup_.caller;
  rec.callee = setup_.callee;
  if (setup_.matched_route) {
    // Id 0: no catalog route (an origination that runs a flow by name).
    if (setup_.matched_route->id != 0)
      rec.route_id = setup_.matched_route->id;
    rec.flow_id = setup_.matched_route->flow_id;
  }
  if (int64_t campaign = 0; !setup_.campaign.empty()) {
    const auto* end = setup_.campaign.data() + setup_.campaign.size();
    auto [stop, ec] = std::from_chars(setup_.campaign.data(), end, campaign);
    if (ec == std::errc{} && stop == end)
      rec.campaign_id = campaign;
  }
  rec.node = setup_.node;
  rec.mode = setup_.mode;
  rec.created_us = setup_.created_us;
  rec.answered_us = answered_us_;
  rec.ended_us = ended_us_;
  rec.duration_ms = duration_ms_;
  rec.billsec_ms = billsec_ms_;
  rec.hangup_cause = hangup_cause_;
  rec.sip_code = sip_code_;
  rec.disposition = disposition_;
  if (ivr_)
    for (const auto& step : ivr_->path())
      rec.ivr_path.push_back({step.node, step.choice});
  rec.reason = end_reason_;
  return rec;
}

} // namespace callgrid::actors
