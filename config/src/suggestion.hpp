#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace callgrid::config::internal {

/// Levenshtein distance of two words, ignoring ASCII case. Pure.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word` when it is a near miss (a few typos, relative to the word's
/// length), else an empty optional. Pure.
[[nodiscard]] std::optional<std::string>
closest_match(std::string_view word, std::span<const std::string> candidates);

} // namespace callgrid::config::internal
