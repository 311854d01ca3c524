#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"
#include "persistence/record_batcher.hpp"

namespace callgrid::actors {

class metrics_registry;

/// The record writer of one daemon (design.md §5): call actors send it `record_message`s and
/// never wait; it appends them to the durable local spool in small groups (one fdatasync per
/// group) and ships the spool to PostgreSQL with the record batcher, retrying with backoff
/// while PostgreSQL is down. `flush_atom` ships what can be shipped now and answers the number
/// of records still pending (0 = everything is in PostgreSQL), for drain and shutdown.
/// `tick_atom` (its idle timer) and `append_group_due` (a group's interval is over) it sends
/// itself.
using record_writer_actor
  = caf::typed_actor<caf::reacts_to<record_message>,
                     caf::replies_to<caf::flush_atom>::with<uint64_t>,
                     caf::reacts_to<caf::tick_atom>, caf::reacts_to<append_group_due>>;

/// How the record writer spools and ships.
struct record_writer_options {
  /// The spool directory (created if missing; locked against a second daemon).
  std::filesystem::path spool_dir;
  /// A record is appended at most this long after it arrived (at once when `append_group` are
  /// waiting): the records arriving meanwhile share its fdatasync. callgridd sets it from
  /// `records.group_window` (100 ms): at 1,000 calls/s a 5 ms window cost the writer and the
  /// shipping threads 0.9 wake-ups per call, 20 ms 0.4 and 100 ms 0.1 (bench/README.md
  /// "engine"); nothing is at risk meanwhile, the session journal keeps the call until its
  /// record is durable.
  std::chrono::milliseconds append_interval{20};
  /// While no record waits, the spool metrics are refreshed this often.
  std::chrono::milliseconds idle_interval{1000};
  /// Records appended with one fdatasync at most.
  std::size_t append_group = 256;
  /// How the spool is shipped; an empty conninfo keeps records in the spool only (no database
  /// configured), which the daemon reports at start.
  persistence::record_batcher_options batcher;
  /// Shipping threads, each with its own batcher and PostgreSQL connection
  /// (`records.ship_connections`).
  std::size_t ship_connections = 2;
  /// Log sink for damage found when opening the spool and for failures (one line each).
  std::function<void(const std::string&)> log_warning;
  /// Called on the writer's thread with the call UUIDs of an append group once its records are
  /// durable in the spool (after its fdatasync): the node drops the calls' session-journal
  /// entries here, not when the call actors end, so a crash between the two cannot lose a
  /// record. Only first legs (leg 0) count: a bridge's far leg shares its call's UUID and has
  /// no journal entry of its own.
  std::function<void(const std::vector<std::string>& call_uuids)> on_durable;
};

/// Opens the spool (reporting and repairing damage through `log_warning`) and spawns the
/// record writer as a detached actor: it blocks on disk and on libpq, so it gets a thread of
/// its own. Fails when the spool cannot be opened (locked by another daemon, I/O error). The
/// metrics `callgrid_record_spool_depth`, `callgrid_record_spool_oldest_age_seconds`,
/// `callgrid_records_*_total` are registered in `metrics`.
[[nodiscard]] caf::expected<record_writer_actor>
spawn_record_writer(caf::actor_system& system, record_writer_options options,
                    metrics_registry& metrics);

} // namespace callgrid::actors
