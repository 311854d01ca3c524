#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

#include "internal/line_scanner.hpp"

/// The cheap walk over "Name: value" lines: where each line begins, where its first colon is
/// and where it ends, nothing else. A plain event is checked and its few routing fields found
/// with this walk when it is parsed; its values are decoded (`scan_lines`, which also notes
/// the '%'s) only when a field is read that needs it. Private to the esl library.
namespace callgrid::esl::internal {

#if defined(__SSE2__)
/// One bit per byte of the 64 at `data` that equals the byte in `wanted` (all 16 lanes set).
inline std::uint64_t mask_of_64(const char* data, __m128i wanted) noexcept {
  auto lane = [&](int i) {
    auto chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i));
    return static_cast<std::uint64_t>(
      static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, wanted))));
  };
  return lane(0) | lane(1) << 16 | lane(2) << 32 | lane(3) << 48;
}
#endif

/// Calls `on_line(begin, colon, end)` for each line of `text` until it returns false: `begin`
/// and `end` are offsets of the line's first byte and of its '\n' (the text's size for an
/// unterminated last line), `colon` that of its first ':' or `npos`. Keep `on_line` small, so
/// that it is inlined: the walk costs a few instructions per line and per 64 bytes.
template <class OnLine>
void walk_lines(std::string_view text, OnLine&& on_line) {
  const char* data = text.data();
  const std::size_t size = text.size();
  std::size_t begin = 0;
  std::size_t colon = npos;
  std::size_t base = 0;
#if defined(__SSE2__)
  const __m128i newline_byte = _mm_set1_epi8('\n');
  const __m128i colon_byte = _mm_set1_epi8(':');
  for (; base + 64 <= size; base += 64) {
    auto newlines = mask_of_64(data + base, newline_byte);
    auto colons = mask_of_64(data + base, colon_byte);
    while (newlines != 0) {
      auto bit = static_cast<unsigned>(__builtin_ctzll(newlines));
      auto before = (std::uint64_t{1} << bit) - 1;
      if (colon == npos && (colons & before) != 0)
        colon = base + static_cast<std::size_t>(__builtin_ctzll(colons & before));
      if (!on_line(begin, colon, base + bit))
        return;
      begin = base + bit + 1;
      colon = npos;
      auto through = (std::uint64_t{2} << bit) - 1; // all ones when bit is 63
      newlines &= ~through;
      colons &= ~through;
    }
    if (colon == npos && colons != 0)
      colon = base + static_cast<std::size_t>(__builtin_ctzll(colons));
  }
#endif
  for (; base < size; ++base) {
    char c = data[base];
    if (c == '\n') {
      if (!on_line(begin, colon, base))
        return;
      begin = base + 1;
      colon = npos;
    } else if (c == ':' && colon == npos) {
      colon = base;
    }
  }
  if (begin < size)
    on_line(begin, colon, size);
}

/// The value of the line [begin, end) whose first colon is at `colon`, as a plain event writes
/// it: one space after the colon and a trailing '\r' are not part of it.
inline std::string_view line_value(std::string_view text, std::size_t colon,
                                   std::size_t end) noexcept {
  auto value_begin = colon + 1;
  if (value_begin < end && text[value_begin] == ' ')
    ++value_begin;
  auto value_end = end;
  if (value_end > value_begin && text[value_end - 1] == '\r')
    --value_end;
  return text.substr(value_begin, value_end - value_begin);
}

} // namespace callgrid::esl::internal
