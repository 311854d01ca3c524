#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace callgrid::actors {

/// Where a node notes which calls it is handling (Redis session snapshots, design.md §5), so that
/// after a crash the calls that ended while callgridd was down still get their record. Each
/// function may be empty (no journal); each returns at once and may complete on another thread.
/// The node supervisor saves an entry when a call starts; the record writer drops it once the
/// call's record is durable in the spool (`record_writer_options::on_durable`); at start the
/// supervisor lists the entries left over.
struct session_journal {
  /// Notes the calls `entries` (uuid, snapshot: a JSON object written by the supervisor). The
  /// supervisor saves the calls that the events of one read started at once.
  std::function<void(std::vector<std::pair<std::string, std::string>> entries)> save;
  /// Forgets the calls `uuids` (the record writer drops a whole append group at once).
  std::function<void(const std::vector<std::string>& uuids)> drop;
  /// Lists the entries of this node: (uuid, snapshot) pairs; an empty list when the store is
  /// unreachable (then nothing is reconciled, and the entries stay for the next start).
  std::function<void(std::function<void(std::vector<std::pair<std::string, std::string>>)>)> list;
};

} // namespace callgrid::actors
