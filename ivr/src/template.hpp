#pragma once

// `${name}` placeholders in prompt URIs, lookup keys, transfer targets and variable values.

#include <optional>
#include <string>
#include <string_view>

namespace callgrid::ivr::internal {

/// True if `name` may name a variable: [A-Za-z_][A-Za-z0-9_]*, at most 64 characters.
[[nodiscard]] bool valid_variable_name(std::string_view name) noexcept;

/// Checks the placeholders of `text`; returns a message for the first malformed one.
[[nodiscard]] std::optional<std::string> check_template(std::string_view text);

/// Replaces each `${name}` of `text` with `value(name)`. Malformed placeholders are copied
/// verbatim (validation rejected them already).
template <class Lookup>
[[nodiscard]] std::string expand_template(std::string_view text, const Lookup& value) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close != std::string_view::npos) {
        out += value(std::string{text.substr(i + 2, close - i - 2)});
        i = close + 1;
        continue;
      }
    }
    out += text[i];
    ++i;
  }
  return out;
}

} // namespace callgrid::ivr::internal
