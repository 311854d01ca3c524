#pragma once

#include <string>

namespace callgrid::ivr {

/// Where a problem sits in a flow document: file name as given to `load_flow`, 1-based line and
/// column (0 when unknown, e.g. for a problem of the whole document).
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;

  friend bool operator==(const source_location&, const source_location&) = default;
};

/// How bad a problem is: an `error` makes `load_flow` refuse the flow, a `warning` does not.
enum class severity { error, warning };

/// One problem found while loading a flow document. Plain value, owned by the
/// `flow_load_result` that reports it.
struct diagnostic {
  severity level = severity::error;
  source_location where;
  /// Id of the node the problem belongs to, or "" for document-level problems.
  std::string node;
  std::string message;

  friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

/// Renders `d` the way compilers do, e.g.
/// "main.yaml:12:5: error: node 'sales': target 'salse' does not exist". Pure; never fails.
[[nodiscard]] std::string render(const diagnostic& d);

} // namespace callgrid::ivr
