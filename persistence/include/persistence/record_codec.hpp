#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/call_record.hpp"
#include "persistence/errc.hpp"

namespace callgrid::persistence {

/// Encodes call records as msgpack and decodes them back. Stateless and pure: any thread may
/// call it. The encoding is one msgpack array whose first element is the format version:
///
/// ```
/// [1, call_uuid, leg_uuid, leg, direction, caller, callee, route_id|nil, flow_id|nil,
///  campaign_id|nil, attempt_id|nil, node, esl_mode, created_us, answered_us|nil, ended_us,
///  duration_ms, billsec_ms, hangup_cause, sip_code|nil, disposition, [[menu, choice]...],
///  end_reason]
/// ```
///
/// Enums travel as their integer values; times as int64 microseconds. A change of layout gets a
/// new version number; `decode` keeps reading every version it has ever written.
///
/// ```cpp
/// std::vector<std::byte> bytes;
/// record_codec::encode(rec, bytes);
/// auto back = record_codec::decode(bytes); // caf::expected<call_record>
/// ```
class record_codec {
public:
  /// The format version `encode` writes.
  static constexpr uint32_t format_version = 1;

  /// Appends the encoding of `record` to `out`. Cannot fail (short of memory).
  static void encode(const call_record& record, std::vector<std::byte>& out);

  /// Returns the encoding of `record`.
  [[nodiscard]] static std::vector<std::byte> encode(const call_record& record);

  /// Decodes one record that fills `bytes` exactly. Fails with `errc::record_decode_failed`
  /// (malformed msgpack, a wrong shape, an out-of-range enum, trailing bytes; the context names
  /// the field) or `errc::unsupported_record_version` (a version this build does not read).
  [[nodiscard]] static caf::expected<call_record> decode(std::span<const std::byte> bytes);
};

} // namespace callgrid::persistence
