#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace callgrid::persistence {

/// Error codes of the persistence component (category atom "db"). Every error built from them
/// carries a context string saying what failed and where: the operation, the path and, for
/// system calls, the errno text.
enum class errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// A system call on the spool failed (open, read, write, fsync, rename, unlink, ...).
  spool_io_error,
  /// A write or sync on the spool failed with ENOSPC or EDQUOT: the disk (or quota) is full.
  /// Nothing already acknowledged by `append` is lost; the failed batch was not written.
  spool_full,
  /// The spool directory holds something that cannot be explained by a crash: overlapping
  /// segments, or an entry that changed on disk after it was verified.
  spool_corrupt,
  /// Another process holds the spool's lock file.
  spool_locked,
  /// An earlier failure could not be rolled back; the spool refuses writes until reopened.
  spool_broken,
  /// A payload is not a valid encoded call record.
  record_decode_failed,
  /// A payload carries a format version this build does not read (written by a newer build).
  unsupported_record_version,
  /// One encoded record exceeds `spool_options::max_record_bytes`.
  record_too_large,
  /// `acknowledge` named a sequence number that was never appended.
  invalid_acknowledgement,
  /// No connection to PostgreSQL could be made; the context holds the libpq message and the
  /// conninfo with any password masked.
  db_unavailable,
  /// A statement failed on an open connection; the context names the statement and holds the
  /// server's message.
  db_query_failed,
  /// The database schema is older than this build expects; the context says to run
  /// `callgridd migrate`.
  schema_too_old,
  /// The database schema is newer than this build knows; the context says to upgrade callgridd.
  schema_too_new,
  /// A migration's SQL failed and was rolled back; the context names the migration and holds the
  /// server's message. Migrations applied before it stay applied.
  migration_failed,
};

/// Returns the name of `code`, e.g. "spool_full".
[[nodiscard]] const char* to_string(errc code) noexcept;

/// Renders a persistence error for humans, e.g. "db.spool_full: write /var/spool/...: No space
/// left on device". Errors of other categories are rendered by CAF.
[[nodiscard]] std::string render_error(const caf::error& err);

} // namespace callgrid::persistence

CAF_ERROR_CODE_ENUM(callgrid::persistence::errc, "db")
