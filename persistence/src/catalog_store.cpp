#include "persistence/catalog_store.hpp"

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "persistence/text.hpp"

namespace callgrid::persistence {

namespace {

using internal::pg_exec;
using internal::pg_text;
using params = std::vector<std::optional<std::string>>;

/// Key of the advisory lock that serialises flow imports: "cgflows" in ASCII.
constexpr const char* import_lock_sql = "SELECT pg_advisory_xact_lock(27988669364024691)";

constexpr const char* latest_flow_sql = R"(WITH named AS (
  SELECT flow_id FROM ivr_flows WHERE name = $1
  ORDER BY created_at DESC, flow_id DESC, version DESC LIMIT 1)
SELECT f.flow_id, f.version, f.document = $2::jsonb
FROM ivr_flows f JOIN named USING (flow_id)
ORDER BY f.version DESC LIMIT 1)";

constexpr const char* new_flow_sql = R"(INSERT INTO ivr_flows (flow_id, version, name, document)
SELECT coalesce(max(flow_id), 0) + 1, 1, $1, $2::jsonb FROM ivr_flows
RETURNING flow_id, version)";

constexpr const char* next_version_sql = R"(INSERT INTO ivr_flows (flow_id, version, name, document)
VALUES ($3::bigint, $4::int + 1, $1, $2::jsonb)
RETURNING flow_id, version)";

constexpr const char* upsert_route_sql = R"(INSERT INTO routes (name, match_prefix, priority,
  flow_id, enabled, max_concurrent, caller_pattern, time_windows, action, bridge_target,
  hangup_cause, answer, esl_mode)
VALUES ($1, $2, $3::int, $4::bigint, $5::boolean, $6::int, $7, $8::jsonb, $9, $10, $11,
        $12::boolean, $13)
ON CONFLICT (name) DO UPDATE SET
  match_prefix = EXCLUDED.match_prefix, priority = EXCLUDED.priority,
  flow_id = EXCLUDED.flow_id, enabled = EXCLUDED.enabled,
  max_concurrent = EXCLUDED.max_concurrent, caller_pattern = EXCLUDED.caller_pattern,
  time_windows = EXCLUDED.time_windows, action = EXCLUDED.action,
  bridge_target = EXCLUDED.bridge_target, hangup_cause = EXCLUDED.hangup_cause,
  answer = EXCLUDED.answer, esl_mode = EXCLUDED.esl_mode,
  version = routes.version + 1, updated_at = now()
RETURNING id, version, xmax = 0)";

constexpr const char* delete_route_sql = "DELETE FROM routes WHERE name = $1";

constexpr const char* upsert_prompt_sql = R"(INSERT INTO prompts (name, language, uri, sha256)
VALUES ($1, $2, $3, $4)
ON CONFLICT (name, language) DO UPDATE SET
  uri = EXCLUDED.uri, sha256 = EXCLUDED.sha256, updated_at = now()
RETURNING id, 1, xmax = 0)";

/// Runs `body` between BEGIN and COMMIT; rolls back when it fails.
template <class T>
caf::expected<T> in_transaction(PGconn* conn, const std::string& what,
                                const std::function<caf::expected<T>()>& body) {
  if (auto begun = pg_exec(conn, what + ": BEGIN", "BEGIN"); !begun)
    return std::move(begun.error());
  auto result = body();
  if (!result) {
    internal::pg_roll_back(conn);
    return result;
  }
  if (auto committed = pg_exec(conn, what + ": COMMIT", "COMMIT"); !committed)
    return std::move(committed.error());
  return result;
}

std::string quoted(std::string_view text) {
  return "'" + std::string{text} + "'";
}

int64_t to_int64(const PGresult* result, int row, int column) {
  return std::stoll(pg_text(result, row, column));
}

/// Reads `RETURNING id, version, inserted`.
catalog_upsert_result upsert_outcome(const PGresult* result) {
  return {to_int64(result, 0, 0), to_int64(result, 0, 1), pg_text(result, 0, 2) == "t"};
}

std::optional<std::string> optional_number(const auto& value) {
  if (!value)
    return std::nullopt;
  return std::to_string(*value);
}

std::string clock_text(uint16_t minute) {
  char text[8];
  std::snprintf(text, sizeof text, "%02u:%02u", static_cast<unsigned>(minute / 60),
                static_cast<unsigned>(minute % 60));
  return text;
}

} // namespace

