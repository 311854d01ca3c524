#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "esl/frame.hpp"
#include "event_renderer.hpp"
#include "inbound_session.hpp"
#include "switch_core.hpp"

/// One outbound event socket connection of the emulated switch (the `socket HOST:PORT async
/// full` application connected to a client), as a pure state machine: commands in, reply bytes
/// out, exactly as FreeSWITCH 1.10.12's mod_event_socket writes them (captures 11, 11b, 12, 13).
///
/// ```
/// fsemu::outbound_session_logic session{core, b_leg_uuid};
/// session.handle(command_frame, now_us, out);   // "connect" -> the channel data reply, ...
/// for (auto& ev : core.take_events(now_us)) session.deliver(ev, out);
/// if (auto due = session.next_due()) { /* at *due: */ session.advance(*due, out); }
/// if (session.closing()) close_after_writing(out);
/// ```
namespace callgrid::fsemu {

/// The state of one outbound socket. Owned by the listener's outbound connection; used on the
/// listener's I/O thread only. Holds a reference to the switch, which must outlive it. Never
/// fails: protocol errors are answered the way FreeSWITCH answers them.
///
/// Before `connect` it sends nothing (capture 11 checked for 1 s; other commands are ignored).
/// Then: `myevents [plain|json|xml] [uuid]`, `linger [seconds]`, `nolinger`, `sendmsg`
/// (`call-command: execute` with `execute-app-name`/`execute-app-arg` or a body, `Event-UUID`;
/// `call-command: hangup` with `hangup-cause`), `exit`; everything else (`api`, `bgapi`,
/// `event`, `filter`, ...) as on an inbound socket. At the channel's hangup: without linger
/// CHANNEL_HANGUP then the `disconnect` notice and close (capture 12); with linger the final
/// events up to CHANNEL_HANGUP_COMPLETE, the `linger` notice, and for `linger N` the
/// `disconnect` notice and close N seconds later (11b); `linger` without time keeps the socket
/// open until the client closes it (11).
class outbound_session_logic {
public:
  /// The socket of channel `uuid` of `core`, just connected (no `connect` received yet).
  outbound_session_logic(switch_core& core, std::string uuid);

  /// The channel it controls.
  [[nodiscard]] const std::string& uuid() const noexcept { return uuid_; }

  /// Handles one command frame received at `now_us` and appends the reply bytes to `out`.
  void handle(const esl::frame& command, std::int64_t now_us, std::string& out);

  /// Appends `event` to `out` if this socket receives it (`myevents`: the channel's events of
  /// mod_event_socket's myevents list; `event` subscriptions); notices the channel's hangup and
  /// appends the disconnect or linger notice then. Returns whether it appended anything.
  bool deliver(const switch_event& event, std::string& out);

  /// When `advance` has work (the end of `linger N`), or `nullopt`.
  [[nodiscard]] std::optional<std::int64_t> next_due() const noexcept { return linger_ends_us_; }

  /// Runs the work due at `now_us`: a finished linger appends the `disconnect` notice and closes.
  void advance(std::int64_t now_us, std::string& out);

  /// Whether the socket must be closed once `out` has been written.
  [[nodiscard]] bool closing() const noexcept { return closing_; }

  /// Whether the client sent `connect` and got the channel data.
  [[nodiscard]] bool connected() const noexcept { return connected_; }

  /// The client went away (EOF, error): FreeSWITCH hangs up a channel still up. Idempotent.
  void client_gone(std::int64_t now_us);

private:
  void reply(std::string_view text, std::string& out) const;
  void disconnect_notice(std::string& out);
  void command_sendmsg(const esl::frame& command, std::int64_t now_us, std::string& out);
  [[nodiscard]] bool wants(const switch_event& event) const;

  switch_core* core_;
  std::string uuid_;
  /// api, bgapi, event, filter, ... are answered as on an (authenticated) inbound socket.
  inbound_session inner_;
  std::string channel_name_;
  bool connected_ = false;
  bool closing_ = false;
  bool myevents_ = false;
  event_format format_ = event_format::plain;
  bool linger_ = false;
  /// `linger N`: N seconds; -1 = until the client closes.
  std::int64_t linger_seconds_ = -1;
  /// The channel reached CHANNEL_HANGUP_COMPLETE (with linger): no more events.
  bool done_ = false;
  std::optional<std::int64_t> linger_ends_us_;
};

} // namespace callgrid::fsemu
