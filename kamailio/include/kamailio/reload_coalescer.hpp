#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

/// Turns many "the dispatcher list file changed" signals into as few `dispatcher.reload` calls
/// as Kamailio allows: its dispatcher module refuses a second reload within `reload_delta`
/// (5 s) with "500 - Ongoing reload" and keeps the old list. Pure state machine: no clock, no
/// I/O; the caller (`dispatcher_updater`) asks when a reload is due, sends it and reports back.
///
/// ```
/// kamailio::reload_coalescer c;
/// c.list_changed(now);
/// if (auto due = c.next_due(); due && *due <= now) {
///   c.reload_sent(now);
///   c.reload_answered(ok ? reload_outcome::done : reload_outcome::refused, now);
/// }
/// ```
namespace callgrid::kamailio {

/// How a `dispatcher.reload` ended.
enum class reload_outcome : std::uint8_t {
  /// Kamailio reread the file.
  done,
  /// Kamailio refused it ("Ongoing reload": too soon after the last one); retry later.
  refused,
  /// No answer or another error; retry later.
  failed,
};

/// Timing of the coalescer. Plain data.
struct coalescer_options {
  /// Least time between two reloads: Kamailio's `reload_delta` (5 s) plus a margin for its
  /// one-second clock.
  std::chrono::milliseconds interval{5'100};
  /// Wait after a refused reload before trying again (a failed one waits at least the
  /// interval from when it was sent).
  std::chrono::milliseconds retry_delay{500};
  /// Wait after the first change before reloading, so that a burst of changes (a drain touching
  /// several sets) goes out as one reload.
  std::chrono::milliseconds settle{50};
};

/// The reload bookkeeping of one Kamailio. Owned by its `dispatcher_updater` (or a test);
/// used from one thread; never fails. At most one reload is in flight; a change that arrives
/// while one is in flight or after it was sent is covered by the next one.
class reload_coalescer {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  explicit reload_coalescer(coalescer_options options = {});

  /// The list file was rewritten at `now`: a reload is needed.
  void list_changed(time_point now);

  /// When the next reload should be sent, or `nullopt` when none is needed or one is in flight.
  [[nodiscard]] std::optional<time_point> next_due() const;

  /// Whether a reload should be sent at `now`.
  [[nodiscard]] bool due(time_point now) const;

  /// The caller sent `dispatcher.reload` at `now`; it covers every change reported so far.
  void reload_sent(time_point now);

  /// The reload sent last ended with `outcome` at `now`.
  void reload_answered(reload_outcome outcome, time_point now);

  /// Whether changes wait for a reload (sent or not).
  [[nodiscard]] bool pending() const noexcept { return changed_ > reloaded_; }

  /// Whether a reload was sent and not yet answered.
  [[nodiscard]] bool in_flight() const noexcept { return in_flight_; }

  /// Reloads sent so far, and how many of them Kamailio refused or that failed.
  [[nodiscard]] std::uint64_t reloads_sent() const noexcept { return sent_count_; }
  [[nodiscard]] std::uint64_t reloads_refused() const noexcept { return refused_count_; }
  [[nodiscard]] std::uint64_t reloads_failed() const noexcept { return failed_count_; }

private:
  coalescer_options options_;
  /// Generation of the last change, and the generation the last successful reload covered.
  std::uint64_t changed_ = 0;
  std::uint64_t reloaded_ = 0;
  /// Generation covered by the reload in flight.
  std::uint64_t in_flight_covers_ = 0;
  bool in_flight_ = false;
  /// When the first change not yet covered by a sent reload arrived.
  std::optional<time_point> first_change_;
  /// No reload before this (rate limit, retry delay).
  std::optional<time_point> not_before_;
  std::uint64_t sent_count_ = 0;
  std::uint64_t refused_count_ = 0;
  std::uint64_t failed_count_ = 0;
};

} // namespace callgrid::kamailio
