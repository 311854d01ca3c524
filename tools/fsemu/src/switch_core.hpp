#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "channel_snapshot.hpp"
#include "digit_collection.hpp"
#include "event_renderer.hpp"

/// The emulated switch's core: identity, configuration, counters, the pause and shutdown flags,
/// and the API commands (`api status`, `fsctl pause`, ...) answered with the exact bodies
/// FreeSWITCH 1.10.12 produces (tests/data/esl-captures 02, 15, 17, 18, 19).
///
/// ```
/// fsemu::switch_core core{config, now_us};
/// std::string body = core.api("status", now_us);   // "UP 0 years, ... is ready\n..."
/// core.api("originate loopback/9197/default &park()", now_us);   // "+OK <A-leg uuid>\n"
/// auto call = core.place_inbound_call({.caller_id_number = "5551000", .destination = "1000"},
///                                     now_us);                  // parked; call.uuid
/// core.sendmsg(call.uuid, "execute", "playback", "ivr/welcome.wav", {}, now_us);   // "+OK"
/// for (auto& ev : core.take_events(now_us)) deliver_to_every_session(ev);
/// if (auto due = core.next_due()) { /* at *due: */ core.advance(*due); }
/// if (core.halted()) close_everything();
/// ```
namespace callgrid::fsemu {

/// A random (version 4) UUID in FreeSWITCH's lower-case form, drawn from `random`. Never fails.
[[nodiscard]] std::string random_uuid(std::mt19937_64& random);

/// What a dialplan extension does with the inbound (B) leg of a loopback call that reaches it.
enum class extension_action : std::uint8_t {
  /// `answer`, then `park`: the call stays up until someone hangs it up.
  park,
  /// `answer`, `playback <playback_file>` lasting `playback_us`, then `hangup NORMAL_CLEARING`.
  play_and_hang_up,
  /// `socket <socket_address> async full` (outbound ESL): the switch's `socket_connector`
  /// opens the connection and the B leg waits, ringing, for its client (`socket_connect`,
  /// `execute_app`). When nothing listens there (or no connector is set) the call goes as in
  /// FreeSWITCH: both legs hang up unanswered and originate answers "-ERR NORMAL_CLEARING"
  /// (capture 14).
  socket,
};

/// One extension of the emulated dialplan: a destination number in a context. Plain data.
struct dialplan_extension {
  /// The destination number it matches exactly, e.g. "1000".
  std::string destination;
  /// The dialplan context, e.g. "default".
  std::string context = "default";
  /// What it does.
  extension_action action = extension_action::park;
  /// The DP_MATCH channel variable the match sets, e.g. "ARRAY::1000|:1000"; empty = none.
  std::string dp_match;
  /// `play_and_hang_up`: the file played, e.g. "tone_stream://%(1000,0,440);loops=2".
  std::string playback_file;
  /// `play_and_hang_up`: how long the playback lasts, in microseconds.
  std::int64_t playback_us = 0;
  /// `socket`: where the outbound socket would connect, e.g. "127.0.0.1:8084".
  std::string socket_address;
  /// A regular expression (ECMAScript, whole number) matched instead of `destination` when
  /// non-empty, e.g. "^9\\d{3}$"; the DP_MATCH then reads "ARRAY::<number>|:<number>".
  std::string destination_regex;
};

/// A call arriving at the switch as a SIP INVITE would (`sofia/internal/<user>@<addr>`): the
/// request a scripted caller or a SIP front end makes. Plain data.
struct inbound_call_request {
  /// Caller-Caller-ID-Name (and the SIP From display name).
  std::string caller_id_name;
  /// Caller-Caller-ID-Number, Caller-Username and the SIP From user.
  std::string caller_id_number = "0000000000";
  /// Caller-Destination-Number: routed through the dialplan.
  std::string destination;
  /// The dialplan context the SIP profile routes to ("public" on a stock box; the captured box
  /// routes `internal` calls to "default").
  std::string context = "default";
  /// Caller-Network-Addr: the signalling peer.
  std::string network_addr = "127.0.0.1";
  /// The peer's SIP port (Channel-Name "sofia/internal/<user>@<addr>:<port>").
  std::uint16_t network_port = 5070;
  /// Extra channel variables set before routing (e.g. park_timeout).
  std::vector<channel_variable> variables;
};

/// What became of `switch_core::place_inbound_call`. Plain data.
struct inbound_call_result {
  /// The new channel's UUID; empty when the switch refused the call outright.
  std::string uuid;
  /// The SIP-level refusal when `uuid` is empty ("503 Maximum Calls In Progress" while paused
  /// or at the session limit, as capture 15's notes say FreeSWITCH answers).
  std::string refusal;
};

/// The dialplan of the captured test box (tests/data/esl-captures/README.txt): `1000` parks,
/// `9197` plays a 2 s tone and hangs up, `8084` goes to `socket 127.0.0.1:8084 async full`, all
/// in context `default`. Never fails.
[[nodiscard]] std::vector<dialplan_extension> default_dialplan();

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
  /// The dialplan loopback destinations are routed through.
  std::vector<dialplan_extension> dialplan = default_dialplan();
  /// How long `show channels` / `show calls` lag behind the channels: FreeSWITCH lists channels
  /// from its core database, which its SQL thread updates asynchronously (captures 04 and 15:
  /// "0 total." right after originate, "2 total." 1 s later and right after the hangup). The
  /// real lag is not measured; 500 ms is this emulator's choice. 0 lists channels at once.
  std::int64_t channel_list_lag_us = 500'000;
  /// How long `playback` of a file (anything but `tone_stream://`) lasts, in microseconds;
  /// fsemu has no audio files, so every file lasts this long unless `prompt_lengths_us` names it.
  std::int64_t file_playback_us = 1'000'000;
  /// Per-file playback lengths in microseconds, by the exact path given to `playback`.
  std::map<std::string, std::int64_t, std::less<>> prompt_lengths_us;
  /// Whether a file neither listed in `prompt_lengths_us` nor on disk exists: true (the
  /// default) plays any file for `file_playback_us`; false makes `file_exists` answer `false`
  /// for it and `playback` fail with FILE NOT FOUND, as FreeSWITCH does for a missing file.
  bool unlisted_files_exist = true;
  /// The `sounds_dir` global variable: FreeSWITCH plays a relative path from there.
  std::string sounds_dir = "/usr/share/freeswitch/sounds";
  /// The HEARTBEAT interval in microseconds; 0 (the default here, so that tests driving
  /// `advance` see no HEARTBEATs) = none. The program sets FreeSWITCH's 20 s.
  std::int64_t heartbeat_interval_us = 0;
};

