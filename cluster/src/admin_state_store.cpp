#include "cluster/admin_state_store.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include <libpq-fe.h>

namespace callgrid::cluster {

namespace {

using persistence::internal::pg_exec;
using persistence::internal::pg_field;
using persistence::internal::pg_roll_back;
using persistence::internal::pg_text;

std::optional<std::string> text_or_null(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  return text;
}

std::optional<std::string> deadline_param(int64_t unix_ms) {
  if (unix_ms == 0)
    return std::nullopt;
  return std::to_string(unix_ms);
}

} // namespace

caf::expected<std::vector<admin_state>> admin_state_store::load(PGconn* conn) {
  auto result = pg_exec(conn, "load admin state",
                        "SELECT id, eligible, drain_requested, coalesce(drain_reason, ''), "
                        "coalesce((extract(epoch FROM drain_deadline) * 1000)::bigint, 0), "
                        "coalesce(admin_reason, ''), coalesce(admin_changed_by, '') "
                        "FROM nodes ORDER BY id");
  if (!result)
    return std::move(result.error());
  std::vector<admin_state> states;
  const int rows = PQntuples(result->get());
  states.reserve(static_cast<std::size_t>(rows));
  for (int row = 0; row < rows; ++row) {
    admin_state state;
    state.node = pg_text(result->get(), row, 0);
    state.eligible = pg_text(result->get(), row, 1) == "t";
    state.drain_requested = pg_text(result->get(), row, 2) == "t";
    state.drain_reason = pg_text(result->get(), row, 3);
    state.drain_deadline_unix_ms = std::stoll(pg_text(result->get(), row, 4));
    state.reason = pg_text(result->get(), row, 5);
    state.changed_by = pg_text(result->get(), row, 6);
    states.push_back(std::move(state));
  }
  return states;
}

caf::error admin_state_store::save(PGconn* conn, const persist_node& row) {
  if (auto begun = pg_exec(conn, "save admin state: begin", "BEGIN"); !begun)
    return std::move(begun.error());
  const auto& admin = row.admin;
  auto upsert = pg_exec(
    conn, "save admin state: nodes",
    "INSERT INTO nodes AS n (id, sip_uri, capacity, eligible, drain_requested, drain_reason, "
    "drain_deadline, admin_reason, admin_changed_by, admin_changed_at) "
    "VALUES ($1::text, $2::text, $3::integer, $4::boolean, $5::boolean, $6::text, "
    "to_timestamp($7::bigint / 1000.0), $8::text, $9::text, "
    "CASE WHEN $9::text IS NULL THEN NULL ELSE now() END) "
    "ON CONFLICT (id) DO UPDATE SET sip_uri = excluded.sip_uri, capacity = excluded.capacity, "
    "eligible = excluded.eligible, drain_requested = excluded.drain_requested, "
    "drain_reason = excluded.drain_reason, drain_deadline = excluded.drain_deadline, "
    "admin_reason = excluded.admin_reason, admin_changed_by = excluded.admin_changed_by, "
    "admin_changed_at = CASE WHEN n.admin_changed_by IS DISTINCT FROM excluded.admin_changed_by "
    "OR n.admin_reason IS DISTINCT FROM excluded.admin_reason "
    "OR n.eligible IS DISTINCT FROM excluded.eligible "
    "OR n.drain_requested IS DISTINCT FROM excluded.drain_requested "
    "THEN now() ELSE n.admin_changed_at END, "
    "version = n.version + 1, updated_at = now()",
    {row.node, row.sip_uri, std::to_string(std::max(row.capacity, 0)),
     admin.eligible ? "true" : "false", admin.drain_requested ? "true" : "false",
     text_or_null(admin.drain_reason), deadline_param(admin.drain_deadline_unix_ms),
     text_or_null(admin.reason), text_or_null(admin.changed_by)});
  if (!upsert) {
    pg_roll_back(conn);
    return std::move(upsert.error());
  }
  if (row.action) {
    const auto& action = *row.action;
    auto audit = pg_exec(conn, "save admin state: audit",
                         "INSERT INTO node_admin_actions (node, action, who, reason, detail) "
                         "VALUES ($1, $2, $3, $4, $5)",
                         {action.node, action.action, action.who, action.reason, action.detail});
    if (!audit) {
      pg_roll_back(conn);
      return std::move(audit.error());
    }
  }
  if (auto committed = pg_exec(conn, "save admin state: commit", "COMMIT"); !committed) {
    pg_roll_back(conn);
    return std::move(committed.error());
  }
  return {};
}

caf::expected<std::vector<admin_action_record>>
admin_state_store::audit_log(PGconn* conn, const std::string& node, std::size_t limit) {
  auto result = pg_exec(conn, "read admin audit log",
                        "SELECT node, action, who, reason, detail, "
                        "(extract(epoch FROM at) * 1000)::bigint FROM node_admin_actions "
                        "WHERE $1::text IS NULL OR node = $1 ORDER BY id DESC LIMIT $2::bigint",
                        {text_or_null(node), std::to_string(limit)});
  if (!result)
    return std::move(result.error());
  std::vector<admin_action_record> records;
  for (int row = 0; row < PQntuples(result->get()); ++row) {
    admin_action_record record;
    record.action.node = pg_text(result->get(), row, 0);
    record.action.action = pg_text(result->get(), row, 1);
    record.action.who = pg_text(result->get(), row, 2);
    record.action.reason = pg_text(result->get(), row, 3);
    record.action.detail = pg_text(result->get(), row, 4);
    record.at_unix_ms = std::stoll(pg_text(result->get(), row, 5));
    records.push_back(std::move(record));
  }
  return records;
}

} // namespace callgrid::cluster
