#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ivr/flow.hpp"

namespace callgrid::ivr {

/// What the host knows about the call when the IVR starts.
struct call_facts {
  std::string caller;
  std::string callee;
  std::string campaign;
  /// Initial variables (e.g. channel variables); flow variables of the same name replace them.
  std::map<std::string, std::string> variables;
};

// ---- events the host feeds in -------------------------------------------------------------

/// Starts the flow at its `start` node. `now` is the wall-clock time used by `branch` time
/// conditions (plus the durations of timers that expired since; see `session`).
struct started {
  call_facts facts;
  std::chrono::system_clock::time_point now;
};
/// The oldest outstanding `play_prompt` ended (played out, broken by `stop_prompt`, or failed).
/// The host feeds exactly one per `play_prompt`.
struct prompt_finished {};
/// A DTMF digit: one of 0-9 * # A-D (a-d are taken as A-D; anything else is ignored).
struct digit_pressed {
  char digit = '0';
};
/// A timer started with `start_timer` fired. Ids not currently armed (stale) are ignored.
struct timer_expired {
  std::uint64_t timer_id = 0;
};
/// The answer to `start_lookup`: the value, no value (`std::nullopt`: missing), or `timed_out`
/// when the host gave up. Ids not currently pending are ignored.
struct lookup_finished {
  std::uint64_t request_id = 0;
  std::optional<std::string> value;
  bool timed_out = false;
};
/// The caller hung up; the session ends with `outcome::caller_hung_up`.
struct caller_hung_up {};

using event = std::variant<started, prompt_finished, digit_pressed, timer_expired, lookup_finished, caller_hung_up>;

// ---- commands the host executes, in order --------------------------------------------------

/// Play `uri` after whatever is playing (FreeSWITCH `playback`). Each yields one
/// `prompt_finished`.
struct play_prompt {
  std::string uri;
  friend bool operator==(const play_prompt&, const play_prompt&) = default;
};
/// Break the prompt that is playing (barge-in; FreeSWITCH `uuid_break`).
struct stop_prompt {
  friend bool operator==(const stop_prompt&, const stop_prompt&) = default;
};
/// Arm a one-shot timer; feed `timer_expired{timer_id}` after `after`.
struct start_timer {
  std::uint64_t timer_id = 0;
  std::chrono::milliseconds after{0};
  friend bool operator==(const start_timer&, const start_timer&) = default;
};
/// Disarm a timer; if it fires anyway the session ignores it.
struct cancel_timer {
  std::uint64_t timer_id = 0;
  friend bool operator==(const cancel_timer&, const cancel_timer&) = default;
};
/// Look `key` up (Redis or the in-memory catalog) and feed `lookup_finished{request_id, ...}`.
/// The session also arms a timer of `budget` and takes the timeout path when it fires first.
struct start_lookup {
  std::uint64_t request_id = 0;
  std::string key;
  std::chrono::milliseconds budget{0};
  friend bool operator==(const start_lookup&, const start_lookup&) = default;
};
/// A flow variable changed; the host also sets it on the channel.
struct set_variable {
  std::string name;
  std::string value;
  friend bool operator==(const set_variable&, const set_variable&) = default;
};
/// Transfer the call to `target`; ends the IVR.
struct transfer_call {
  std::string target;
  friend bool operator==(const transfer_call&, const transfer_call&) = default;
};
/// Bridge the call to `endpoint`; ends the IVR.
struct bridge_call {
  std::string endpoint;
  friend bool operator==(const bridge_call&, const bridge_call&) = default;
};
/// Hang up with the FreeSWITCH hangup `cause`; ends the IVR.
struct hang_up {
  std::string cause;
  friend bool operator==(const hang_up&, const hang_up&) = default;
};

using command = std::variant<play_prompt, stop_prompt, start_timer, cancel_timer, start_lookup, set_variable,
                             transfer_call, bridge_call, hang_up>;

/// One entry of the IVR path written into the call record: a menu, collect, confirm or lookup
/// node and what happened there. Choices: a menu option ("1", "12"), "agent", "back",
/// "exhausted:no_input", "exhausted:invalid"; collect: "collected", "exhausted"; confirm:
/// "confirm", "cancel", "exhausted"; lookup: "found", "missing", "timeout"; any input node:
/// "hangup" when the caller hung up there.
struct ivr_step {
  std::string node;
  std::string choice;
  friend bool operator==(const ivr_step&, const ivr_step&) = default;
};

/// How the IVR ended (`running` until it has).
enum class outcome : std::uint8_t {
  running,
  /// A `transfer` node, or the agent key, transferred the call.
  transferred,
  /// A `bridge` node bridged the call.
  bridged,
  /// A `hangup` node hung up.
  hung_up_by_flow,
  /// The caller hung up first.
  caller_hung_up,
  /// A menu, collect or confirm ran out of tries with no `on_exhausted`/`on_failure` node and
  /// the call was transferred to the flow's agent target.
  escalated,
  /// As `escalated` but with no agent target: the flow hung up with `defaults.failure_cause`.
  /// Also a runaway chain of nodes (impossible for a validated flow).
  failed,
};

/// Returns the name of `o`, e.g. "caller_hung_up".
[[nodiscard]] const char* to_string(outcome o) noexcept;

/// Returns the name of the command `c` holds, e.g. "play_prompt" (for logs and tests).
[[nodiscard]] const char* command_name(const command& c) noexcept;

/// The IVR interpreter for one call: (state, event) → (state, commands). Owned by the call
/// actor and used from its thread only (not thread-safe); a value type that reads no clock and
/// does no I/O, so flows are tested with scripted events. It never fails: unexpected events are
/// ignored, and after the call has ended (`finished()`) every event is ignored.
///
/// Time: `branch` conditions use `started::now` plus the durations of the timers that expired
/// since (prompt playing time is not known to the session, so the clock lags a little behind).
///
/// Memory: the flow is shared, not copied; a session holds its variables, the digits being
/// entered, up to 64 path steps (later steps are dropped) and up to 8 menus for "back".
///
/// ```cpp
/// ivr::session s{flow};
/// std::vector<ivr::command> out;
/// s.handle(ivr::started{{caller, callee, campaign, {}}, now}, out);   // play_prompt{...}
/// s.handle(ivr::prompt_finished{}, out);                              // start_timer{1, 5s}
/// s.handle(ivr::digit_pressed{'1'}, out);                             // cancel_timer{1}, ...
/// if (s.finished()) write_record(s.path(), s.result());
/// ```
class session {
public:
  /// Maximum steps kept in `path()`.
  static constexpr std::size_t max_path_steps = 64;

