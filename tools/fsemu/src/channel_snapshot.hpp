#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Plain data that fsemu renders FreeSWITCH events from: who the switch is, and what one channel
/// looks like at the moment an event fires. Owned by whoever models the call (fsemu's call
/// logic); `event_renderer` only reads it. Nothing here fails or allocates behind your back.
///
/// The field set is the one the byte-exact FreeSWITCH 1.10.12 captures in
/// tests/data/esl-captures show; each field names the event header it becomes. A string field
/// documented as "empty = absent" is left out of the event when empty, as FreeSWITCH leaves out
/// unset caller-profile strings.
///
/// ```
/// fsemu::channel_snapshot leg;
/// leg.name = "loopback/1000-a";
/// leg.uuid = "ca98311e-c235-46ed-93fd-9458df2614e4";
/// leg.direction = fsemu::call_direction::outbound;
/// leg.set_variable("direction", "outbound");
/// ```
namespace callgrid::fsemu {

/// Who the emulated switch is: the five identity headers every event starts with.
struct switch_identity {
  /// Core-UUID: one per FreeSWITCH process lifetime.
  std::string core_uuid;
  /// FreeSWITCH-Hostname.
  std::string hostname;
  /// FreeSWITCH-Switchname (the hostname unless configured otherwise).
  std::string switchname;
  /// FreeSWITCH-IPv4.
  std::string ipv4;
  /// FreeSWITCH-IPv6.
  std::string ipv6;
};

/// A call direction as FreeSWITCH writes it ("inbound", "outbound").
enum class call_direction : std::uint8_t { inbound, outbound };

/// Channel states; the numeric values are FreeSWITCH's `switch_channel_state_t`, which is what
/// Channel-State-Number shows.
enum class channel_state : std::uint8_t {
  cs_new = 0,
  cs_init = 1,
  cs_routing = 2,
  cs_soft_execute = 3,
  cs_execute = 4,
  cs_exchange_media = 5,
  cs_park = 6,
  cs_consume_media = 7,
  cs_hibernate = 8,
  cs_reset = 9,
  cs_hangup = 10,
  cs_reporting = 11,
  cs_destroy = 12,
  cs_none = 13,
};

/// Call states (Channel-Call-State); the numeric values are FreeSWITCH's
/// `switch_channel_callstate_t`, as CHANNEL_CALLSTATE's Channel-Call-State-Number shows.
enum class call_state : std::uint8_t {
  down = 0,
  dialing = 1,
  ringing = 2,
  early = 3,
  active = 4,
  held = 5,
  ring_wait = 6,
  hangup = 7,
  unheld = 8,
};

/// Answer-State: "ringing" until early media or answer, "hangup" once the channel is down.
enum class answer_state : std::uint8_t { ringing, early, answered, hangup };

namespace detail {

// Indexed by the enum's value.
inline constexpr std::array<std::string_view, 14> channel_state_names = {
  "CS_NEW",
  "CS_INIT",
  "CS_ROUTING",
  "CS_SOFT_EXECUTE",
  "CS_EXECUTE",
  "CS_EXCHANGE_MEDIA",
  "CS_PARK",
  "CS_CONSUME_MEDIA",
  "CS_HIBERNATE",
  "CS_RESET",
  "CS_HANGUP",
  "CS_REPORTING",
  "CS_DESTROY",
  "CS_NONE",
};

inline constexpr std::array<std::string_view, 9> call_state_names = {
  "DOWN", "DIALING", "RINGING", "EARLY", "ACTIVE", "HELD", "RING_WAIT", "HANGUP", "UNHELD"};

inline constexpr std::array<std::string_view, 4> answer_state_names = {"ringing", "early",
                                                                       "answered", "hangup"};

template <std::size_t N>
constexpr std::string_view name_at(const std::array<std::string_view, N>& names,
                                   std::size_t index) noexcept {
  return index < N ? names[index] : std::string_view{"UNKNOWN"};
}

template <class Enum, std::size_t N>
constexpr std::optional<Enum> parse_name(const std::array<std::string_view, N>& names,
                                         std::string_view text) noexcept {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == text)
      return static_cast<Enum>(i);
  return std::nullopt;
}

} // namespace detail

/// "inbound" or "outbound". Never fails.
[[nodiscard]] constexpr std::string_view to_string(call_direction direction) noexcept {
  return direction == call_direction::outbound ? "outbound" : "inbound";
}

/// FreeSWITCH's name of `state`, e.g. "CS_EXECUTE"; "UNKNOWN" for a value outside the enum.
[[nodiscard]] constexpr std::string_view to_string(channel_state state) noexcept {
  return detail::name_at(detail::channel_state_names, static_cast<std::size_t>(state));
}

/// FreeSWITCH's name of `state`, e.g. "ACTIVE"; "UNKNOWN" for a value outside the enum.
[[nodiscard]] constexpr std::string_view to_string(call_state state) noexcept {
  return detail::name_at(detail::call_state_names, static_cast<std::size_t>(state));
}

