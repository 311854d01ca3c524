#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "esl/frame.hpp"
#include "event_filter.hpp"
#include "event_renderer.hpp"
#include "switch_core.hpp"

/// One inbound event socket connection of the emulated switch, as a pure state machine: commands
/// in (parsed by `esl::frame_parser` in `to_freeswitch` mode), reply bytes out, exactly as
/// FreeSWITCH 1.10.12's mod_event_socket writes them (captures 01, 01b, 01c, 02, 03, 04).
///
/// ```
/// fsemu::inbound_session session{core};
/// std::string out = session.greeting();           // "Content-Type: auth/request\n\n"
/// session.handle(command_frame, now_us, out);     // appends the reply
/// for (auto& ev : core.take_events(now_us))
///   for (auto& s : sessions) s.deliver(ev, out_of(s));
/// if (session.closing()) close_after_writing(out);
/// ```
namespace callgrid::fsemu {

/// Runs a `sendmsg [<uuid>]` command frame against `core` for either kind of event socket:
/// `call-command: execute` (`execute-app-name`, `execute-app-arg` or the frame's body,
/// `Event-UUID` as the Application-UUID; `event-lock` and `loops` accepted and ignored) or
/// `call-command: hangup` (`hangup-cause`). `default_uuid` is used when the command line names
/// no channel (an outbound socket's own). Returns the Reply-Text ("+OK", or "-ERR invalid
/// session id [<uuid>]" as capture 07 shows). Runs on the caller's thread; never fails otherwise.
[[nodiscard]] std::string run_sendmsg(switch_core& core, const esl::frame& command,
                                      std::string_view default_uuid, std::int64_t now_us);

/// The state of one client connection. Owned by the listener's connection object; used on the
/// listener's I/O thread only. Holds a reference to the switch, which must outlive it. Never
/// fails: protocol errors are answered the way FreeSWITCH answers them ("-ERR ...").
class inbound_session {
public:
  /// A new, unauthenticated connection to `core`.
  explicit inbound_session(switch_core& core) : core_(&core) {}

  /// A connection that needs no `auth`: the commands an outbound socket shares with an inbound
  /// one (`api`, `bgapi`, `event`, `filter`, ...) are answered by one of these.
  [[nodiscard]] static inbound_session preauthenticated(switch_core& core) {
    inbound_session session{core};
    session.authenticated_ = true;
    return session;
  }

  /// The bytes FreeSWITCH sends as soon as a client connects.
  [[nodiscard]] static std::string greeting() { return "Content-Type: auth/request\n\n"; }

  /// The notice each connection gets when the switch shuts down, after which it is closed.
  [[nodiscard]] static std::string shutdown_notice();

  /// Handles one command frame received at `now_us` and appends the reply bytes to `out`.
  /// Events the command fires are queued in the switch (`switch_core::take_events`).
  void handle(const esl::frame& command, std::int64_t now_us, std::string& out);

  /// Whether the connection must be closed once `out` has been written (after `exit` or a bad
  /// password).
  [[nodiscard]] bool closing() const noexcept { return closing_; }

  /// Whether the client passed `auth`.
  [[nodiscard]] bool authenticated() const noexcept { return authenticated_; }

  /// The format the client subscribed in.
  [[nodiscard]] event_format format() const noexcept { return format_; }

  /// Whether this client receives `event`: authenticated, subscribed to its name (or ALL, or
  /// CUSTOM with its Event-Subclass), and matching a filter when it has filters.
  [[nodiscard]] bool wants(const switch_event& event) const;

  /// Whether events named `event_name` could reach this client (subscribed to the name, to ALL,
  /// or to CUSTOM for CUSTOM events; filters are not considered).
  [[nodiscard]] bool subscribed_to(std::string_view event_name) const;

  /// Appends `event` in the session's format to `out` if the session `wants` it. Returns whether
  /// it did; an event that cannot be rendered (a malformed header name) is skipped.
  bool deliver(const switch_event& event, std::string& out);

  /// Whether an `api fsctl shutdown elegant|asap` sent with calls up is waiting for them to end
  /// (capture 16a: FreeSWITCH runs the api in the connection's thread, so nothing else is
  /// written to or read from that connection meanwhile). Events are held; commands handed in
  /// meanwhile are ignored, so the owner must keep them until `release` (the listener leaves
  /// them in its parser).
  [[nodiscard]] bool blocked() const noexcept { return blocked_; }

  /// Ends the block once the switch's shutdown wait is over (the first 500 ms check after the
  /// last hangup, or after `fsctl shutdown cancel`): appends the api reply and the events held
  /// meanwhile. Returns whether it did.
  bool release(std::string& out);

private:
  void reply(std::string_view text, std::string& out) const;
  void command_event(std::string_view args, std::string& out);
  void command_nixevent(std::string_view args, std::string& out);
  void command_filter(std::string_view args, std::string& out);
  void command_log(std::string_view args, std::string& out);
  void command_bgapi(const esl::frame& command, std::string_view args, std::int64_t now_us,
                     std::string& out);
  void command_sendevent(const esl::frame& command, std::string_view args, std::int64_t now_us,
                         std::string& out);
  void bye(std::string& out);

  switch_core* core_;
  bool authenticated_ = false;
  bool closing_ = false;
  /// A blocking `api fsctl shutdown` (see `blocked`): its reply body, the switch's release
  /// count when it started, the events held meanwhile.
  bool blocked_ = false;
  std::string blocked_reply_;
  std::uint64_t blocked_since_ = 0;
  std::string held_events_;
  bool listening_ = false;
  bool all_events_ = false;
  event_format format_ = event_format::plain;
  std::set<std::string, std::less<>> event_names_;
  std::set<std::string, std::less<>> custom_subclasses_;
  std::vector<event_filter> filters_;
  int log_level_ = -1;
};

} // namespace callgrid::fsemu
