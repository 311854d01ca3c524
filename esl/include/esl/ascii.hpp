#pragma once

#include <cstddef>
#include <string_view>

namespace callgrid::esl {

/// Whether `a` and `b` are equal ignoring ASCII case, as FreeSWITCH compares header names (and
/// event filter values): strcasecmp, no locale. Pure.
[[nodiscard]] inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; };
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

} // namespace callgrid::esl