/// Opens the outbound event socket for channel `uuid` to `address` ("HOST:PORT", the `socket`
/// application's argument) and says whether it connected. Set by the listener; tests answer
/// directly. Called from `switch_core::api` (originate) on the switch's thread.
using socket_connector = std::function<bool(std::string_view uuid, std::string_view address)>;

/// Whether anyone would take an event of this name (`switch_core::set_event_interest`).
/// Called on the switch's thread for every event fired.
using event_interest = std::function<bool(std::string_view event_name)>;

/// How long `playback <file>` lasts: `tone_stream://%(on,off,freq)[;loops=N]` lasts
/// N × (on + off) ms (N = 1 without `loops`; 0 = forever for a negative N); any other file
/// `file_us`. Never fails.
[[nodiscard]] std::int64_t playback_duration_us(std::string_view file, std::int64_t file_us);

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
/// Channels: `originate loopback/<dest>[/<context>] &park()` (or `&echo()`, or an extension:
/// `<exten> [XML] [<context>]`) creates the loopback pair (A leg outbound running the
/// application or routed to the extension, B leg inbound routed through the dialplan) and
/// queues the channel events in the order FreeSWITCH fires them (captures 04, 05).
/// `api uuid_bridge` bridges two channels (CHANNEL_BRIDGE / _UNBRIDGE with Other-Leg-*).
/// `place_inbound_call` creates a single inbound channel as a SIP call would (capture 20) and
/// routes it the same way; `sendmsg`, `receive_dtmf` and `remote_hang_up` act on channels as a
/// socket client, a caller's keypad and a caller's BYE would. Work that takes time (a
/// playback's or sleep's end, park_timeout, HEARTBEAT) is due at a known moment: the owner calls
/// `advance(now)` at `next_due()` (the listener with a timer, tests directly).
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

  /// Whether FreeSWITCH would find the audio file `path` (as `file_exists` and `playback` see
  /// it): listed in `prompt_lengths_us` (a relative key also under `sounds_dir`), a regular
  /// file on disk, or anything while `unlisted_files_exist`. Reads the file system.
  [[nodiscard]] bool file_exists(std::string_view path) const;

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

  /// Whether an `fsctl shutdown elegant|asap` is waiting for calls to end (checked every
  /// 500 ms by `advance`).
  [[nodiscard]] bool shutdown_waiting() const noexcept { return shutdown_waits_; }

  /// How many times a shutdown wait has ended (the last call gone, or cancelled): a blocked
  /// `api fsctl shutdown` answers when this changes.
  [[nodiscard]] std::uint64_t shutdown_releases() const noexcept { return shutdown_releases_; }

  /// Channels that exist now (created and not yet destroyed).
  [[nodiscard]] std::uint32_t session_count() const noexcept { return session_count_; }

  /// Runs the work due at or before `now_us` (playbacks that end, then what follows them; the
  /// 500 ms checks of a shutdown waiting for calls, which release a bgapi'd request's
  /// BACKGROUND_JOB and halt the switch) and forgets destroyed channels whose listing lag has
  /// passed. Queues events like `api`.
  void advance(std::int64_t now_us);

  /// When `advance` next has work to do, or `nullopt` when nothing is scheduled.
  [[nodiscard]] std::optional<std::int64_t> next_due() const;

  /// Sets who opens outbound sockets (`socket` extensions); without one nothing listens.
  void set_socket_connector(socket_connector connector) { connector_ = std::move(connector); }

  /// Sets who decides which events are worth building: an event whose name `interest` refuses
  /// is not queued (no channel snapshot is copied for it) but still uses up its Event-Sequence
  /// number. Without one (the default) every event is queued.
  void set_event_interest(event_interest interest) { interest_ = std::move(interest); }

  /// A live channel's current data, or `nullptr` when it does not exist (any more).
  [[nodiscard]] const channel_snapshot* channel(std::string_view uuid) const;

  /// The outbound socket of channel `uuid` received `connect`: appends the channel data reply
  /// (`event_renderer::append_connect_reply`) to `out` and parks the channel (CHANNEL_PARK, as
  /// mod_event_socket's async mode does). Returns false (nothing appended) when the channel is
  /// gone or is not waiting for a socket client.
  bool socket_connect(std::string_view uuid, std::int64_t now_us, std::string& out);

  /// Runs application `app` with argument `arg` on channel `uuid` (a `sendmsg` `call-command:
  /// execute`, `uuid_broadcast`): `answer`, `playback` (lasting `playback_duration_us`;
  /// PLAYBACK_START/STOP), `play_and_get_digits` (mod_dptools' arguments, see
  /// `parse_play_and_get_digits`: prompt, digits, timeouts, tries, invalid file, variable,
  /// regexp, transfer on failure), `set name=value`, `park`, `hangup [cause]`, `sleep <ms>`,
  /// `transfer <destination> [XML <context>]`, `bridge loopback/<dest>[/<context>]` (a new
  /// loopback pair whose A leg is bridged to this channel: CHANNEL_BRIDGE with Other-Leg-*;
  /// when the far end hangs up CHANNEL_UNBRIDGE, then `park_after_bridge`,
  /// `transfer_after_bridge` or `hangup_after_bridge` as FreeSWITCH, else the channel goes
  /// back to its park or socket, or hangs up when it has none). On a parked or
  /// socket-controlled channel the application runs nested and the channel goes back to its park
  /// or socket afterwards. While an application runs (playback, sleep, play_and_get_digits,
  /// bridge) further ones wait in the channel's queue and run in order after it, as
  /// FreeSWITCH's private event queue holds them. The CHANNEL_EXECUTE(_COMPLETE) events carry
  /// `app_uuid` as Application-UUID (a fresh one when empty). Returns false when the channel
  /// does not exist or is hanging up; an application fsemu does not know is ignored (true, no
  /// events).
  bool execute_app(std::string_view uuid, std::string_view app, std::string_view arg,
                   std::string_view app_uuid, std::int64_t now_us);

  /// Hangs up the call of channel `uuid` with `cause` (a name; unknown = NORMAL_CLEARING), as
  /// `uuid_kill` does. Returns false when the channel does not exist (any more).
  bool hang_up(std::string_view uuid, std::string_view cause, std::int64_t now_us);

  /// Creates a channel for a call arriving from outside (a SIP INVITE as mod_sofia would turn
  /// it into a channel: `sofia/internal/<number>@<addr>:<port>`, inbound, PCMU) and routes it
  /// through the dialplan: `park` answers and parks it (CHANNEL_PARK reaches inbound
  /// subscribers; `park_timeout` is honoured), `play_and_hang_up` plays and hangs up, `socket`
  /// hands it to an outbound socket client; no matching extension hangs it up
  /// NO_ROUTE_DESTINATION (capture 20). Refused without a channel while inbound calls are
  /// paused, an asap shutdown is pending or the session limit is reached.
  [[nodiscard]] inbound_call_result place_inbound_call(const inbound_call_request& request,
                                                       std::int64_t now_us);

  /// The far end of a non-loopback channel hung up (a BYE): NORMAL_CLEARING unless `cause`
  /// says otherwise, `sip_hangup_disposition` = `disposition` (`recv_cancel` for a CANCEL).
  /// Returns false for an unknown channel.
  bool remote_hang_up(std::string_view uuid, std::string_view cause, std::int64_t now_us,
                      std::string_view disposition = "recv_bye");

  /// The caller on channel `uuid` pressed `digit` (RFC 2833): a DTMF event on the channel with
  /// DTMF-Duration `duration_samples` and DTMF-Source `source` ("RTP"); a running playback is
  /// not interrupted (FreeSWITCH's playback only stops on DTMF with playback_terminators set,
  /// which fsemu does not emulate). Returns false for an unknown channel or a digit outside
  /// 0-9, *, #, A-D.
  bool receive_dtmf(std::string_view uuid, char digit, std::uint32_t duration_samples,
                    std::string_view source, std::int64_t now_us);

  /// Handles `sendmsg <uuid>` from any event socket: `call-command` "execute" (with
  /// `app`/`arg`, `app_uuid` from Event-UUID) or "hangup" (with `arg` as the cause). Returns
  /// the Reply-Text: "+OK", or "-ERR invalid session id [<uuid>]" for an unknown channel
  /// (capture 07).
  [[nodiscard]] std::string sendmsg(std::string_view uuid, std::string_view call_command,
                                    std::string_view app, std::string_view arg,
                                    std::string_view app_uuid, std::int64_t now_us);

