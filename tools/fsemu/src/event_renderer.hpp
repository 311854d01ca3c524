#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "channel_snapshot.hpp"

/// The pure event-rendering core of fsemu: turns an event (its name, context, channel snapshot
/// and event-specific headers) into the exact bytes FreeSWITCH 1.10.12 puts on an event socket.
///
/// ```
/// fsemu::event_renderer renderer{identity};
/// fsemu::event_context ctx{"switch_channel.c", "switch_channel_perform_answer", 3797,
///                          seq++, now_us};
/// std::vector<fsemu::event_header> none;
/// std::string wire;
/// if (auto err = renderer.append_event({"CHANNEL_ANSWER", ctx, &leg, none, std::nullopt},
///                                      fsemu::event_format::plain, wire))
///   log(err->detail);
/// ```
namespace callgrid::fsemu {

/// One event header: a name and its unencoded value.
struct event_header {
  std::string name;
  std::string value;

  friend bool operator==(const event_header&, const event_header&) = default;
};

/// The formats an event socket client subscribes to with `event plain|json|xml`.
enum class event_format : std::uint8_t {
  /// text/event-plain: `Name: percent-encoded-value` lines.
  plain,
  /// text/event-json: one JSON object of strings, the body as "_body".
  json,
  /// text/event-xml: `<event><headers>` with percent-encoded element text.
  xml,
};

/// The Content-Type of `format`, e.g. "text/event-plain". Never fails.
[[nodiscard]] std::string_view content_type(event_format format) noexcept;

/// Where and when an event fired. The strings are views: the caller keeps them alive for the
/// render call (they are usually literals such as "switch_core_state_machine.c").
struct event_context {
  /// Event-Calling-File, e.g. "switch_core_state_machine.c".
  std::string_view calling_file;
  /// Event-Calling-Function, e.g. "switch_core_session_run".
  std::string_view calling_function;
  /// Event-Calling-Line-Number.
  std::uint32_t calling_line = 0;
  /// Event-Sequence: FreeSWITCH numbers all events of a process consecutively.
  std::uint64_t sequence = 0;
  /// Event-Date-Timestamp: microseconds since the Unix epoch. Event-Date-Local and
  /// Event-Date-GMT are derived from it.
  std::int64_t timestamp_us = 0;
  /// The switch's offset from UTC in seconds at that moment, for Event-Date-Local (the
  /// renderer reads no clock and no time zone; 0 renders local time as UTC).
  std::int32_t utc_offset_seconds = 0;
};

/// Everything an event is rendered from besides the switch identity. A view: `channel`,
/// `extras` and `body` refer to data the caller owns for the duration of the render call.
struct event_input {
  /// Event-Name, e.g. "CHANNEL_EXECUTE": upper-case letters, digits and '_'.
  std::string_view name;
  /// Event-Calling-*, Event-Sequence and the event time.
  event_context context;
  /// The channel the event belongs to, or `nullptr` for channel-less events (BACKGROUND_JOB,
  /// API, HEARTBEAT, SHUTDOWN, SHUTDOWN_REQUESTED, ...).
  const channel_snapshot* channel = nullptr;
  /// The event's own headers in the order FreeSWITCH adds them (Application, Application-Data,
  /// Application-UUID; DTMF-Digit, DTMF-Duration, DTMF-Source; Job-UUID, Job-Command,
  /// Job-Command-Arg; ...). The renderer puts the ones FreeSWITCH adds before the channel data
  /// (see `event_renderer`) in front and the rest after the channel data, in this order.
  std::span<const event_header> extras;
  /// The event body (BACKGROUND_JOB's result text), or `nullopt` for events without one.
  std::optional<std::string_view> body;
};

/// Socket mode and control of an outbound socket, as the `connect` reply reports them.
struct connect_options {
  /// Socket-Mode: "async" when true, "static" otherwise.
  bool async = true;
  /// Control: "full" when true, "single-channel" otherwise.
  bool full_control = true;
};

/// Why an input could not be rendered.
enum class render_errc : std::uint8_t {
  /// The event name is empty or holds something other than A-Z, 0-9 and '_'.
  invalid_event_name = 1,
  /// A header name (an extra, or `variable_` plus a variable name) is empty or holds a byte that
  /// would corrupt a frame in one of the formats: a control byte, space, a non-ASCII byte, or
  /// one of `:<>&"'/=`. The rule is the same for all formats, so an event that renders in one
  /// renders in all.
  invalid_header_name,
};

/// The name of `code`, e.g. "invalid_header_name". Never fails.
[[nodiscard]] std::string_view to_string(render_errc code) noexcept;

/// A rendering error: what was wrong, naming the offending event and header.
struct render_error {
  render_errc code = render_errc::invalid_event_name;
  std::string detail;
};

/// Renders FreeSWITCH events and the outbound `connect` reply byte for byte as FreeSWITCH
/// 1.10.12 does. Owned by an fsemu node (one per emulated switch); immutable after
/// construction, so one instance may be used from several threads. Pure: it reads no clock,
/// opens no socket and keeps no per-event state; everything that varies comes in.
///
/// Header order, per FreeSWITCH (`switch_event_prep_for_delivery`,
/// `switch_channel_event_set_data`, `switch_caller_profile_event_set_data`):
///  1. Event-Name, Core-UUID, FreeSWITCH-Hostname/-Switchname/-IPv4/-IPv6, Event-Date-Local,
///     Event-Date-GMT, Event-Date-Timestamp, Event-Calling-File/-Function/-Line-Number,
///     Event-Sequence.
///  2. The extras FreeSWITCH adds before the channel data: Hangup-Cause for
///     CHANNEL_HANGUP_COMPLETE (taken from the channel when not supplied);
///     Original-Channel-Call-State, Channel-Call-State-Number for CHANNEL_CALLSTATE; Direction
///     for CALL_UPDATE; Bridge-A-Unique-ID, Bridge-B-Unique-ID for CHANNEL_(UN)BRIDGE.
///  3. With a channel: Channel-State ... Answer-State, Hangup-Cause, the read and write codecs,
///     Caller-*, Other-Type and Other-Leg-*, then `variable_*` for the event types that carry
///     variables (CHANNEL_CREATE, _ORIGINATE, _ANSWER, _PARK, _UNPARK, _EXECUTE(_COMPLETE),
///     _HANGUP(_COMPLETE), _DESTROY, _PROGRESS(_MEDIA), _BRIDGE, _UNBRIDGE, CHANNEL_DATA,
///     PLAYBACK_*, RECORD_*, CALL_UPDATE, API, CUSTOM, ...; not CHANNEL_STATE, CHANNEL_CALLSTATE,
///     CHANNEL_OUTGOING, CODEC, DTMF) or when the channel has `verbose_events`.
///  4. The remaining extras, in the order given.
class event_renderer {
public:
  /// A renderer for the switch `identity`.
  explicit event_renderer(switch_identity identity);

