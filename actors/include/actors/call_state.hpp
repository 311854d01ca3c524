#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/route_table.hpp"
#include "ivr/session.hpp"
#include "persistence/call_record.hpp"

namespace callgrid::esl {
class frame;
} // namespace callgrid::esl


namespace callgrid::actors {

/// Runs a dialplan application on the call's channel (`sendmsg ... execute`); the
/// Application-UUID of its CHANNEL_EXECUTE(_COMPLETE) events will be `event_uuid`.
struct execute_app {
  std::string app;
  std::string arg;
  std::string event_uuid;
};

/// Hangs the channel up (`sendmsg ... call-command: hangup`).
struct hangup_channel {
  std::string cause;
};

/// Runs an API command about the channel, e.g. `uuid_break <uuid> all`.
struct run_api {
  std::string command;
};

/// Starts a one-shot timer; its expiry comes back through `call_state::on_timer(id)`.
struct arm_timer {
  uint64_t id = 0;
  std::chrono::milliseconds after{0};
};

/// Forgets a timer (a late expiry is ignored anyway).
struct disarm_timer {
  uint64_t id = 0;
};

/// Looks hot data up (Redis) within a time budget; the answer comes back through
/// `call_state::on_lookup`.
struct lookup_hot_data {
  uint64_t id = 0;
  std::string key;
  std::chrono::milliseconds budget{0};
};

/// What a call asks its actor to do, in order.
using call_action = std::variant<execute_app, hangup_channel, run_api, arm_timer, disarm_timer,
                                 lookup_hot_data>;

/// Everything known about a call when its actor starts: the channel, the node, the route and,
/// for a flow route, the flow (null if the catalog does not have it).
struct call_setup {
  std::string uuid;
  std::string caller;
  std::string callee;
  persistence::call_direction direction = persistence::call_direction::inbound;
  persistence::esl_mode mode = persistence::esl_mode::inbound;
  std::string node;
  /// Channel creation (Caller-Channel-Created-Time), microseconds since the epoch.
  int64_t created_us = 0;
  /// Whether the channel was already answered when the engine took it over.
  bool already_answered = false;
  /// Null: no route matched (the call is rejected with NO_ROUTE_DESTINATION). Points into the
  /// node's route table, which it keeps alive (a catalog change leaves running calls on the
  /// route they started with); a copy per call cost six string allocations.
  std::shared_ptr<const route> matched_route;
  std::shared_ptr<const ivr::flow> flow;
  /// Campaign of an outbound attempt ("" for inbound traffic); a number also becomes the
  /// record's campaign id.
  std::string campaign;
  /// Non-empty for a channel re-adopted after a restart while it was bridged or transferred:
  /// the call runs nothing and sends no command (the drain deadline's hangup excepted, and for
  /// "bridged" the hangup once its bridge returns without having connected), it only waits for
  /// the hangup; the value is the disposition of its record, e.g. "bridged".
  std::string watch_only_as;
  /// When callgridd read the event that started the call (CHANNEL_PARK, the outbound
  /// `connect` reply) off its socket; the epoch when unknown (a re-adopted call). The actor
  /// measures its first command's reaction time from here.
  std::chrono::steady_clock::time_point started_by_event_at{};
  /// How long the far end of a bridge may ring before FreeSWITCH gives up with NO_ANSWER
  /// (`node.answer_timeout`): `originate_timeout` in the bridge's dial string.
  std::chrono::seconds answer_timeout{60};
};


/// Where a call is in its life.
enum class call_phase : uint8_t {
  /// `start` not called yet.
  created,
  /// The route's action runs (IVR, bridge).
  running,
  /// A hangup was sent or reported; waiting for CHANNEL_HANGUP_COMPLETE.
  hanging_up,
  /// The leg is over; `make_record` may be called.
  ended,
};

/// Returns the phase's name, e.g. "running".
[[nodiscard]] const char* to_string(call_phase phase) noexcept;

/// One call leg from the moment the engine takes it over (CHANNEL_PARK, or an outbound
/// socket's connect) until CHANNEL_HANGUP_COMPLETE: the route's action, the IVR session and the
/// facts for the call record. Pure: events and timer expiries in, actions out; the call actor
/// (call_actor.cpp) is a thin shell around it and tests drive it without sockets or actors.
/// Not thread-safe; owned by one call actor.
class call_state {
public:
  explicit call_state(call_setup setup);
  ~call_state();
  call_state(call_state&&) noexcept;
  call_state& operator=(call_state&&) noexcept;

  /// Starts the route: answer (when the route says so) and, in the same actions, the IVR's
  /// first commands or the bridge; or a hangup for a rejecting route or a missing route or
  /// flow. `now` is the wall clock (IVR branches on time of day).
  void start(std::chrono::system_clock::time_point now, std::vector<call_action>& out);

