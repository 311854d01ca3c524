#include "persistence/schema_migrator.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <utility>

#include <caf/error.hpp>
#include <libpq-fe.h>

#include "persistence/embedded_migrations.hpp"
#include "persistence/errc.hpp"

namespace callgrid::persistence {

namespace {

/// Key of the transaction-scoped advisory lock that serialises migrations: "callgrid" in ASCII.
constexpr const char* lock_statement = "SELECT pg_advisory_xact_lock(7161124095343618404)";

constexpr const char* create_version_table = R"(CREATE TABLE IF NOT EXISTS schema_version (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()))";

struct conn_deleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

struct result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

/// Drops the trailing newline libpq puts on its messages.
std::string trimmed(const char* message) {
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())) != 0)
    out.pop_back();
  return out;
}

/// Returns the password given in `conninfo`, or "" when there is none (or it does not parse).
std::string password_of(const std::string& conninfo) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  PQfreemem(parse_error);
  if (options == nullptr)
    return {};
  std::string password;
  for (auto* option = options; option->keyword != nullptr; ++option)
    if (std::string_view{option->keyword} == "password" && option->val != nullptr)
      password = option->val;
  PQconninfoFree(options);
  return password;
}

/// Replaces every occurrence of `secret` in `text` by "***".
std::string without_secret(std::string text, const std::string& secret) {
  if (secret.empty())
    return text;
  for (auto pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos + 3))
    text.replace(pos, secret.size(), "***");
  return text;
}

