#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

/// Room for a plain event's line index, kept between events: grows (keeping its entries) and
/// is never cleared.
class line_index_buffer {
public:
  /// Room for at least `entries`, the first `used` of them kept.
  line_ref* reserve(std::size_t entries, std::size_t used);
  [[nodiscard]] const line_ref* data() const noexcept { return entries_.get(); }

private:
  std::unique_ptr<line_ref[]> entries_;
  std::size_t capacity_ = 0;
};

/// How `index_lines` ended.
struct line_index_result {
  enum class stop : std::uint8_t {
    /// The text ended; every line was a field line.
    end_of_text,
    /// A blank line at `at` ends the field lines.
    blank_line,
    /// The line beginning at `at` has no colon, or begins with one: not "Name: value".
    nameless_line,
  };
  stop why = stop::end_of_text;
  std::size_t at = 0;
  /// Field lines indexed, all of them before `at`.
  std::size_t lines = 0;
};

/// Indexes the "Name: value" lines of `text` into `index` (begin and first colon of each) up to
/// the first blank or nameless line. Works on 64 bytes at a time with bit masks, and per line
/// only writes its two offsets: adding the colon mask to the non-newline mask carries from each
/// line's first colon to its newline, so one addition says which lines have a colon and which
/// colons are first (see plain_event.cpp).
/// Uses AVX2 where the CPU has it (checked once), SSE2 otherwise; both give the same result.
[[nodiscard]] line_index_result index_lines(std::string_view text, line_index_buffer& index);

/// `index_lines` with 16-byte compares (SSE2, or a byte loop off x86-64): on every CPU.
[[nodiscard]] line_index_result index_lines_portable(std::string_view text,
                                                     line_index_buffer& index);

/// Whether this CPU can run `index_lines_avx2` (AVX2, BMI1, BMI2).
[[nodiscard]] bool index_lines_avx2_supported() noexcept;

#if defined(__x86_64__)
/// `index_lines` with 32-byte compares; only where `index_lines_avx2_supported()`.
[[nodiscard]] line_index_result index_lines_avx2(std::string_view text, line_index_buffer& index);
#endif

/// Where line `at` of `index` ends in `lines` (its '\n', or the end of the lines).
[[nodiscard]] inline std::size_t line_end(std::string_view lines, std::span<const line_ref> index,
                                          std::size_t at) noexcept {
  if (at + 1 < index.size())
    return index[at + 1].begin - 1;
  return !lines.empty() && lines.back() == '\n' ? lines.size() - 1 : lines.size();
}

/// A plain event's decoded fields: one block holding this, the table and the decoded values,
/// taken like a frame's block (`take_frame_block`: from the thread's cache of blocks when one
/// of the size is free, so that decoding in a steady state allocates nothing). Names and values
/// without escapes point into the event's lines instead.
struct decoded_fields {
  std::span<const header_field> fields;
  /// The block's size class, to give it back (`frame_block_release`).
  std::uint8_t size_class = 0;
};

/// Decodes all field lines of `lines` (as `index_lines` indexed them), in order, duplicates
/// kept. Free with `release_decoded_fields`.
[[nodiscard]] decoded_fields* decode_plain_fields(std::string_view lines,
                                                  std::span<const line_ref> index);

void release_decoded_fields(decoded_fields* fields) noexcept;

/// Writes to `out` (room for `index.size()` entries) the positions in `index` of the lines
/// whose name length is set in `lengths` (bit n for length n < 64), in order, and returns how
/// many. Four lines at a time, with AVX2 where `index_lines_avx2_supported()`.
[[nodiscard]] std::size_t select_lines_by_length(std::span<const line_ref> index,
                                                 std::uint64_t lengths,
                                                 std::uint32_t* out) noexcept;

/// `select_lines_by_length` on every CPU.
[[nodiscard]] std::size_t select_lines_by_length_portable(std::span<const line_ref> index,
                                                          std::uint64_t lengths,
                                                          std::uint32_t* out);

#if defined(__x86_64__)
/// `select_lines_by_length` with AVX2; only where `index_lines_avx2_supported()`.
[[nodiscard]] std::size_t select_lines_by_length_avx2(std::span<const line_ref> index,
                                                      std::uint64_t lengths,
                                                      std::uint32_t* out);
#endif

/// A value as it stands in the lines, and whether it has an escape to decode.
struct raw_value {
  std::string_view text;
  bool has_percent = false;
};

/// For each of `names` (ASCII case-insensitive), the raw value of the first line so called, in
/// one pass over the `index` of `lines`. `found` has one slot per name.
/// Skips lines whose name length no wanted name has four lines at a time, with AVX2 where
/// `index_lines_avx2_supported()`.
void find_plain_fields(std::string_view lines, std::span<const line_ref> index,
                       std::span<const std::string_view> names,
                       std::span<std::optional<raw_value>> found) noexcept;

/// `find_plain_fields` on every CPU.
void find_plain_fields_portable(std::string_view lines, std::span<const line_ref> index,
                                std::span<const std::string_view> names,
                                std::span<std::optional<raw_value>> found);

#if defined(__x86_64__)
/// `find_plain_fields` with AVX2; only where `index_lines_avx2_supported()`.
void find_plain_fields_avx2(std::string_view lines, std::span<const line_ref> index,
                            std::span<const std::string_view> names,
                            std::span<std::optional<raw_value>> found);
#endif

} // namespace callgrid::esl::internal
