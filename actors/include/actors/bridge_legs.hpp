#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "persistence/call_record.hpp"

namespace callgrid::esl {
class frame;
} // namespace callgrid::esl

/// The far legs of the bridges a call starts (actors/README.md, "Bridges and their far legs").
/// A call's `bridge` names, in its dial string, the call and a leg number for every channel it
/// may create; each such channel's CHANNEL_HANGUP_COMPLETE then carries them as channel
/// variables, and the node supervisor turns that one event into the leg's record. Nothing
/// about a far leg is kept while it is up, so a restart of callgridd in between loses nothing.
namespace callgrid::actors {

/// Channel variable with the UUID of the call (its first leg) that bridged to the channel.
inline constexpr std::string_view far_leg_call_variable = "callgrid_call";
/// Channel variable with the leg's number within its call (1, 2, ...; the first leg is 0).
inline constexpr std::string_view far_leg_number_variable = "callgrid_leg";

/// `dial_string` with `originate_timeout=<timeout in seconds>` in its leading `{...}` block
/// (one is added when there is none), unless that block sets `originate_timeout` already: the
/// dial string's own choice wins. A `[leg_timeout=N]` of a leg still wins for that leg. A dial
/// string that starts with `<` or `${` is returned as it is.
[[nodiscard]] std::string with_originate_timeout(std::string_view dial_string,
                                                 std::chrono::seconds timeout);

/// A bridge's dial string with its far legs named.
struct named_dial_string {
  std::string text;
  /// How many leg numbers it used (one per endpoint); 0 when it could not be named.
  int32_t legs = 0;
};

/// `dial_string` as `with_originate_timeout` makes it, with `callgrid_call=<call_uuid>` in its
/// `{...}` block and `[callgrid_leg=N]` before each endpoint (endpoints are separated by `,`
/// (rung at once) or `|` (one after the other) outside brackets; a `\,` is no separator),
/// numbered from `first_leg`; an endpoint's own `[...]` block gets the variable added. A dial
/// string that starts with `<` or `${` is only given as it is (FreeSWITCH expands it later):
/// its far legs carry no names and get no record.
[[nodiscard]] named_dial_string name_far_legs(std::string_view dial_string,
                                              std::string_view call_uuid, int32_t first_leg,
                                              std::chrono::seconds timeout);

/// The record of a bridge's far leg from the leg's CHANNEL_HANGUP_COMPLETE: call_uuid and leg
/// from its `callgrid_call` and `callgrid_leg` variables, leg_uuid its Unique-ID, direction
/// outbound, times, cause and SIP code as for any leg, disposition `answered` when it was
/// answered, else `busy`, `no_answer` or `failed` by its cause. None when the event is not the
/// final event of an outbound channel that carries both variables (a positive leg number).
/// `node` names this node in the record.
[[nodiscard]] std::optional<persistence::call_record>
far_leg_record(const esl::frame& final_event, const std::string& node);

/// The disposition of a leg that ended unanswered with FreeSWITCH hangup cause `cause`: "busy"
/// (USER_BUSY), "no_answer" (NO_ANSWER, NO_USER_RESPONSE, ORIGINATOR_CANCEL,
/// ALLOTTED_TIMEOUT, LOSE_RACE) or "failed".
[[nodiscard]] const char* unanswered_disposition(std::string_view cause) noexcept;

} // namespace callgrid::actors
