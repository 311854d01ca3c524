#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fsemu_config.hpp"
#include "switch_core.hpp"

/// Scripted callers: calls placed into the emulated switch as SIP callers would place them
/// (`switch_core::place_inbound_call`), each following a script — wait for a prompt, press
/// digits, stay silent, hang up or wait to be hung up — and a summary of what happened. Pure:
/// times come in as arguments; the owner feeds it the switch's events and calls `advance` at
/// `next_due()`.
///
/// ```
/// fsemu::caller_runner callers{loaded.config->callers, seed};
/// callers.start(now_us);
/// // the owner's loop:
/// callers.advance(core, now_us);
/// for (const auto& ev : core.take_events(now_us)) { deliver(ev); callers.observe(ev, now_us); }
/// if (callers.done()) std::cout << callers.summary().to_text();
/// ```
namespace callgrid::fsemu {

/// The results of one scenario. Plain data.
struct scenario_summary {
  std::string name;
  /// Calls the switch accepted (channels created).
  std::uint32_t placed = 0;
  /// Calls the switch refused outright (503: paused, session limit).
  std::uint32_t refused = 0;
  std::uint32_t answered = 0;
  /// Calls whose script ran to its end with every expectation met.
  std::uint32_t completed = 0;
  /// Calls that failed their script (not answered in time, a wait that timed out, an
  /// unexpected hangup, refused).
  std::uint32_t failed = 0;
  /// "<hangup cause> by <caller|switch>" -> calls.
  std::map<std::string, std::uint32_t> outcomes;
  /// Why calls failed -> calls.
  std::map<std::string, std::uint32_t> failures;
  /// Per script name: calls that ran it.
  std::map<std::string, std::uint32_t> scripts;
  /// Times the placement fell more than 100 ms behind the rate and the schedule moved later
  /// (the switch could not keep up: fewer calls per second than asked for were offered).
  std::uint32_t late_placements = 0;
  /// Setup latency (channel creation to answer) in microseconds: p50, p90, p99, max; 0
  /// without answered calls.
  std::int64_t setup_p50_us = 0;
  std::int64_t setup_p90_us = 0;
  std::int64_t setup_p99_us = 0;
  std::int64_t setup_max_us = 0;
};

/// The results of every scenario. Plain data.
struct callers_summary {
  std::vector<scenario_summary> scenarios;
  /// The callers were stopped by the time limit with calls still going.
  bool timed_out = false;

  /// Whether any call failed its script (or the time limit cut calls off).
  [[nodiscard]] bool any_failed() const;
  /// A human-readable report, one block per scenario.
  [[nodiscard]] std::string to_text() const;
  /// The same as a JSON object ({"timed_out":..,"scenarios":[{...}]}), newline-terminated.
  [[nodiscard]] std::string to_json() const;
};

/// Runs the `[[callers]]` scenarios of a configuration against one switch. Owned by fsemu's
/// main loop (or a test); not thread-safe: use it on the switch's thread. Never fails: calls
/// that go wrong are counted in the summary.
class caller_runner {
public:
  /// Runner for `scenarios`; `seed` drives the weighted script choice.
  caller_runner(std::vector<caller_scenario> scenarios, std::uint64_t seed);

  /// Starts the scenarios at `now_us` (each after its `start_after`).
  void start(std::int64_t now_us);

  /// Places the calls due and runs the script steps due at `now_us`; queues events in `core`.
  void advance(switch_core& core, std::int64_t now_us);

  /// Whether `observe` needs events of this name (CHANNEL_ANSWER, PLAYBACK_START,
  /// PLAYBACK_STOP, CHANNEL_HANGUP_COMPLETE), for `switch_core::set_event_interest`.
  [[nodiscard]] static bool observes(std::string_view event_name) noexcept;

  /// Takes note of one event the switch fired (answer, playbacks, hangup of its calls).
  void observe(const switch_event& event, std::int64_t now_us);

  /// When `advance` next has work, or `nullopt` (not started, or done).
  [[nodiscard]] std::optional<std::int64_t> next_due() const;

  /// Whether every scenario has placed all its calls and every call has ended.
  [[nodiscard]] bool done() const;

  /// Stops at `now_us`: calls still up are hung up by their callers and counted as failed
  /// ("time limit"). For `--caller-time-limit`.
  void stop(switch_core& core, std::int64_t now_us);

  /// The results so far.
  [[nodiscard]] callers_summary summary() const;

  /// One line for stderr: calls placed, up, completed and failed per scenario.
  [[nodiscard]] std::string progress_line() const;

private:
  struct call {
    std::size_t scenario = 0;
    std::size_t script = 0;
    std::string uuid;
    std::int64_t created_us = 0;
    std::int64_t answered_us = 0;
    std::size_t step = 0;
    std::int64_t step_started_us = 0;
    std::size_t digits_sent = 0;
    std::uint32_t prompts_started = 0;
    std::uint32_t prompts_stopped = 0;
    bool caller_hung_up = false;
    bool ended = false;
    bool counted = false;
    /// Why the script failed; empty while it has not.
    std::string failure;
    /// The agenda time of its current entry; entries with another time are stale.
    std::optional<std::int64_t> scheduled_us;
  };

  struct scenario_state {
    caller_scenario spec;
    std::int64_t first_call_us = 0;
    std::uint32_t started = 0;
    std::uint32_t up = 0;
    std::uint64_t round_robin = 0;
    std::vector<std::int64_t> setup_us;
    scenario_summary totals;
  };

  void place(switch_core& core, scenario_state& s, std::size_t index, std::int64_t now_us);
  void run_steps(switch_core& core, call& c, std::int64_t now_us);
  void fail(switch_core& core, call& c, std::string why, std::int64_t now_us);
  void finish(call& c, std::string_view cause);
  [[nodiscard]] std::int64_t timeout_of(const call& c, const script_step& step) const;
  /// When `c` next has work of its own (a timeout, a digit, a pause's end), or nullopt.
  [[nodiscard]] std::optional<std::int64_t> due_of(const call& c) const;
  /// Puts `c` on the agenda at `due_of(c)` (an earlier entry for it becomes stale).
  void schedule(call& c);

  /// How far calls may be placed behind their schedule; the rest of the schedule moves later.
  static constexpr std::int64_t max_placement_lag_us = 100'000;

  std::vector<scenario_state> scenarios_;
  std::map<std::string, call, std::less<>> calls_;
  // The calls' own due times (timeouts, digits, pauses), earliest first, and the calls an
  // event changed since the last `advance`: `advance` visits only these, so its cost follows
  // the work due, not the number of calls up (100,000 waiting callers cost nothing per turn).
  std::multimap<std::int64_t, std::string> agenda_;
  std::vector<std::string> touched_;
  std::mt19937_64 random_;
  bool started_ = false;
  bool timed_out_ = false;
};

} // namespace callgrid::fsemu
