#include "persistence/catalog_loader.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

#include <libpq-fe.h>

#include "persistence/errc.hpp"

namespace callgrid::persistence {

namespace {

using internal::pg_exec;
using internal::pg_field;
using internal::pg_text;

constexpr const char* begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

constexpr const char* routes_sql = R"(SELECT id, name, match_prefix, priority, flow_id, enabled,
       max_concurrent, version, caller_pattern, action, bridge_target, hangup_cause, answer,
       esl_mode
FROM routes WHERE enabled
ORDER BY length(match_prefix) DESC, priority, id)";

// One row per window, in document order; the days become a bit mask (Monday = bit 0) and the
// times minutes after midnight. The migration's CHECK guarantees the shape.
constexpr const char* windows_sql = R"(SELECT r.id,
       (SELECT sum(CASE d.day #>> '{}' WHEN 'mon' THEN 1 WHEN 'tue' THEN 2 WHEN 'wed' THEN 4
                     WHEN 'thu' THEN 8 WHEN 'fri' THEN 16 WHEN 'sat' THEN 32 ELSE 64 END)
        FROM jsonb_array_elements(w.item -> 'days') AS d(day))::int,
       split_part(w.item ->> 'from', ':', 1)::int * 60 + split_part(w.item ->> 'from', ':', 2)::int,
       split_part(w.item ->> 'to', ':', 1)::int * 60 + split_part(w.item ->> 'to', ':', 2)::int,
       coalesce(w.item ->> 'tz', 'UTC')
FROM routes r, jsonb_array_elements(r.time_windows) WITH ORDINALITY AS w(item, ord)
WHERE r.enabled AND r.time_windows IS NOT NULL
ORDER BY r.id, w.ord)";

constexpr const char* flows_sql = R"(SELECT DISTINCT ON (flow_id) flow_id, version, name,
       document::text
FROM ivr_flows ORDER BY flow_id, version DESC)";

constexpr const char* prompts_sql = "SELECT name, language, uri, sha256 FROM prompts";

constexpr const char* campaigns_sql = R"(SELECT id, name, state, flow_id, caller_id,
       max_concurrent, calls_per_second::float8, max_attempts,
       extract(epoch FROM retry_delay)::bigint, extract(epoch FROM window_start)::int,
       extract(epoch FROM window_end)::int, timezone, version
FROM campaigns ORDER BY id)";

/// Reads typed columns of one result row; remembers the first value it could not read.
class row_reader {
public:
  row_reader(const PGresult* result, int row, const char* table)
    : result_(result), row_(row), table_(table) {
  }

  std::string text(int column) { return pg_text(result_, row_, column); }

  std::optional<std::string> optional_text(int column) { return pg_field(result_, row_, column); }

  template <class T>
  T number(int column) {
    return optional_number<T>(column).value_or(T{});
  }

  template <class T>
  std::optional<T> optional_number(int column) {
    auto value = pg_field(result_, row_, column);
    if (!value)
      return std::nullopt;
    T out{};
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), out);
    if (ec != std::errc{} || end != value->data() + value->size())
      fail(column, *value);
    return out;
  }

  bool boolean(int column) {
    auto value = text(column);
    if (value != "t" && value != "f")
      fail(column, value);
    return value == "t";
  }

  /// The first unreadable value, if any.
  caf::error error() const { return error_; }

  void fail(int column, const std::string& value) {
    if (!error_)
      error_ = caf::make_error(errc::db_query_failed,
                               std::string{"load catalog: "} + table_ + ": unexpected value '"
                                 + value + "' in column " + PQfname(result_, column));
  }

private:
  const PGresult* result_;
  int row_;
  const char* table_;
  caf::error error_;
};

