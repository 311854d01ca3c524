#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callgrid::fsemu {

/// One `filter HEADER VALUE` of an event socket connection, in the order it was added.
struct event_filter {
  std::string header;
  std::string value;
};

/// Whether a subscribed event passes a connection's filters, as FreeSWITCH 1.10's
/// mod_event_socket decides. `header_values[i]` is the event's value of `filters[i].header`
/// (names compared ignoring ASCII case), or nothing when the event lacks it:
/// - no filters: it passes;
/// - otherwise it passes only when a positive filter matches and no negative one does. A filter
///   whose header the event lacks is skipped. A value may start with '+' (positive, the default)
///   or '-' (negative), spaces allowed between; the rest is compared ignoring ASCII case. Once a
///   positive filter matched, later positive ones are skipped; a matching negative filter ends
///   the walk with "does not pass", wherever it stands.
/// - A value starting with '/' is a regular expression in FreeSWITCH; fsemu does not emulate
///   those and compares the text (README.md, "Not reproduced (yet)").
[[nodiscard]] bool passes_filters(const std::vector<event_filter>& filters,
                                  const std::vector<std::optional<std::string>>& header_values);

} // namespace callgrid::fsemu
