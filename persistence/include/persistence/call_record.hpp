#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace callgrid::persistence {

/// Which way a leg goes, seen from the platform.
enum class call_direction : uint8_t {
  inbound = 0,
  outbound = 1,
};

/// How the node controlled the leg: an inbound ESL client connection, or FreeSWITCH's
/// `socket` application connecting to our outbound server.
enum class esl_mode : uint8_t {
  inbound = 0,
  outbound = 1,
};

/// Why the record was closed: a normal hangup, or the platform ending the leg's tracking.
enum class end_reason : uint8_t {
  /// The call ended by itself (hangup by a party, timeout, failure reported by FreeSWITCH).
  normal = 0,
  /// The node was drained and the leg was ended or abandoned by that drain.
  node_drain = 1,
  /// The node stopped answering; the record is closed with what was known.
  node_lost = 2,
  /// The control plane restarted while the leg was up.
  engine_restart = 3,
};

/// Returns "inbound" or "outbound".
[[nodiscard]] const char* to_string(call_direction value) noexcept;
/// Returns "inbound" or "outbound".
[[nodiscard]] const char* to_string(esl_mode value) noexcept;
/// Returns "normal", "node_drain", "node_lost" or "engine_restart".
[[nodiscard]] const char* to_string(end_reason value) noexcept;

/// One step of an IVR: the menu that was played and the choice the caller made there (empty
/// when the menu timed out without a choice).
struct ivr_step {
  std::string menu;
  std::string choice;

  friend bool operator==(const ivr_step&, const ivr_step&) = default;
};

/// One call leg as it is stored in the `cdr` table (unique on `(call_uuid, leg)`). A plain
/// value: built by the call's actor when the leg ends, handed to the record writer, encoded by
/// `record_codec`. Times are integers so the codec stays free of clock types.
struct call_record {
  /// FreeSWITCH UUID shared by all legs of one call.
  std::string call_uuid;
  /// FreeSWITCH UUID of this leg's channel.
  std::string leg_uuid;
  /// Leg number within the call (0 = the first leg).
  int32_t leg = 0;
  call_direction direction = call_direction::inbound;
  /// Calling party as signalled (E.164 or SIP user part).
  std::string caller;
  /// Called party as signalled.
  std::string callee;
  std::optional<int64_t> route_id;
  std::optional<int64_t> flow_id;
  std::optional<int64_t> campaign_id;
  std::optional<int64_t> attempt_id;
  /// Name of the FreeSWITCH node that carried the leg.
  std::string node;
  esl_mode mode = esl_mode::inbound;
  /// Channel creation, in microseconds since the Unix epoch.
  int64_t created_us = 0;
  /// Answer time in microseconds since the Unix epoch; absent when never answered.
  std::optional<int64_t> answered_us;
  /// Hangup time in microseconds since the Unix epoch.
  int64_t ended_us = 0;
  /// From creation to hangup, in milliseconds.
  int64_t duration_ms = 0;
  /// From answer to hangup, in milliseconds (0 when never answered).
  int64_t billsec_ms = 0;
  /// FreeSWITCH hangup cause, e.g. "NORMAL_CLEARING".
  std::string hangup_cause;
  /// Final SIP response code, when the leg saw one.
  std::optional<int32_t> sip_code;
  /// Business outcome, e.g. "answered", "busy", "no_answer", "machine".
  std::string disposition;
  /// Menus visited and choices made, in order.
  std::vector<ivr_step> ivr_path;
  end_reason reason = end_reason::normal;

  friend bool operator==(const call_record&, const call_record&) = default;
};

} // namespace callgrid::persistence
