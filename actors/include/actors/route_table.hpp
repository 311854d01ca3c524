#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "ivr/time_zone.hpp"

namespace callgrid::actors {

/// What a route does with a matching call.
enum class route_action : uint8_t {
  /// Answer (if the route says so) and run an IVR flow.
  flow,
  /// Answer if asked and bridge to an endpoint or agent group (`bridge_target`).
  bridge,
  /// Hang up with `hangup_cause` without answering.
  hangup,
};

/// Returns "flow", "bridge" or "hangup".
[[nodiscard]] const char* to_string(route_action action) noexcept;

/// A weekly time window in a time zone's local time: on the given weekdays, from `from_minute`
/// to `to_minute` (minutes after local midnight, `to_minute` exclusive; `to_minute <
/// from_minute` crosses midnight, the part after midnight belonging to the day it started).
struct time_window {
  /// Bit d set = ISO weekday d + 1 allowed (bit 0 = Monday ... bit 6 = Sunday), as the catalog
  /// stores it.
  uint8_t weekdays = 0x7f;
  int from_minute = 0;
  int to_minute = 24 * 60;
  /// The zone of the window (null = UTC); loaded when the table is built, never during a call.
  std::shared_ptr<const ivr::time_zone> zone;
};

/// One inbound route, as the engine uses it: plain values copied from the catalog.
struct route {
  int64_t id = 0;
  std::string name;
  /// The called number must start with this ("" matches every number).
  std::string match_prefix;
  /// Lower wins among equally long prefixes.
  int priority = 100;
  /// ECMAScript regex the whole caller number must match; empty = any caller.
  std::string caller_pattern;
  /// Empty = always open.
  std::vector<time_window> windows;
  route_action action = route_action::flow;
  /// The flow to run (action flow).
  std::optional<int64_t> flow_id;
  /// Endpoint for action bridge, e.g. "sofia/gateway/agents/2000" or "loopback/2000".
  std::string bridge_target;
  /// Cause for action hangup (default CALL_REJECTED).
  std::string hangup_cause = "CALL_REJECTED";
  /// Answer before running the action (flow and bridge).
  bool answer = true;
  /// "inbound" or "outbound": which ESL mode the node's dialplan gives this traffic.
  std::string esl_mode = "inbound";
};

/// The routes in lookup order, immutable once built and shared by every call actor of a node
/// (`std::shared_ptr<const route_table>`); a catalog change builds a new table. Pure and
/// thread-safe for readers.
///
/// ```cpp
/// auto table = route_table::build(routes);
/// if (const route* r = table->match("1000", "+4930123", std::chrono::system_clock::now())) ...
/// ```
class route_table {
public:
  /// Builds a table; routes whose caller pattern is not a valid regex are left out and
  /// reported in `problems()` (the rest still route).
  [[nodiscard]] static std::shared_ptr<const route_table> build(std::vector<route> routes);

  /// The route for a call: the longest matching prefix, then the lowest priority, then the
  /// lowest id, among routes whose caller pattern and time windows accept the call. Null when
  /// no route matches.
  [[nodiscard]] const route* match(std::string_view callee, std::string_view caller,
                                   std::chrono::system_clock::time_point now) const;

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  /// Routes left out, one line each ("route 'x': caller_pattern ...: <why>").
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
  struct entry {
    route value;
    std::optional<std::regex> caller;
  };
  std::vector<entry> entries_;
  std::vector<std::string> problems_;
};

/// True when `now` falls inside `window`.
[[nodiscard]] bool is_open(const time_window& window, std::chrono::system_clock::time_point now);

} // namespace callgrid::actors
