#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "channel_snapshot.hpp"
#include "event_renderer.hpp"

/// The emulated switch's core: identity, configuration, counters, the pause and shutdown flags,
/// and the API commands (`api status`, `fsctl pause`, ...) answered with the exact bodies
/// FreeSWITCH 1.10.12 produces (tests/data/esl-captures 02, 15, 17, 18, 19).
///
/// ```
/// fsemu::switch_core core{config, now_us};
/// std::string body = core.api("status", now_us);   // "UP 0 years, ... is ready\n..."
/// for (auto& ev : core.take_events(now_us)) deliver_to_every_session(ev);
/// if (core.halted()) close_everything();
/// ```
namespace callgrid::fsemu {

/// A random (version 4) UUID in FreeSWITCH's lower-case form, drawn from `random`. Never fails.
[[nodiscard]] std::string random_uuid(std::mt19937_64& random);

/// How the emulated switch is set up. Plain data; owned by `switch_core`.
struct switch_config {
  /// Core-UUID, hostname, switch name and addresses every event carries.
  switch_identity identity;
  /// The event socket password (`auth <password>`).
  std::string password = "ClueCon";
  /// "N session(s) max" in `status`.
  std::uint32_t max_sessions = 1000;
  /// "... per Sec out of max N" in `status`.
  std::uint32_t max_sessions_per_second = 30;
  /// The version string FreeSWITCH reports, e.g. in `version` and `status`.
  std::string version = "1.10.12-release";
  /// The `local_ip_v4` global variable (`global_getvar local_ip_v4`).
  std::string local_ip_v4 = "127.0.0.1";
  /// The measured idle CPU `status` reports ("min idle cpu 0.00/<this>").
  double idle_cpu_percent = 100.0;
  /// The switch's offset from UTC in seconds, for Event-Date-Local (0 renders UTC).
  std::int32_t utc_offset_seconds = 0;
  /// Seed of the UUID generator: equal seeds give equal Job-UUIDs and event UUIDs.
  std::uint64_t seed = 0;
};

/// Which `fsctl shutdown` is pending.
enum class shutdown_mode : std::uint8_t {
  /// None requested (or cancelled).
  none,
  /// `elegant`: wait for the calls to end; new calls are still accepted, status stays "ready".
  elegant,
  /// `asap`: wait for the calls to end, refuse new ones; status says "not ready".
  asap,
};

/// One event the switch fired, owning all its data, so that each session can render it in its
/// own format. Plain data; produced by `switch_core`, consumed by the sessions.
struct switch_event {
  /// Event-Name, e.g. "BACKGROUND_JOB".
  std::string name;
  /// Event-Calling-File / -Function / -Line-Number.
  std::string calling_file;
  std::string calling_function;
  std::uint32_t calling_line = 0;
  /// Event-Sequence.
  std::uint64_t sequence = 0;
  /// Event-Date-Timestamp, microseconds since the Unix epoch.
  std::int64_t timestamp_us = 0;
  /// Offset from UTC for Event-Date-Local, in seconds.
  std::int32_t utc_offset_seconds = 0;
  /// The channel the event belongs to, if any.
  std::optional<channel_snapshot> channel;
  /// The event's own headers (Job-UUID, Event-Info, ...), values unencoded.
  std::vector<event_header> extras;
  /// The event body (BACKGROUND_JOB's result), if any.
  std::optional<std::string> body;

  /// A view of this event for `event_renderer`; valid while this object lives unchanged.
  [[nodiscard]] event_input input() const;
};

/// The state of one emulated FreeSWITCH process. Owned by fsemu's main loop (one per process);
/// not thread-safe: the listener calls it from its single I/O thread. Pure: it reads no clock
/// and opens no socket; every time comes in as microseconds since the Unix epoch. API commands
/// never fail as C++ calls: like FreeSWITCH they answer with a body ("-ERR ...", "-USAGE: ...").
///
/// Channels are not modelled yet: the switch always has 0 sessions, every `loopback/...`
/// originate is unrouted (-ERR NO_ROUTE_DESTINATION, as an empty dialplan would answer) and
/// every uuid_* command finds no channel.
class switch_core {
public:
  /// A switch that started at `start_time_us`.
  switch_core(switch_config config, std::int64_t start_time_us);