caf::error read_routes(PGconn* conn, catalog_snapshot& out) {
  auto rows = pg_exec(conn, "load catalog: routes", routes_sql);
  if (!rows)
    return std::move(rows.error());
  auto* result = rows->get();
  for (int i = 0; i < PQntuples(result); ++i) {
    row_reader row{result, i, "routes"};
    catalog_route route;
    route.id = row.number<int64_t>(0);
    route.name = row.text(1);
    route.match_prefix = row.text(2);
    route.priority = row.number<int32_t>(3);
    route.flow_id = row.optional_number<int64_t>(4);
    route.enabled = row.boolean(5);
    route.max_concurrent = row.optional_number<int32_t>(6);
    route.version = row.number<int64_t>(7);
    route.caller_pattern = row.optional_text(8);
    auto action = row.text(9);
    if (action == "flow")
      route.action = route_action::flow;
    else if (action == "bridge")
      route.action = route_action::bridge;
    else if (action == "hangup")
      route.action = route_action::hangup;
    else
      row.fail(9, action);
    route.bridge_target = row.optional_text(10);
    route.hangup_cause = row.optional_text(11);
    route.answer = row.boolean(12);
    auto mode = row.text(13);
    if (mode == "inbound")
      route.mode = esl_mode::inbound;
    else if (mode == "outbound")
      route.mode = esl_mode::outbound;
    else
      row.fail(13, mode);
    if (auto err = row.error())
      return err;
    out.routes.push_back(std::move(route));
  }
  auto windows = pg_exec(conn, "load catalog: route time windows", windows_sql);
  if (!windows)
    return std::move(windows.error());
  result = windows->get();
  for (int i = 0; i < PQntuples(result); ++i) {
    row_reader row{result, i, "routes.time_windows"};
    auto id = row.number<int64_t>(0);
    time_window window;
    window.days = row.number<uint8_t>(1);
    window.from_minute = row.number<uint16_t>(2);
    window.to_minute = row.number<uint16_t>(3);
    window.timezone = row.text(4);
    if (auto err = row.error())
      return err;
    // Routes are few (hundreds); a linear search per window keeps the route order intact.
    auto route = std::find_if(out.routes.begin(), out.routes.end(),
                              [id](const catalog_route& r) { return r.id == id; });
    if (route != out.routes.end())
      route->time_windows.push_back(std::move(window));
  }
  return {};
}

caf::error read_flows(PGconn* conn, catalog_snapshot& out) {
  auto rows = pg_exec(conn, "load catalog: ivr_flows", flows_sql);
  if (!rows)
    return std::move(rows.error());
  auto* result = rows->get();
  out.flows.reserve(static_cast<size_t>(PQntuples(result)));
  for (int i = 0; i < PQntuples(result); ++i) {
    row_reader row{result, i, "ivr_flows"};
    catalog_flow flow;
    flow.flow_id = row.number<int64_t>(0);
    flow.version = row.number<int32_t>(1);
    flow.name = row.text(2);
    flow.document = row.text(3);
    if (auto err = row.error())
      return err;
    out.flows.push_back(std::move(flow));
  }
  return {};
}

caf::error read_prompts(PGconn* conn, catalog_snapshot& out) {
  auto rows = pg_exec(conn, "load catalog: prompts", prompts_sql);
  if (!rows)
    return std::move(rows.error());
  auto* result = rows->get();
  out.prompts.reserve(static_cast<size_t>(PQntuples(result)));
  for (int i = 0; i < PQntuples(result); ++i) {
    row_reader row{result, i, "prompts"};
    out.prompts.push_back(
      catalog_prompt{row.text(0), row.text(1), row.text(2), row.optional_text(3)});
  }
  // Sorted here, not by the server: the server's collation need not be byte order, and the
  // lookups compare bytes.
  std::sort(out.prompts.begin(), out.prompts.end(), [](const auto& a, const auto& b) {
    return std::tie(a.name, a.language) < std::tie(b.name, b.language);
  });
  return {};
}

caf::error read_campaigns(PGconn* conn, catalog_snapshot& out) {
  auto rows = pg_exec(conn, "load catalog: campaigns", campaigns_sql);
  if (!rows)
    return std::move(rows.error());
  auto* result = rows->get();
  out.campaigns.reserve(static_cast<size_t>(PQntuples(result)));
  for (int i = 0; i < PQntuples(result); ++i) {
    row_reader row{result, i, "campaigns"};
    catalog_campaign campaign;
    campaign.id = row.number<int64_t>(0);
    campaign.name = row.text(1);
    campaign.state = row.text(2);
    campaign.flow_id = row.optional_number<int64_t>(3);
    campaign.caller_id = row.text(4);
    campaign.max_concurrent = row.number<int32_t>(5);
    campaign.calls_per_second = row.number<double>(6);
    campaign.max_attempts = row.number<int32_t>(7);
    campaign.retry_delay_seconds = row.number<int64_t>(8);
    campaign.window_start_seconds = row.optional_number<int32_t>(9);
    campaign.window_end_seconds = row.optional_number<int32_t>(10);
    campaign.timezone = row.text(11);
    campaign.version = row.number<int64_t>(12);
    if (auto err = row.error())
      return err;
    out.campaigns.push_back(std::move(campaign));
  }
  return {};
}

} // namespace

caf::expected<catalog_snapshot> load_catalog(PGconn* conn) {
  catalog_snapshot out;
  out.loaded_at = caf::make_timestamp();
  if (auto begun = pg_exec(conn, "load catalog: BEGIN", begin_sql); !begun)
    return std::move(begun.error());
  for (auto* step : {read_routes, read_flows, read_prompts, read_campaigns}) {
    if (auto err = step(conn, out)) {
      internal::pg_roll_back(conn);
      return err;
    }
  }
  if (auto committed = pg_exec(conn, "load catalog: COMMIT", "COMMIT"); !committed)
    return std::move(committed.error());
  return out;
}

} // namespace callgrid::persistence
