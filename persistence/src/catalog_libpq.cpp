#include "persistence/catalog_libpq.hpp"

#include <cctype>

#include <caf/message.hpp>
#include <libpq-fe.h>

#include "persistence/schema_migrator.hpp"

namespace callgrid::persistence::internal {

namespace {

/// libpq's messages span lines (DETAIL, HINT, CONTEXT, "This probably means ..."); an error
/// context is one log line, so each line break and the indentation after it become "; ".
std::string one_line(const char* message) {
  std::string in = message != nullptr ? message : "";
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\n') {
      out += in[i];
      continue;
    }
    while (i + 1 < in.size() && std::isspace(static_cast<unsigned char>(in[i + 1])) != 0)
      ++i;
    if (i + 1 < in.size())
      out += "; ";
  }
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())) != 0)
    out.pop_back();
  return out;
}

/// Replaces every occurrence of the conninfo's password in `text` by "***" (libpq may echo it).
std::string without_password(std::string text, const std::string& conninfo) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  PQfreemem(parse_error);
  if (options == nullptr)
    return text;
  std::string secret;
  for (auto* option = options; option->keyword != nullptr; ++option)
    if (std::string_view{option->keyword} == "password" && option->val != nullptr)
      secret = option->val;
  PQconninfoFree(options);
  if (secret.empty())
    return text;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3))
    text.replace(pos, secret.size(), "***");
  return text;
}

} // namespace

void pg_conn_deleter::operator()(PGconn* conn) const noexcept {
  PQfinish(conn);
}

void pg_result_deleter::operator()(PGresult* result) const noexcept {
  PQclear(result);
}

caf::expected<pg_conn_ptr> pg_connect(const std::string& conninfo) {
  pg_conn_ptr conn{PQconnectdb(conninfo.c_str())};
  auto masked = schema_migrator::mask_password(conninfo);
  if (!conn)
    return caf::make_error(errc::db_unavailable,
                           "connect to '" + masked + "': libpq could not allocate a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return caf::make_error(errc::db_unavailable,
                           "connect to '" + masked + "': "
                             + without_password(pg_error_message(conn.get()), conninfo));
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  if (PQsetClientEncoding(conn.get(), "UTF8") != 0)
    return caf::make_error(errc::db_unavailable, "connect to '" + masked
                                                   + "': set client_encoding: "
                                                   + pg_error_message(conn.get()));
  return conn;
}

caf::expected<pg_result_ptr> pg_exec(PGconn* conn, std::string_view what, const std::string& sql,
                                     const std::vector<std::optional<std::string>>& params) {
  if (conn == nullptr)
    return caf::make_error(errc::db_unavailable, std::string{what} + ": no connection");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params)
    values.push_back(param ? param->c_str() : nullptr);
  pg_result_ptr result{params.empty()
                         ? PQexec(conn, sql.c_str())
                         : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()),
                                        nullptr, values.data(), nullptr, nullptr, 0)};
  auto status = PQresultStatus(result.get());
  if (result && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK))
    return result;
  auto message = result ? one_line(PQresultErrorMessage(result.get()))
                        : pg_error_message(conn);
  if (message.empty())
    message = pg_error_message(conn);
  auto code = PQstatus(conn) == CONNECTION_OK ? errc::db_query_failed : errc::db_unavailable;
  return caf::make_error(code, std::string{what} + ": " + message);
}

void pg_roll_back(PGconn* conn) noexcept {
  if (conn != nullptr)
    PQclear(PQexec(conn, "ROLLBACK"));
}

std::string pg_error_message(PGconn* conn) {
  return one_line(PQerrorMessage(conn));
}

std::optional<std::string> pg_field(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column) != 0)
    return std::nullopt;
  return std::string{PQgetvalue(result, row, column),
                     static_cast<size_t>(PQgetlength(result, row, column))};
}

std::string pg_text(const PGresult* result, int row, int column) {
  return pg_field(result, row, column).value_or(std::string{});
}

std::string error_context(const caf::error& err) {
  if (!err)
    return {};
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0))
    return context.get_as<std::string>(0);
  return {};
}

bool pg_connected(const PGconn* conn) noexcept {
  return conn != nullptr && PQstatus(conn) == CONNECTION_OK;
}

} // namespace callgrid::persistence::internal