/// FreeSWITCH's name of `state`, e.g. "answered"; "UNKNOWN" for a value outside the enum.
[[nodiscard]] constexpr std::string_view to_string(answer_state state) noexcept {
  return detail::name_at(detail::answer_state_names, static_cast<std::size_t>(state));
}

/// Parses "inbound"/"outbound"; `nullopt` for anything else.
[[nodiscard]] constexpr std::optional<call_direction>
parse_call_direction(std::string_view text) noexcept {
  if (text == "inbound")
    return call_direction::inbound;
  if (text == "outbound")
    return call_direction::outbound;
  return std::nullopt;
}

/// Parses a channel state name such as "CS_INIT"; `nullopt` for an unknown name.
[[nodiscard]] constexpr std::optional<channel_state>
parse_channel_state(std::string_view text) noexcept {
  return detail::parse_name<channel_state>(detail::channel_state_names, text);
}

/// Parses a call state name such as "RINGING"; `nullopt` for an unknown name.
[[nodiscard]] constexpr std::optional<call_state> parse_call_state(std::string_view text) noexcept {
  return detail::parse_name<call_state>(detail::call_state_names, text);
}

/// Parses an Answer-State value such as "answered"; `nullopt` for an unknown value.
[[nodiscard]] constexpr std::optional<answer_state>
parse_answer_state(std::string_view text) noexcept {
  return detail::parse_name<answer_state>(detail::answer_state_names, text);
}

/// A codec as the Channel-Read-Codec-* / Channel-Write-Codec-* triples show it.
struct codec_info {
  /// ...-Codec-Name, e.g. "L16", "PCMU".
  std::string name;
  /// ...-Codec-Rate: samples per second, e.g. 8000.
  std::uint32_t rate = 8000;
  /// ...-Codec-Bit-Rate, e.g. 128000 (L16 at 8 kHz) or 64000 (PCMU).
  std::uint32_t bit_rate = 0;

  friend bool operator==(const codec_info&, const codec_info&) = default;
};

/// A FreeSWITCH caller profile. Rendered with a prefix: "Caller" for the channel's own profile,
/// "Other-Leg" for the other leg, "Channel" in the outbound `connect` reply. Times are
/// microseconds since the Unix epoch, 0 when the moment has not happened.
struct caller_profile {
  /// <prefix>-Direction.
  call_direction direction = call_direction::inbound;
  /// <prefix>-Logical-Direction.
  call_direction logical_direction = call_direction::inbound;
  /// <prefix>-Username (empty = absent); set for SIP callers.
  std::string username;
  /// <prefix>-Dialplan (empty = absent), e.g. "xml" (loopback) or "XML" (sofia).
  std::string dialplan;
  /// <prefix>-Caller-ID-Name (empty = absent).
  std::string caller_id_name;
  /// <prefix>-Caller-ID-Number (empty = absent).
  std::string caller_id_number;
  /// <prefix>-Orig-Caller-ID-Name (empty = absent).
  std::string orig_caller_id_name;
  /// <prefix>-Orig-Caller-ID-Number (empty = absent).
  std::string orig_caller_id_number;
  /// <prefix>-Callee-ID-Name (empty = absent).
  std::string callee_id_name;
  /// <prefix>-Callee-ID-Number (empty = absent).
  std::string callee_id_number;
  /// <prefix>-Network-Addr (empty = absent); the signalling peer's address for SIP calls.
  std::string network_addr;
  /// <prefix>-ANI (empty = absent).
  std::string ani;
  /// <prefix>-Destination-Number (empty = absent).
  std::string destination_number;
  /// <prefix>-Unique-ID (empty = absent): the UUID of the channel the profile belongs to.
  std::string unique_id;
  /// <prefix>-Source (empty = absent), e.g. "mod_loopback", "mod_sofia".
  std::string source;
  /// <prefix>-Context (empty = absent), e.g. "default".
  std::string context;
  /// <prefix>-Channel-Name (empty = absent).
  std::string channel_name;
  /// <prefix>-Profile-Index (empty = absent), e.g. "1".
  std::string profile_index;
  /// <prefix>-Profile-Created-Time.
  std::int64_t profile_created_time = 0;
  /// <prefix>-Channel-Created-Time.
  std::int64_t channel_created_time = 0;
  /// <prefix>-Channel-Answered-Time.
  std::int64_t channel_answered_time = 0;
  /// <prefix>-Channel-Progress-Time.
  std::int64_t channel_progress_time = 0;
  /// <prefix>-Channel-Progress-Media-Time.
  std::int64_t channel_progress_media_time = 0;
  /// <prefix>-Channel-Hangup-Time.
  std::int64_t channel_hangup_time = 0;
  /// <prefix>-Channel-Transfer-Time.
  std::int64_t channel_transfer_time = 0;
  /// <prefix>-Channel-Resurrect-Time.
  std::int64_t channel_resurrect_time = 0;
  /// <prefix>-Channel-Bridged-Time.
  std::int64_t channel_bridged_time = 0;
  /// <prefix>-Channel-Last-Hold.
  std::int64_t channel_last_hold = 0;
  /// <prefix>-Channel-Hold-Accum.
  std::int64_t channel_hold_accum = 0;
  /// <prefix>-Screen-Bit.
  bool screen_bit = true;
  /// <prefix>-Privacy-Hide-Name.
  bool privacy_hide_name = false;
  /// <prefix>-Privacy-Hide-Number.
  bool privacy_hide_number = false;