/// Connects or fails with db_unavailable naming the (masked) conninfo and libpq's message.
caf::expected<conn_ptr> connect(const std::string& conninfo) {
  conn_ptr conn{PQconnectdb(conninfo.c_str())};
  auto masked = schema_migrator::mask_password(conninfo);
  if (!conn)
    return caf::make_error(errc::db_unavailable,
                           "connect to '" + masked + "': libpq could not allocate a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    auto message = without_secret(trimmed(PQerrorMessage(conn.get())), password_of(conninfo));
    return caf::make_error(errc::db_unavailable, "connect to '" + masked + "': " + message);
  }
  // NOTICEs ("relation already exists, skipping") are expected here; keep stderr quiet.
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

/// Runs `sql` (one or more statements); returns its result or fails with `code` naming `what`.
caf::expected<result_ptr> run(PGconn* conn, const char* sql, errc code, const std::string& what) {
  result_ptr result{PQexec(conn, sql)};
  auto status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    return result;
  auto message = result ? trimmed(PQresultErrorMessage(result.get()))
                        : trimmed(PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK)
    code = errc::db_unavailable;
  return caf::make_error(code, what + ": " + message);
}

/// Ends a failed transaction; a failure here only means the connection is gone, and the server
/// rolls back by itself then.
void roll_back(PGconn* conn) {
  result_ptr ignored{PQexec(conn, "ROLLBACK")};
}

/// Reads the highest recorded version; 0 when the version table does not exist.
caf::expected<int> current_version(PGconn* conn) {
  auto exists = run(conn, "SELECT to_regclass('schema_version') IS NOT NULL",
                    errc::db_query_failed, "look for the schema_version table");
  if (!exists)
    return std::move(exists.error());
  if (std::string_view{PQgetvalue(exists->get(), 0, 0)} != "t")
    return 0;
  auto max = run(conn, "SELECT COALESCE(max(version), 0) FROM schema_version",
                 errc::db_query_failed, "read the schema version");
  if (!max)
    return std::move(max.error());
  return std::stoi(PQgetvalue(max->get(), 0, 0));
}

std::string file_name(const migration& m) {
  std::string number = std::to_string(m.version);
  if (number.size() < 4)
    number.insert(0, 4 - number.size(), '0');
  return number + "_" + std::string{m.name} + ".sql";
}

caf::error too_new(int current) {
  auto expected = std::to_string(schema_migrator::expected_version());
  auto now = std::to_string(current);
  return caf::make_error(errc::schema_too_new,
                         "the database schema is at version " + now
                           + " but this callgridd knows versions up to " + expected
                           + ": this daemon is older than the database schema " + now
                           + "; upgrade callgridd");
}

caf::error too_old(int current) {
  std::string missing;
  for (const auto& m : schema_migrator::migrations()) {
    if (m.version <= current)
      continue;
    missing += missing.empty() ? "" : ", ";
    missing += file_name(m);
  }
  return caf::make_error(errc::schema_too_old,
                         "the database schema is at version " + std::to_string(current)
                           + " but this callgridd needs version "
                           + std::to_string(schema_migrator::expected_version()) + " (missing "
                           + missing + "): run `callgridd migrate`");
}

/// Applies `m` in its own transaction under the advisory lock unless it is recorded already.
/// Returns whether it was applied.
caf::expected<bool> apply(PGconn* conn, const migration& m) {
  auto what = "migration " + file_name(m);
  if (auto begun = run(conn, "BEGIN", errc::db_query_failed, what + ": BEGIN"); !begun)
    return std::move(begun.error());
  auto fail = [conn](caf::error err) -> caf::expected<bool> {
    roll_back(conn);
    return err;
  };
  if (auto locked = run(conn, lock_statement, errc::db_query_failed, what + ": lock"); !locked)
    return fail(std::move(locked.error()));
  auto version = std::to_string(m.version);
  auto select = "SELECT 1 FROM schema_version WHERE version = " + version;
  auto done = run(conn, select.c_str(), errc::db_query_failed, what + ": read schema_version");
  if (!done)
    return fail(std::move(done.error()));
  if (PQntuples(done->get()) > 0) {
    roll_back(conn);
    return false;
  }
  // The text of an embedded file has no NUL; PQexec needs a terminated string.
  std::string sql{m.sql};
  if (auto applied = run(conn, sql.c_str(), errc::migration_failed, what); !applied)
    return fail(std::move(applied.error()));
  std::string name{m.name};
  const char* params[] = {version.c_str(), name.c_str()};
  result_ptr recorded{PQexecParams(conn,
                                   "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                                   2, nullptr, params, nullptr, nullptr, 0)};
  if (PQresultStatus(recorded.get()) != PGRES_COMMAND_OK)
    return fail(caf::make_error(errc::migration_failed,
                                what + ": record in schema_version: "
                                  + trimmed(PQresultErrorMessage(recorded.get()))));
  if (auto committed = run(conn, "COMMIT", errc::migration_failed, what + ": COMMIT");
      !committed)
    return fail(std::move(committed.error()));
  return true;
}

} // namespace

std::span<const migration> schema_migrator::migrations() noexcept {
  return internal::embedded_migrations;
}

int schema_migrator::expected_version() noexcept {
  int highest = 0;
  for (const auto& m : migrations())
    highest = std::max(highest, m.version);
  return highest;
}

caf::expected<migration_report> schema_migrator::migrate(const std::string& conninfo) {
  return migrate(conninfo, expected_version());
}

caf::expected<migration_report> schema_migrator::migrate(const std::string& conninfo,
                                                         int up_to_version) {
  auto conn = connect(conninfo);
  if (!conn)
    return std::move(conn.error());
  auto* pg = conn->get();
  // Creating the version table races with another migrator too (CREATE TABLE IF NOT EXISTS is
  // not safe against a concurrent create), so it happens under the same lock.
  {
    auto step = run(pg, "BEGIN", errc::db_query_failed, "create schema_version: BEGIN");
    if (step)
      step = run(pg, lock_statement, errc::db_query_failed, "create schema_version: lock");
    if (step)
      step = run(pg, create_version_table, errc::db_query_failed, "create schema_version");
    if (step)
      step = run(pg, "COMMIT", errc::db_query_failed, "create schema_version: COMMIT");
    if (!step) {
      roll_back(pg);
      return std::move(step.error());
    }
  }
  migration_report report;
  auto from = current_version(pg);
  if (!from)
    return std::move(from.error());
  report.from_version = *from;
  if (*from > expected_version())
    return too_new(*from);
  for (const auto& m : migrations()) {
    if (m.version <= *from || m.version > up_to_version)
      continue;
    auto applied = apply(pg, m);
    if (!applied)
      return std::move(applied.error());
    if (*applied)
      report.applied.push_back(m.version);
  }
  auto to = current_version(pg);
  if (!to)
    return std::move(to.error());
  report.to_version = *to;
  return report;
}

caf::expected<schema_status> schema_migrator::check(const std::string& conninfo) {
  auto conn = connect(conninfo);
  if (!conn)
    return std::move(conn.error());
  auto current = current_version(conn->get());
  if (!current)
    return std::move(current.error());
  if (*current < expected_version())
    return too_old(*current);
  if (*current > expected_version())
    return too_new(*current);
  return schema_status{*current, expected_version()};
}

std::string schema_migrator::mask_password(std::string_view conninfo) {
  std::string out{conninfo};
  auto is_uri = conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://");
  if (is_uri) {
    auto start = out.find("://") + 3;
    auto end = out.find_first_of("/?", start);
    auto authority_end = end == std::string::npos ? out.size() : end;
    auto at = out.rfind('@', authority_end);
    if (at != std::string::npos && at >= start) {
      auto colon = out.find(':', start);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "***");
    }
    // A password may also be a query parameter: ...?password=secret&...
    for (auto pos = out.find("password=", out.find('?') == std::string::npos ? out.size()
                                                                              : out.find('?'));
         pos != std::string::npos; pos = out.find("password=", pos + 1)) {
      auto value = pos + 9;
      auto value_end = out.find('&', value);
      out.replace(value, (value_end == std::string::npos ? out.size() : value_end) - value,
                  "***");
    }
    return out;
  }
  // key = value pairs; a value is a single-quoted string (with \ escapes) or runs to a space.
  std::string masked;
  size_t i = 0;
  auto space = [&](size_t k) {
    return k < out.size() && std::isspace(static_cast<unsigned char>(out[k])) != 0;
  };
  while (i < out.size()) {
    while (space(i))
      masked += out[i++];
    auto key_start = i;
    while (i < out.size() && out[i] != '=' && !space(i))
      ++i;
    auto key = out.substr(key_start, i - key_start);
    masked += key;
    while (space(i))
      masked += out[i++];
    if (i >= out.size() || out[i] != '=')
      continue;
    masked += out[i++];
    while (space(i))
      masked += out[i++];
    auto value_start = i;
    if (i < out.size() && out[i] == '\'') {
      ++i;
      while (i < out.size() && out[i] != '\'') {
        if (out[i] == '\\')
          ++i;
        ++i;
      }
      if (i < out.size())
        ++i;
    } else {
      while (i < out.size() && !space(i))
        ++i;
    }
    masked += key == "password" ? std::string{"***"} : out.substr(value_start, i - value_start);
  }
  return masked;
}

} // namespace callgrid::persistence