  /// Applies one event of this channel (CHANNEL_ANSWER, CHANNEL_EXECUTE_COMPLETE, DTMF,
  /// CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE; others are ignored) or an outbound socket's
  /// disconnect notice.
  void on_event(const esl::frame& event, std::vector<call_action>& out);

  /// A timer armed by `arm_timer` expired.
  void on_timer(uint64_t id, std::vector<call_action>& out);

  /// A lookup finished: the value, or none (missing); `timed_out` when the budget ran out.
  void on_lookup(uint64_t id, std::optional<std::string> value, bool timed_out,
                 std::vector<call_action>& out);

  /// The ESL link came back after a loss and the channel still exists: events may have been
  /// lost, so a prompt that was playing counts as finished.
  void on_link_restored(std::vector<call_action>& out);

  /// Ends the leg without FreeSWITCH's final events: the channel is gone (node lost, not listed
  /// after a reconnect) or the engine ends its tracking. `now_us` closes the record.
  void end_untracked(persistence::end_reason reason, std::string cause, int64_t now_us);

  /// An origination failed before any channel of ours answered (FreeSWITCH's originate said
  /// -ERR `cause`): the leg ends now with a disposition from the cause ("busy", "no_answer",
  /// "failed") and end reason normal. `now_us` closes the record.
  void fail_origination(std::string cause, int64_t now_us);

  /// Something went wrong inside the engine for this call: hang it up with `cause` (the call
  /// keeps its record; the reason is logged by the caller).
  void fail(std::string cause, std::vector<call_action>& out);

  [[nodiscard]] call_phase phase() const noexcept { return phase_; }
  [[nodiscard]] bool ended() const noexcept { return phase_ == call_phase::ended; }
  [[nodiscard]] const call_setup& setup() const noexcept { return setup_; }
  /// Business outcome so far, e.g. "ivr_completed", "transferred", "abandoned".
  [[nodiscard]] const std::string& disposition() const noexcept { return disposition_; }
  /// The IVR outcome name ("" when no flow ran), for the per-flow metrics.
  [[nodiscard]] std::string ivr_outcome() const;

  /// The call record of this leg; complete once `ended()`.
  [[nodiscard]] persistence::call_record make_record() const;

private:
  void begin_action(std::vector<call_action>& out);
  void feed_ivr(const ivr::event& event, std::vector<call_action>& out);
  void send_hangup(std::string cause, std::vector<call_action>& out);
  void absorb_final_event(const esl::frame& event);
  /// The channel is gone (CHANNEL_HANGUP or the first event with `Answer-State: hangup`): the
  /// IVR learns the caller left, and no command is sent any more.
  void note_hangup(const esl::frame& event, std::vector<call_action>& out);
  std::string next_event_uuid();
  /// The Application-UUID (Event-UUID) of this call's `number`th command: `<uuid>-<number>`.
  [[nodiscard]] std::string event_uuid(uint32_t number) const;
  /// Sends `set hangup_after_bridge=true` and `bridge` to `dial_string`, its far legs named
  /// after this call (bridge_legs.hpp) and numbered on from the legs of the bridges before.
  void start_bridge(std::string_view dial_string, std::vector<call_action>& out);
  /// Whether `completion` (a CHANNEL_EXECUTE_COMPLETE) is the end of the bridge this call runs.
  [[nodiscard]] bool ends_bridge(const esl::frame& completion,
                                 std::optional<std::string_view> app_uuid) const;
  /// The bridge returned with the channel still up: after a bridge that failed the call ends
  /// with the far end's cause and disposition `bridge_failed`; after one that connected (the
  /// caller was transferred during it) nothing is sent.
  void end_of_bridge(const esl::frame& completion, std::vector<call_action>& out);

  call_setup setup_;
  call_phase phase_ = call_phase::created;
  std::unique_ptr<ivr::session> ivr_;
  std::chrono::system_clock::time_point started_at_;
  /// Application-UUIDs of the playbacks sent and not yet completed, oldest first (the IVR
  /// expects one prompt_finished per prompt, in order).
  std::vector<std::string> playing_;
  std::string disposition_;
  std::string hangup_cause_;
  std::optional<int32_t> sip_code_;
  std::optional<int64_t> answered_us_;
  int64_t ended_us_ = 0;
  int64_t duration_ms_ = 0;
  int64_t billsec_ms_ = 0;
  persistence::end_reason end_reason_ = persistence::end_reason::normal;
  uint32_t event_counter_ = 0;
  /// The number the next far leg of a bridge gets (this leg is 0).
  int32_t next_far_leg_ = 1;
  /// The event number of the bridge this call sent (its Application-UUID is
  /// `event_uuid(number)`); 0 for a leg re-adopted while bridged. A number, not the text:
  /// every call carries it (engine_memory).
  uint32_t bridge_event_ = 0;
  /// A bridge of this call runs: its end ends the call.
  bool bridging_ = false;
  bool hangup_sent_ = false;
};

} // namespace callgrid::actors
