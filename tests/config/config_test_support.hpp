#pragma once

// Helpers shared by the config suites: a minimal valid configuration and lookups in the
// diagnostics of a load.

#include <algorithm>
#include <string>
#include <string_view>

#include "config/loader.hpp"

namespace callgrid::config::test {

/// A password the safety checks accept.
inline constexpr std::string_view good_password = "x7Rq-b41s-Lm2Z";

/// The smallest configuration that loads: only the required password.
inline std::string minimal_toml() {
  return "[esl]\npassword = \"" + std::string{good_password} + "\"\n";
}

/// Parses `text` as "callgridd.toml" with the given environment.
inline load_result parse(const std::string& text, const environment& env = {}) {
  return parse_daemon_config(text, "callgridd.toml", env);
}

/// The first diagnostic about `key`, or an empty one with an empty key.
inline diagnostic problem_about(const load_result& result, std::string_view key) {
  auto it = std::find_if(result.problems.begin(), result.problems.end(),
                         [&](const diagnostic& d) { return d.key == key; });
  return it == result.problems.end() ? diagnostic{} : *it;
}

/// Every diagnostic rendered, one per line, for failure messages.
inline std::string rendered(const load_result& result) {
  std::string out;
  for (const auto& d : result.problems)
    out += render(d) + "\n";
  return out;
}

} // namespace callgrid::config::test