  explicit session(std::shared_ptr<const flow> f);

  /// Applies `e` and appends the commands to run, in order, to `out`.
  void handle(const event& e, std::vector<command>& out);

  /// True once the IVR has ended (transfer, bridge, hangup by either side).
  [[nodiscard]] bool finished() const noexcept {
    return outcome_ != outcome::running;
  }

  /// How it ended; `outcome::running` until `finished()`.
  [[nodiscard]] outcome result() const noexcept {
    return outcome_;
  }

  /// The menus, collects, confirms and lookups visited and what happened there, in order.
  [[nodiscard]] const std::vector<ivr_step>& path() const noexcept {
    return path_;
  }

  /// Id of the node the session is in ("" before `started`); the last node once finished.
  [[nodiscard]] const std::string& current_node() const noexcept;

  /// The call's flow variables (initial ones from `call_facts` plus those set by the flow).
  [[nodiscard]] const std::map<std::string, std::string>& variables() const noexcept {
    return variables_;
  }

private:
  enum class phase : std::uint8_t {
    idle,        // before started
    playing,     // a play node's prompt is playing
    feedback,    // a no-input / invalid prompt is playing; the main prompt follows
    prompting,   // the main prompt of a menu/collect/confirm is playing (digits barge in)
    waiting,     // first-digit timer armed
    entering,    // inter-digit timer armed, digits_ holds a partial entry
    looking_up,  // start_lookup sent, budget timer armed
    done,
  };

  void on_started(const started& e, std::vector<command>& out);
  void on_prompt_finished(std::vector<command>& out);
  void on_digit(char digit, std::vector<command>& out);
  void on_timer(std::uint64_t id, std::vector<command>& out);
  void on_lookup(const lookup_finished& e, std::vector<command>& out);
  void on_hangup(std::vector<command>& out);

  void enter(internal::node_index index, std::vector<command>& out);
  void play(internal::prompt_index prompt, std::vector<command>& out);
  void prompt_input(bool with_feedback, std::optional<internal::prompt_index> feedback, std::vector<command>& out);
  void arm_timer(std::chrono::milliseconds after, std::vector<command>& out);
  void disarm_timer(std::vector<command>& out);
  void finish(outcome o, command last, std::vector<command>& out);
  void record(std::string choice);
  void set_var(const std::string& name, std::string value, std::vector<command>& out);

  void menu_digit(char digit, std::vector<command>& out);
  void menu_select(const std::string& option, internal::node_index target, std::vector<command>& out);
  void collect_digit(char digit, std::vector<command>& out);
  void collect_evaluate(std::vector<command>& out);
  void confirm_digit(char digit, std::vector<command>& out);
  void input_failed(bool no_input, std::vector<command>& out);
  void exhausted(const char* choice, std::vector<command>& out);

  [[nodiscard]] std::string substitute(const std::string& text) const;
  [[nodiscard]] std::string lookup_value(const std::string& name) const;
  [[nodiscard]] internal::node_index pick_branch(const internal::node& n) const;
  [[nodiscard]] const internal::node& node() const noexcept;

  std::shared_ptr<const flow> flow_;
  std::string caller_;
  std::string callee_;
  std::string campaign_;
  std::map<std::string, std::string> variables_;
  std::vector<ivr_step> path_;
  std::vector<internal::node_index> menu_history_;
  std::string digits_;
  std::chrono::system_clock::time_point now_{};
  std::uint64_t next_id_ = 1;
  std::uint64_t timer_id_ = 0;  // 0 = none armed
  std::uint64_t lookup_id_ = 0;  // 0 = none pending
  std::chrono::milliseconds timer_after_{0};
  internal::node_index node_ = internal::no_node;
  std::uint32_t outstanding_prompts_ = 0;
  std::uint16_t prompt_position_ = 0;
  std::uint8_t no_input_count_ = 0;
  std::uint8_t invalid_count_ = 0;
  phase phase_ = phase::idle;
  outcome outcome_ = outcome::running;
};

} // namespace callgrid::ivr
