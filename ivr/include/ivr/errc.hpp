#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace callgrid::ivr {

/// Error codes of the IVR component (category atom "ivr"). Flow documents report their problems
/// as `diagnostic`s, not as errors; these codes cover what is not a flow problem. Every error
/// built from them carries a context string naming what failed.
enum class errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// A time zone name is malformed or names no file under the zoneinfo directory.
  unknown_time_zone,
  /// A zoneinfo file exists but is not a valid TZif file.
  invalid_time_zone_file,
  /// A flow file could not be opened or read.
  unreadable_flow_file,
};

/// Returns the name of `code`, e.g. "unknown_time_zone".
[[nodiscard]] const char* to_string(errc code) noexcept;

/// Renders an IVR error for humans, e.g. "ivr.unknown_time_zone: Europe/Berlinn". Errors of
/// other categories are rendered by CAF.
[[nodiscard]] std::string render_error(const caf::error& err);

} // namespace callgrid::ivr

CAF_ERROR_CODE_ENUM(callgrid::ivr::errc, "ivr")
