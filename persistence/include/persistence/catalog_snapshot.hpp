#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/timestamp.hpp>

#include "persistence/call_record.hpp"

namespace callgrid::persistence {

/// What a route does with a matching call (column `routes.action`).
enum class route_action : uint8_t {
  /// Run the IVR flow `flow_id`.
  flow = 0,
  /// Bridge the call to `bridge_target` (a FreeSWITCH dial string).
  bridge = 1,
  /// Hang up with `hangup_cause`.
  hangup = 2,
};

/// Returns "flow", "bridge" or "hangup" (the column's text).
[[nodiscard]] const char* to_string(route_action value) noexcept;

/// Days of the week as bits of `time_window::days`: Monday is bit 0, Sunday bit 6.
enum class weekday_bit : uint8_t {
  mon = 1 << 0,
  tue = 1 << 1,
  wed = 1 << 2,
  thu = 1 << 3,
  fri = 1 << 4,
  sat = 1 << 5,
  sun = 1 << 6,
};

/// One element of `routes.time_windows`: on the days in `days`, from `from_minute` to
/// `to_minute` (minutes after local midnight in `timezone`; `to_minute` is exclusive and may be
/// 1440). `from_minute > to_minute` is a window across midnight that starts on a day in `days`.
/// Plain value; the migration's CHECK guarantees the shape, the engine resolves the time zone.
struct time_window {
  /// Bit set of `weekday_bit`; never 0.
  uint8_t days = 0;
  uint16_t from_minute = 0;
  uint16_t to_minute = 0;
  /// IANA time zone name, "UTC" when the document gave none.
  std::string timezone = "UTC";

  /// Returns whether `day` (0 = Monday ... 6 = Sunday) is one of `days`.
  [[nodiscard]] bool on(int day) const noexcept { return day >= 0 && day < 7 && (days >> day) & 1; }

  friend bool operator==(const time_window&, const time_window&) = default;
};

/// One enabled row of `routes` (migrations 0001 and 0004). Plain value.
struct catalog_route {
  int64_t id = 0;
  /// Unique name; the key of `catalog_store::upsert_route`.
  std::string name;
  /// The longest matching prefix of the called number wins (empty matches every number).
  std::string match_prefix;
  /// Among equal prefixes the lowest priority wins.
  int32_t priority = 100;
  /// Set exactly when `action == route_action::flow`.
  std::optional<int64_t> flow_id;
  bool enabled = true;
  std::optional<int32_t> max_concurrent;
  /// Row version, bumped by every write through `catalog_store`.
  int64_t version = 1;
  /// Regular expression the caller number must match (PostgreSQL checked that it compiles);
  /// empty optional = any caller.
  std::optional<std::string> caller_pattern;
  /// When the route applies; empty = always.
  std::vector<time_window> time_windows;
  route_action action = route_action::flow;
  /// Set exactly when `action == route_action::bridge`.
  std::optional<std::string> bridge_target;
  /// Set exactly when `action == route_action::hangup`.
  std::optional<std::string> hangup_cause;
  /// Whether the engine answers the call before the action.
  bool answer = true;
  /// Which ESL mode carries calls of this route (column `esl_mode`).
  esl_mode mode = esl_mode::inbound;

  friend bool operator==(const catalog_route&, const catalog_route&) = default;
};

/// The highest version of one IVR flow (`ivr_flows`). Plain value; the document stays JSON text
/// (PostgreSQL's canonical jsonb rendering), parsed by the engine.
struct catalog_flow {
  int64_t flow_id = 0;
  int32_t version = 1;
  std::string name;
  std::string document;

  friend bool operator==(const catalog_flow&, const catalog_flow&) = default;
};

/// One row of `prompts`. Plain value.
struct catalog_prompt {
  std::string name;
  std::string language = "en";
  std::string uri;
  /// Hex SHA-256 of the audio, when known.
  std::optional<std::string> sha256;

  friend bool operator==(const catalog_prompt&, const catalog_prompt&) = default;
};

/// One row of `campaigns` (every state). Plain value.
struct catalog_campaign {
  int64_t id = 0;
  std::string name;
  /// "draft", "running", "paused", "stopped" or "finished".
  std::string state;
  std::optional<int64_t> flow_id;
  std::string caller_id;
  int32_t max_concurrent = 1;
  double calls_per_second = 1;
  int32_t max_attempts = 3;
  /// `retry_delay` in seconds (a month counts as 30 days).
  int64_t retry_delay_seconds = 1800;
  /// Calling window, seconds after local midnight in `timezone`; both empty = no window.
  std::optional<int32_t> window_start_seconds;
  std::optional<int32_t> window_end_seconds;
  std::string timezone = "UTC";
  int64_t version = 1;

  friend bool operator==(const catalog_campaign&, const catalog_campaign&) = default;
};

/// Everything the call path reads from PostgreSQL, loaded in one consistent read (see
/// `load_catalog`). A plain value: immutable once published by the `catalog_watcher` and shared
/// as `std::shared_ptr<const catalog_snapshot>`, so any thread may read it without locks.
///
/// Orders: `routes` by prefix length (longest first), then priority, then id; `flows` by
/// flow_id; `prompts` by (name, language); `campaigns` by id. The lookups below rely on them.
struct catalog_snapshot {
  /// Enabled routes only.
  std::vector<catalog_route> routes;
  /// The highest version of each flow_id.
  std::vector<catalog_flow> flows;
  std::vector<catalog_prompt> prompts;
  std::vector<catalog_campaign> campaigns;
  /// 1 for the first snapshot a watcher publishes, +1 for each later one; 0 from `load_catalog`.
  uint64_t generation = 0;
  /// When the read transaction began (wall clock).
  caf::timestamp loaded_at;

  /// Returns the flow `flow_id`, or null. Binary search.
  [[nodiscard]] const catalog_flow* find_flow(int64_t flow_id) const noexcept;

  /// Returns the prompt `name` in `language`, or null. Binary search.
  [[nodiscard]] const catalog_prompt* find_prompt(std::string_view name,
                                                  std::string_view language) const noexcept;

  /// Returns the campaign `id`, or null. Binary search.
  [[nodiscard]] const catalog_campaign* find_campaign(int64_t id) const noexcept;

  /// Returns the route named `name`, or null. Linear: for tools and tests, not the call path.
  [[nodiscard]] const catalog_route* find_route(std::string_view name) const noexcept;

  friend bool operator==(const catalog_snapshot&, const catalog_snapshot&) = default;
};

/// The URI each prompt name plays, for flows that use catalog prompts by name: the row in
/// `language`, else in `fallback` (callgridd passes the flow's language and
/// `ivr.default_language`), else the row of the alphabetically first language. (Flows do not
/// pick a prompt language per call yet.)
[[nodiscard]] std::map<std::string, std::string, std::less<>>
prompt_uris_by_name(const std::vector<catalog_prompt>& prompts, std::string_view language = "en",
                    std::string_view fallback = {});

} // namespace callgrid::persistence
