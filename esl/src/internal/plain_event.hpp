#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "esl/frame.hpp"

/// The field lines of a `text/event-plain` event ("Name: percent-encoded value" lines, checked
/// by the parser: each has a name and a colon), read where they lie in the frame's block.
/// The parser decodes none of them; it keeps an index of where each line and its colon are. A
/// lookup runs over that index, and the whole table is decoded once, on the first read that
/// needs it (all fields, or a value with an escape). Private to the esl library.
namespace callgrid::esl::internal {

/// Where one field line is in the lines: its first byte and its first colon (the name is the
/// text between them). The line ends where the next one begins, less its '\n'.
struct line_ref {
  std::uint32_t begin;
  std::uint32_t colon;
};

/// A plain event's decoded fields: one block holding this, the table and the decoded values.
/// Names and values without escapes point into the event's lines instead.
struct decoded_fields {
  std::span<const header_field> fields;
};

/// Decodes all field lines of `lines`, in order, duplicates kept. Free with
/// `release_decoded_fields`.
[[nodiscard]] decoded_fields* decode_plain_fields(std::string_view lines);

void release_decoded_fields(decoded_fields* fields) noexcept;

/// A value as it stands in the lines, and whether it has an escape to decode.
struct raw_value {
  std::string_view text;
  bool has_percent = false;
};

/// For each of `names` (ASCII case-insensitive), the raw value of the first line so called, in
/// one pass over the `index` of `lines`. `found` has one slot per name.
void find_plain_fields(std::string_view lines, std::span<const line_ref> index,
                       std::span<const std::string_view> names,
                       std::span<std::optional<raw_value>> found) noexcept;

} // namespace callgrid::esl::internal
