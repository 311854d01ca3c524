#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace callgrid::persistence {

/// One numbered SQL migration, embedded in the binary at build time from
/// `persistence/migrations/NNNN_<name>.sql`. Plain value; the texts live for the whole program.
struct migration {
  /// The number NNNN of the file; migrations are applied in ascending order.
  int version = 0;
  /// The `<name>` part of the file name, e.g. "core".
  std::string_view name;
  /// The file's text, applied as one multi-statement query inside a transaction.
  std::string_view sql;
};

/// What `schema_migrator::check` found: the version recorded in the database and the version
/// this build expects (the highest embedded migration). Equal when `check` succeeds.
struct schema_status {
  int current = 0;
  int expected = 0;

  friend bool operator==(const schema_status&, const schema_status&) = default;
};

/// What `schema_migrator::migrate` did: the version before and after, and the versions it
/// applied (empty when the schema was already up to date).
struct migration_report {
  int from_version = 0;
  int to_version = 0;
  std::vector<int> applied;

  friend bool operator==(const migration_report&, const migration_report&) = default;
};

/// Applies and checks the PostgreSQL schema's numbered migrations, recorded in the table
/// `schema_version(version int primary key, name text, applied_at timestamptz)`.
///
/// Every function opens its own libpq connection from `conninfo`, blocks on it and closes it:
/// call them only from a detached actor, a thread of their own or a CLI (`callgridd migrate`,
/// the start-up check), never from an event-based actor or the call path.
///
/// Errors (category "db", see `errc.hpp`): `db_unavailable` when no connection can be made (the
/// context holds the libpq message and the conninfo with any password masked),
/// `schema_too_old` / `schema_too_new` when the database's version differs from this build's
/// (the context says what to do), `migration_failed` when a migration's SQL fails (it is rolled
/// back; earlier migrations stay applied), `db_query_failed` for any other failed statement.
///
/// ```cpp
/// using callgrid::persistence::schema_migrator;
/// if (auto report = schema_migrator::migrate(conninfo); !report)
///   return fail(render_error(report.error()));          // callgridd migrate
/// if (auto status = schema_migrator::check(conninfo); !status)
///   return fail(render_error(status.error()));          // callgridd start: refuse to run
/// ```
class schema_migrator {
public:
  /// Returns the embedded migrations in ascending version order; never fails.
  [[nodiscard]] static std::span<const migration> migrations() noexcept;

  /// Returns the schema version this build expects: the highest embedded migration.
  [[nodiscard]] static int expected_version() noexcept;

  /// Applies every embedded migration newer than the database's version, in order, each in its
  /// own transaction together with its `schema_version` row. Idempotent: an up-to-date schema
  /// gets nothing applied. Concurrent runs (several daemons, several `callgridd migrate`) are
  /// serialised by a transaction-scoped advisory lock and each migration is applied once.
  /// Fails with `schema_too_new` when the database is newer than this build (nothing is done).
  [[nodiscard]] static caf::expected<migration_report> migrate(const std::string& conninfo);

  /// Like `migrate(conninfo)` but stops after `up_to_version` (for tests and staged upgrades).
  /// A database already past `up_to_version` is left alone and reported as it is.
  [[nodiscard]] static caf::expected<migration_report> migrate(const std::string& conninfo,
                                                               int up_to_version);

  /// Reads the database's schema version and compares it with `expected_version()`. Returns the
  /// status when they are equal; `schema_too_old` ("... run `callgridd migrate`") or
  /// `schema_too_new` ("... upgrade callgridd") otherwise. A database without the
  /// `schema_version` table has version 0.
  [[nodiscard]] static caf::expected<schema_status> check(const std::string& conninfo);

  /// Returns `conninfo` with the value of any password replaced by `***` (both the
  /// `key=value` and the `postgresql://user:password@host` forms); for log and error messages.
  [[nodiscard]] static std::string mask_password(std::string_view conninfo);
};

} // namespace callgrid::persistence
