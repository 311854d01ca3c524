#pragma once

#include <string_view>
#include <utility>
#include <vector>

/// Splitting ESL command lines and API arguments into words, as FreeSWITCH does (single
/// spaces, runs of spaces collapse). Shared by the inbound and outbound sessions and the switch
/// core. Pure; views point into the caller's text.
namespace callgrid::fsemu {

/// The first word of `line` and the rest after the spaces that follow it.
[[nodiscard]] inline std::pair<std::string_view, std::string_view>
split_first(std::string_view line) {
  auto space = line.find(' ');
  if (space == std::string_view::npos)
    return {line, {}};
  auto rest = line.substr(space + 1);
  while (!rest.empty() && rest.front() == ' ')
    rest.remove_prefix(1);
  return {line.substr(0, space), rest};
}

/// The space-separated words of `text`, empty words skipped.
[[nodiscard]] inline std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (end > pos)
      out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

} // namespace callgrid::fsemu