  /// The configuration it was created with.
  [[nodiscard]] const switch_config& config() const noexcept { return config_; }

  /// The renderer for this switch's identity, for the sessions.
  [[nodiscard]] const event_renderer& renderer() const noexcept { return renderer_; }

  /// Whether `password` is the event socket password.
  [[nodiscard]] bool check_password(std::string_view password) const noexcept {
    return password == config_.password;
  }

  /// Runs one API command line such as "show channels count" and returns its output, exactly as
  /// FreeSWITCH writes it (trailing newline or not, per command). Unknown commands answer
  /// "-ERR <name> Command not found!\n". May queue events (see `take_events`).
  [[nodiscard]] std::string api(std::string_view command_line, std::int64_t now_us);

  /// Runs `command args` as a background job under `job_uuid` (`bgapi`): queues the
  /// BACKGROUND_JOB event carrying Job-UUID, Job-Command, Job-Command-Arg and the output.
  void run_background_job(std::string_view command_line, std::string_view job_uuid,
                          std::int64_t now_us);

  /// Fires an event sent by a client (`sendevent`): queues it with the given headers and body
  /// and returns its Event-UUID.
  [[nodiscard]] std::string fire_client_event(std::string_view name,
                                              std::vector<event_header> headers,
                                              std::optional<std::string> body,
                                              std::int64_t now_us);

  /// Hands over the events fired since the last call, in order. When a requested shutdown can
  /// proceed (no sessions left), this also fires SHUTDOWN and marks the switch `halted`.
  [[nodiscard]] std::vector<switch_event> take_events(std::int64_t now_us);

  /// A fresh random (version 4) UUID from the seeded generator.
  [[nodiscard]] std::string new_uuid();

  /// FreeSWITCH's "ready": false while both directions are paused or an `asap` shutdown is
  /// pending (what `status` and `fsctl ready_check` say).
  [[nodiscard]] bool ready() const noexcept;

  /// Whether new inbound calls are accepted (not paused inbound, not shutting down asap).
  [[nodiscard]] bool accepting_inbound() const noexcept;

  /// Whether new outbound calls (originate) are accepted.
  [[nodiscard]] bool accepting_outbound() const noexcept;

  /// The pending shutdown, if any.
  [[nodiscard]] shutdown_mode shutdown_requested() const noexcept { return shutdown_; }

  /// Whether the switch has shut down: sessions must get the shutdown notice and be closed, and
  /// the process should exit.
  [[nodiscard]] bool halted() const noexcept { return halted_; }

  /// Channels that exist now (always 0 until channels are modelled).
  [[nodiscard]] std::uint32_t session_count() const noexcept { return session_count_; }

private:
  std::string status(std::int64_t now_us) const;
  std::string show(std::string_view args) const;
  std::string fsctl(std::string_view args, std::int64_t now_us);
  std::string originate(std::string_view args) const;
  std::string global_getvar(std::string_view args) const;
  void queue_event(std::string name, std::string_view file, std::string_view function,
                   std::uint32_t line, std::int64_t now_us, std::vector<event_header> extras,
                   std::optional<std::string> body = std::nullopt);

  switch_config config_;
  event_renderer renderer_;
  std::int64_t start_time_us_ = 0;
  std::mt19937_64 random_;
  std::uint64_t next_sequence_ = 1;
  std::vector<switch_event> pending_;
  std::uint32_t session_count_ = 0;
  std::uint64_t sessions_since_startup_ = 0;
  std::uint32_t session_peak_ = 0;
  std::uint32_t sessions_per_second_peak_ = 0;
  bool paused_inbound_ = false;
  bool paused_outbound_ = false;
  shutdown_mode shutdown_ = shutdown_mode::none;
  bool halted_ = false;
};

} // namespace callgrid::fsemu