private:
  /// An application waiting for the running one (sendmsg execute, uuid_broadcast).
  struct queued_app {
    std::string app;
    std::string arg;
    std::string app_uuid;
  };

  /// Where a running play_and_get_digits is.
  enum class collect_phase : std::uint8_t { prompt, digits, invalid };

  /// A running play_and_get_digits: its arguments, the try and the digits so far.
  struct digit_collection {
    pagd_arguments args;
    collect_phase phase = collect_phase::prompt;
    std::uint32_t tries_left = 0;
    std::string digits;
    /// uuid_break while collecting: FreeSWITCH's CF_BREAK stays set and cuts the next file.
    bool break_pending = false;
    /// Digits pressed while the invalid file played: they wait in the channel's DTMF queue
    /// and break the next prompt.
    std::string queued_digits;
  };

  /// How a channel takes part in a bridge.
  enum class bridge_role : std::uint8_t { none, originator, peer };

  /// One channel (one loopback leg). Owned by `legs_`.
  struct leg {
    channel_snapshot snap;
    /// The other loopback leg's UUID.
    std::string partner;
    bool is_a = false;
    std::int64_t created_us = 0;
    std::int64_t answered_us = 0;
    /// The application running now ("park", "playback", "echo", "hangup"; empty = none).
    std::string app;
    std::string app_data;
    std::string app_uuid;
    /// When the running application ends by itself (a playback); 0 = never.
    std::int64_t app_ends_us = 0;
    /// When the running application started.
    std::int64_t app_started_us = 0;
    /// Controlled by an outbound socket: applications run nested in `socket`, which stays the
    /// leg's application (`socket_app_*`) and parks the channel once the client connected.
    bool socket_controlled = false;
    bool socket_connected = false;
    bool socket_parked = false;
    std::string socket_app_data;
    std::string socket_app_uuid;
    /// The A leg of a socket call: the application it runs once the B leg answers.
    std::string pending_app;
    std::string pending_app_args;
    /// ... or the extension (and context) it is transferred to then (`originate URL EXTEN`).
    std::string pending_exten;
    std::string pending_context;
    /// The last application executed and its argument (last_app, last_arg).
    std::string last_app;
    std::string last_arg;
    /// A loopback leg (false for inbound SIP channels made by `place_inbound_call`).
    bool loopback = true;
    /// `park` is the channel's base application: applications run by sendmsg nest in it.
    bool park_base = false;
    std::string park_app_uuid;
    /// When park_timeout ends the park (0 = never) and the cause it hangs up with.
    std::int64_t park_expires_us = 0;
    std::string park_timeout_cause;
    /// The channel this one is bridged to (`bridge loopback/...`, `uuid_bridge`); empty = none.
    std::string bridged_to;
    /// Which side of the bridge this channel is: the originator carries CHANNEL_BRIDGE.
    bridge_role role = bridge_role::none;
    /// When the last bridge started (bridge_epoch at hangup; 0 = never bridged).
    std::int64_t bridged_us = 0;
    /// Applications waiting for the running one.
    std::deque<queued_app> app_queue;
    /// The running play_and_get_digits, if any.
    std::optional<digit_collection> collect;
    /// The file being played now (by playback or play_and_get_digits), when it started, and
    /// whether one plays.
    std::string playing_file;
    std::int64_t playback_started_us = 0;
    bool playing = false;
    /// Parked by park_after_bridge (the CS_PARK state, no `park` application to complete).
    bool park_without_app = false;
    /// The DTMF digits the channel received (digits_dialed at hangup).
    std::string digits_dialed;
    /// sip_hangup_disposition at hangup (non-loopback channels): recv_bye, send_bye, ...
    std::string hangup_disposition;
    /// Destroyed: kept only for the lagging channel list until `listed_until_us`.
    bool gone = false;
    std::int64_t listed_until_us = std::numeric_limits<std::int64_t>::max();
  };

  /// A bgapi job whose BACKGROUND_JOB waits (a shutdown request while calls are up).
  struct waiting_job {
    std::string uuid;
    std::string command;
    std::string args;
    std::string output;
  };

  void halt(std::int64_t now_us);
  void queue_background_job(const waiting_job& job, std::int64_t now_us);
  void shutdown_tick(std::int64_t at_us);
  std::string originate(std::string_view args, std::int64_t now_us);
  std::string show_channels(bool as_json, std::int64_t now_us) const;
  std::string uuid_command(std::string_view command, std::string_view args,
                           std::int64_t now_us);
  leg* find_live(std::string_view uuid);
  void channel_event(std::string name, std::string_view file, std::string_view function,
                     std::uint32_t line, std::int64_t now_us, const leg& l,
                     std::vector<event_header> extras = {});
  void set_state(leg& l, channel_state running, channel_state state, std::int64_t now_us);
  void set_call_state(leg& l, call_state to, std::int64_t now_us);
  void answer(leg& l, std::int64_t now_us);
  void execute(leg& l, std::string app, std::string data, std::int64_t now_us,
               std::string app_uuid = {});
  void restore_base_app(leg& l);
  void execute_complete(leg& l, std::string_view response, std::int64_t now_us);
  void finish_app_on_hangup(leg& l, std::int64_t now_us);
  void hang_up_call(std::string_view uuid, std::string cause, std::int64_t now_us);
  void bridge(std::string_view uuid, std::string_view target, std::string_view app_uuid,
              std::int64_t now_us);
  void end_bridge(std::string_view uuid, std::string_view gone, std::string_view cause,
                  bool gone_answered, std::int64_t now_us);
  void add_hangup_variables(leg& l, std::int64_t now_us);
  void count_new_session(std::int64_t now_us);
  void enter_park(leg& l, std::int64_t now_us);
  void start_playback(leg& l, std::string file, std::int64_t now_us);
  void start_app(std::string_view uuid, std::string_view app, std::string_view arg,
                 std::string_view app_uuid, std::int64_t now_us);
  void run_queued_apps(std::string_view uuid, std::int64_t now_us);
  void finish_nested_app(leg& l, std::int64_t now_us);
  void interrupt_app(leg& l, std::int64_t now_us);
  void leave_extension(leg& l, std::int64_t now_us);
  void break_app(leg& l, std::int64_t now_us);
  void transfer_to(std::string_view uuid, std::string_view destination, std::string context,
                   std::int64_t now_us);
  void start_digits(std::string_view uuid, std::string_view data, std::int64_t now_us);
  void begin_try(leg& l, std::int64_t now_us);
  void begin_collecting(leg& l, std::int64_t now_us);
  bool collect_digit(leg& l, char digit, std::int64_t now_us);
  void end_read(leg& l, char terminator, read_status status, std::int64_t now_us);
  void end_try_file(leg& l, std::int64_t now_us);
  void schedule_app_end(leg& l, std::int64_t at_us);
  void link_bridge(std::string_view originator, std::string_view peer, std::int64_t now_us);
  std::string uuid_bridge(std::string_view args, std::int64_t now_us);
  void after_bridge(std::string_view uuid, std::string_view peer_cause, bool peer_answered,
                    std::int64_t now_us);
  void end_playback(leg& l, std::string_view status, std::int64_t at_us,
                    bool record_position = true);
  void route(leg& l, const dialplan_extension& extension, std::int64_t now_us);
  [[nodiscard]] const dialplan_extension* find_extension(std::string_view destination,
                                                         std::string_view context) const;
  void fire_dtmf(leg& l, char digit, std::uint32_t duration_samples, std::string_view source,
                 std::int64_t now_us);
  void heartbeat(std::int64_t at_us);
  std::string uptime_text(std::int64_t now_us) const;
  std::string channel_command(std::string_view command, std::string_view args,
                              std::int64_t now_us);

  std::string status(std::int64_t now_us) const;
  std::string show(std::string_view args, std::int64_t now_us) const;
  std::string fsctl(std::string_view args, std::int64_t now_us);
  std::string global_getvar(std::string_view args) const;
  /// Whether `playback` of `file` finds it (a relative path under `sounds_dir`).
  bool playable(std::string_view file) const;
  bool queue_event(std::string name, std::string_view file, std::string_view function,
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
  /// A shutdown was requested with calls up: it is checked every 500 ms from the request on.
  bool shutdown_waits_ = false;
  std::uint64_t shutdown_releases_ = 0;
  std::int64_t next_shutdown_tick_us_ = 0;
  std::vector<waiting_job> waiting_jobs_;
  /// Hashes std::string and std::string_view alike, for lookups by view.
  struct uuid_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  /// Every channel still listed, in creation order (live ones and destroyed ones within the
  /// listing lag).
  std::list<leg> legs_;
  /// The live (not destroyed) channels by UUID.
  std::unordered_map<std::string, std::list<leg>::iterator, uuid_hash, std::equal_to<>> live_;
  /// Playback ends: time -> channel UUID; an entry whose channel no longer plays then is stale.
  std::multimap<std::int64_t, std::string> app_ends_;
  /// park_timeout expiries: time -> channel UUID (stale when the park ended or changed).
  std::multimap<std::int64_t, std::string> park_expiries_;
  /// When the next HEARTBEAT fires (0 = disabled).
  std::int64_t next_heartbeat_us_ = 0;
  /// Destroyed channels in the order they leave the listing.
  std::deque<std::list<leg>::iterator> unlisted_;
  socket_connector connector_;
  event_interest interest_;
  std::int64_t rate_window_second_ = 0;
  std::uint32_t rate_window_count_ = 0;
};

} // namespace callgrid::fsemu
