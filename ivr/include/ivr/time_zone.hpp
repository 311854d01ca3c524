#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace callgrid::ivr {

/// A time zone: either a fixed UTC offset or the transitions of an IANA zone read from a TZif
/// file. Immutable after loading and safe to share between threads; owned by whoever loaded it
/// (a `flow` keeps the zones its `branch` nodes use).
///
/// g++ 12's libstdc++ has no `std::chrono::tzdb`, so IANA zones are read from the system's
/// zoneinfo directory (`$TZDIR`, else `/usr/share/zoneinfo`) at load time, never during a call.
/// Instants after the file's last transition use the last offset (Debian's files list
/// transitions up to 2037); the POSIX rule in the file's footer is not evaluated.
class time_zone {
public:
  /// Loads `name`: "UTC", a fixed offset ("UTC+02:00", "UTC-5", "+05:30") or an IANA name
  /// ("Europe/Berlin"). Runs in the caller's thread and reads one file; fails with
  /// `errc::unknown_time_zone` (bad name, no file) or `errc::invalid_time_zone_file`.
  [[nodiscard]] static caf::expected<time_zone> load(std::string_view name);

  /// The name it was loaded with.
  [[nodiscard]] const std::string& name() const noexcept {
    return name_;
  }

  /// Offset from UTC in effect at `instant` (positive east of Greenwich).
  [[nodiscard]] std::chrono::seconds offset_at(std::chrono::sys_seconds instant) const noexcept;

  /// Local wall-clock time at `instant`, as a time point whose epoch is local midnight of
  /// 1970-01-01 (use `std::chrono::floor<days>` for the local date).
  [[nodiscard]] std::chrono::sys_seconds to_local(std::chrono::sys_seconds instant) const noexcept {
    return instant + offset_at(instant);
  }

private:
  struct transition {
    std::int64_t at;      // seconds since the epoch, UTC
    std::int32_t offset;  // seconds east of UTC from `at` on
  };
  std::string name_;
  std::int32_t initial_offset_ = 0;
  std::vector<transition> transitions_;
};

} // namespace callgrid::ivr