caf::expected<flow_import_result>
catalog_store::import_flow(PGconn* conn, std::string_view name, std::string_view document_json) {
  auto what = "import flow " + quoted(name);
  params args{std::string{name}, std::string{document_json}};
  return in_transaction<flow_import_result>(
    conn, what, [&]() -> caf::expected<flow_import_result> {
      if (auto locked = pg_exec(conn, what + ": lock", import_lock_sql); !locked)
        return std::move(locked.error());
      auto latest = pg_exec(conn, what + ": read the latest version", latest_flow_sql, args);
      if (!latest)
        return std::move(latest.error());
      auto* found = latest->get();
      if (PQntuples(found) > 0 && pg_text(found, 0, 2) == "t")
        return flow_import_result{to_int64(found, 0, 0),
                                  static_cast<int32_t>(to_int64(found, 0, 1)), false};
      auto next = args;
      if (PQntuples(found) > 0) {
        next.push_back(pg_text(found, 0, 0));
        next.push_back(pg_text(found, 0, 1));
      }
      auto written = PQntuples(found) == 0
                       ? pg_exec(conn, what + ": insert a new flow", new_flow_sql, args)
                       : pg_exec(conn, what + ": insert a new version", next_version_sql, next);
      if (!written)
        return std::move(written.error());
      return flow_import_result{to_int64(written->get(), 0, 0),
                                static_cast<int32_t>(to_int64(written->get(), 0, 1)), true};
    });
}

caf::expected<catalog_upsert_result> catalog_store::upsert_route(PGconn* conn,
                                                                 const catalog_route& route) {
  auto what = "upsert route " + quoted(route.name);
  auto windows = time_windows_json(route.time_windows);
  params args{route.name,
              route.match_prefix,
              std::to_string(route.priority),
              optional_number(route.flow_id),
              route.enabled ? "true" : "false",
              optional_number(route.max_concurrent),
              route.caller_pattern,
              windows.empty() ? std::nullopt : std::optional<std::string>{windows},
              to_string(route.action),
              route.bridge_target,
              route.hangup_cause,
              route.answer ? "true" : "false",
              to_string(route.mode)};
  return in_transaction<catalog_upsert_result>(
    conn, what, [&]() -> caf::expected<catalog_upsert_result> {
      auto written = pg_exec(conn, what, upsert_route_sql, args);
      if (!written)
        return std::move(written.error());
      return upsert_outcome(written->get());
    });
}

caf::expected<bool> catalog_store::delete_route(PGconn* conn, std::string_view name) {
  auto what = "delete route " + quoted(name);
  return in_transaction<bool>(conn, what, [&]() -> caf::expected<bool> {
    auto deleted = pg_exec(conn, what, delete_route_sql, params{std::string{name}});
    if (!deleted)
      return std::move(deleted.error());
    return std::string_view{PQcmdTuples(deleted->get())} != "0";
  });
}

caf::expected<catalog_upsert_result> catalog_store::upsert_prompt(PGconn* conn,
                                                                  const catalog_prompt& prompt) {
  auto what = "upsert prompt " + quoted(prompt.name) + " (" + prompt.language + ")";
  params args{prompt.name, prompt.language, prompt.uri, prompt.sha256};
  return in_transaction<catalog_upsert_result>(
    conn, what, [&]() -> caf::expected<catalog_upsert_result> {
      auto written = pg_exec(conn, what, upsert_prompt_sql, args);
      if (!written)
        return std::move(written.error());
      return upsert_outcome(written->get());
    });
}

std::string catalog_store::time_windows_json(const std::vector<time_window>& windows) {
  static constexpr const char* day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  if (windows.empty())
    return {};
  std::string out = "[";
  for (const auto& window : windows) {
    if (out.size() > 1)
      out += ',';
    out += "{\"days\":[";
    bool first = true;
    for (int day = 0; day < 7; ++day) {
      if (!window.on(day))
        continue;
      if (!first)
        out += ',';
      first = false;
      append_json_string(out, day_names[day]);
    }
    out += "],\"from\":";
    append_json_string(out, clock_text(window.from_minute));
    out += ",\"to\":";
    append_json_string(out, clock_text(window.to_minute));
    out += ",\"tz\":";
    append_json_string(out, window.timezone);
    out += '}';
  }
  out += ']';
  return out;
}

} // namespace callgrid::persistence