  friend bool operator==(const caller_profile&, const caller_profile&) = default;
};

/// The other leg's profile, rendered as Other-Type then Other-Leg-* after the caller profile.
/// Not present in the captures (none bridges two channels); the layout follows FreeSWITCH's
/// `switch_channel_event_set_basic_data`.
struct other_leg_profile {
  /// Other-Type: "originator" (on the B leg) or "originatee" (on the A leg).
  std::string type;
  /// Rendered with the "Other-Leg" prefix.
  caller_profile profile;

  friend bool operator==(const other_leg_profile&, const other_leg_profile&) = default;
};

/// One channel variable, rendered as `variable_<name>: <value>`.
struct channel_variable {
  std::string name;
  std::string value;

  friend bool operator==(const channel_variable&, const channel_variable&) = default;
};

/// One channel as an event sees it. Owned by the emulated call; read by `event_renderer`.
struct channel_snapshot {
  /// Channel-State: the state the channel's state machine is running (FreeSWITCH's
  /// `running_state`), e.g. CS_INIT while CHANNEL_CREATE fires.
  channel_state running_state = channel_state::cs_new;
  /// Channel-State-Number: the number of the state the channel is in or moving to (FreeSWITCH's
  /// `state`). It can differ from `running_state`: CHANNEL_CREATE shows CS_INIT with 2.
  channel_state state = channel_state::cs_new;
  /// Channel-Call-State.
  call_state call = call_state::down;
  /// Channel-Name, e.g. "loopback/1000-a" or "sofia/internal/1000@127.0.0.1".
  std::string name;
  /// Unique-ID: the channel UUID.
  std::string uuid;
  /// Call-Direction and Presence-Call-Direction (FreeSWITCH writes the same value to both).
  call_direction direction = call_direction::inbound;
  /// Channel-HIT-Dialplan.
  bool hit_dialplan = false;
  /// Channel-Call-UUID; empty = the channel's own `uuid`.
  std::string call_uuid;
  /// Answer-State.
  answer_state answer = answer_state::ringing;
  /// Hangup-Cause (empty = absent), e.g. "NORMAL_CLEARING", once the channel has one.
  std::string hangup_cause;
  /// Channel-Read-Codec-*: absent until the read codec is set (the first CODEC event).
  std::optional<codec_info> read_codec;
  /// Channel-Write-Codec-*: absent until the write codec is set.
  std::optional<codec_info> write_codec;
  /// Caller-*: absent before the channel has a caller profile (early CODEC events).
  std::optional<caller_profile> caller;
  /// Other-Type and Other-Leg-*: absent unless the channel is bridged or originated another.
  std::optional<other_leg_profile> other_leg;
  /// The channel variables in the order the channel accumulated them: FreeSWITCH appends a new
  /// variable and moves a variable that is set again to the end (see `set_variable`).
  std::vector<channel_variable> variables;
  /// FreeSWITCH's `verbose_events`: when true every channel event carries the variables, not only
  /// the event types that carry them by default.
  bool verbose_events = false;

  /// Sets the variable `var_name` to `value` as FreeSWITCH does: an existing variable of that
  /// name is removed and the new value appended at the end (the captures show re-set variables
  /// such as current_application moving to the end). Never fails.
  void set_variable(std::string_view var_name, std::string_view value) {
    erase_variable(var_name);
    variables.push_back(channel_variable{std::string{var_name}, std::string{value}});
  }

  /// Removes the variable `var_name`; returns whether it was set.
  bool erase_variable(std::string_view var_name) {
    auto found = std::find_if(variables.begin(), variables.end(),
                              [&](const channel_variable& v) { return v.name == var_name; });
    if (found == variables.end())
      return false;
    variables.erase(found);
    return true;
  }

  /// The value of the variable `var_name`, or `nullptr` if it is not set. The pointer is valid
  /// until the variables change.
  [[nodiscard]] const std::string* find_variable(std::string_view var_name) const {
    for (const auto& v : variables)
      if (v.name == var_name)
        return &v.value;
    return nullptr;
  }

  friend bool operator==(const channel_snapshot&, const channel_snapshot&) = default;
};

} // namespace callgrid::fsemu
