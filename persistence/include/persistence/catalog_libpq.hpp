#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "persistence/errc.hpp"

/// libpq's connection and result types, declared here so that users of the catalog headers do
/// not need libpq's headers (the same declarations as in `libpq-fe.h`).
extern "C" {
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
}

/// Small libpq helpers shared by the catalog loader, store, watcher and the connection pool.
/// Internal to `callgrid::persistence`: not a public API, may change without notice.
namespace callgrid::persistence::internal {

/// Closes a libpq connection.
struct pg_conn_deleter {
  void operator()(PGconn* conn) const noexcept;
};

/// Frees a libpq result.
struct pg_result_deleter {
  void operator()(PGresult* result) const noexcept;
};

/// An owned libpq connection.
using pg_conn_ptr = std::unique_ptr<PGconn, pg_conn_deleter>;
/// An owned libpq result.
using pg_result_ptr = std::unique_ptr<PGresult, pg_result_deleter>;

/// Connects with `PQconnectdb` (blocking, bounded by `connect_timeout` in `conninfo`), pins
/// `client_encoding` to UTF8 and silences NOTICEs. Fails with `db_unavailable` naming the
/// conninfo with any password masked and libpq's message.
[[nodiscard]] caf::expected<pg_conn_ptr> pg_connect(const std::string& conninfo);

/// Runs `sql` with text parameters (`std::nullopt` = NULL) and returns the result when it is
/// COMMAND_OK or TUPLES_OK. Fails with `db_unavailable` when the connection is gone (or went
/// away during the call) and with `db_query_failed` otherwise; the context is
/// "<what>: <server message>". Blocking; on the caller's thread.
[[nodiscard]] caf::expected<pg_result_ptr>
pg_exec(PGconn* conn, std::string_view what, const std::string& sql,
        const std::vector<std::optional<std::string>>& params = {});

/// Sends ROLLBACK and ignores the outcome (a failure means the connection is gone, and then the
/// server has rolled back by itself).
void pg_roll_back(PGconn* conn) noexcept;

/// Returns libpq's current error message for `conn` on one line ("; " between its lines).
[[nodiscard]] std::string pg_error_message(PGconn* conn);

/// Returns field (`row`, `column`) of `result` as text, or `std::nullopt` for NULL.
[[nodiscard]] std::optional<std::string> pg_field(const PGresult* result, int row, int column);

/// Returns field (`row`, `column`) as text; "" for NULL.
[[nodiscard]] std::string pg_text(const PGresult* result, int row, int column);

/// Returns the context text of a persistence error (what `render_error` prints after the code),
/// "" when it has none.
[[nodiscard]] std::string error_context(const caf::error& err);

/// Returns whether `conn` is usable: not null and `PQstatus` is CONNECTION_OK.
[[nodiscard]] bool pg_connected(const PGconn* conn) noexcept;

} // namespace callgrid::persistence::internal