  /// The identity every event carries.
  [[nodiscard]] const switch_identity& identity() const noexcept { return identity_; }

  /// The event's headers in FreeSWITCH's order, values unencoded. The body is not a header:
  /// the encoders add its Content-Length. Never fails (names are checked when encoding).
  [[nodiscard]] std::vector<event_header> headers(const event_input& event) const;

  /// For each of `names`, the value of the first header of `event` so called (ASCII
  /// case-insensitive), if any: what an event socket's filters compare, found in one walk over
  /// the headers without building them all.
  [[nodiscard]] std::vector<std::optional<std::string>>
  header_values(const event_input& event, const std::vector<std::string_view>& names) const;

  /// Appends the complete frame of `event` in `format` to `out`: the outer
  /// `Content-Length`/`Content-Type` block and the encoded event. On error nothing is
  /// appended and the error names the bad event or header name.
  [[nodiscard]] std::optional<render_error> append_event(const event_input& event,
                                                         event_format format,
                                                         std::string& out) const;

  /// The headers of the outbound socket's reply to `connect`: a CHANNEL_DATA event (the caller
  /// profile as Channel-*, then the channel data with variables) followed by Content-Type,
  /// Reply-Text, Socket-Mode and Control. Never fails.
  [[nodiscard]] std::vector<event_header>
  connect_reply_headers(const event_context& context, const channel_snapshot& channel,
                        connect_options options = {}) const;

  /// Appends the outbound socket's reply to `connect`: the `connect_reply_headers` as one
  /// header block with percent-encoded values and no body. On error (a variable name that would
  /// corrupt the frame) nothing is appended.
  [[nodiscard]] std::optional<render_error>
  append_connect_reply(const event_context& context, const channel_snapshot& channel,
                       connect_options options, std::string& out) const;

private:
  switch_identity identity_;
};

} // namespace callgrid::fsemu
