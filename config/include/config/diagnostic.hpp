#pragma once

#include <string>
#include <vector>

namespace callgrid::config {

/// Where a configuration value came from. Plain data. `line` and `column` are 1-based; 0 means
/// "the whole file" (a missing file) or "not from a file" (an environment variable, whose name
/// is then in `file`, or a default).
struct source_position {
  std::string file;
  int line = 0;
  int column = 0;
  friend bool operator==(const source_position&, const source_position&) = default;
};

/// How bad a configuration problem is: an error prevents start, a warning does not.
enum class severity { error, warning };

/// One problem found while loading the configuration. Plain data, produced by the loader in the
/// caller's thread. `key` is the dotted key (`esl.password`), or empty when the problem concerns
/// a whole file; `hint` says how to fix it and may be empty.
struct diagnostic {
  severity level = severity::error;
  source_position where;
  std::string key;
  std::string message;
  std::string hint;
  friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

/// Renders a diagnostic on one line for humans, e.g.
/// `callgridd.toml:12:3: error: esl.password: is FreeSWITCH's default "ClueCon" (hint: ...)`.
/// Pure; never fails.
[[nodiscard]] std::string render(const diagnostic& problem);

/// True when `problems` holds at least one error. Pure; never fails.
[[nodiscard]] bool has_errors(const std::vector<diagnostic>& problems) noexcept;

} // namespace callgrid::config
