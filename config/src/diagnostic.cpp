#include "config/diagnostic.hpp"

#include <algorithm>

namespace callgrid::config {

std::string render(const diagnostic& problem) {
  std::string out = problem.where.file.empty() ? std::string{"(configuration)"}
                                               : problem.where.file;
  if (problem.where.line > 0) {
    out += ':';
    out += std::to_string(problem.where.line);
    if (problem.where.column > 0) {
      out += ':';
      out += std::to_string(problem.where.column);
    }
  }
  out += problem.level == severity::error ? ": error: " : ": warning: ";
  if (!problem.key.empty()) {
    out += problem.key;
    out += ": ";
  }
  out += problem.message;
  if (!problem.hint.empty()) {
    out += "; ";
    out += problem.hint;
  }
  return out;
}

bool has_errors(const std::vector<diagnostic>& problems) noexcept {
  return std::any_of(problems.begin(), problems.end(),
                     [](const diagnostic& d) { return d.level == severity::error; });
}

} // namespace callgrid::config
