#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

/// One pass over a block of "Name: value" lines, finding for every line where it ends, where
/// its first colon is and whether its value contains a '%'. This is the hot loop of the ESL
/// parser: a 5 KB plain event has ~150 lines, and scanning each byte once (16 at a time with
/// SSE2) instead of once per question (memchr for '\n', then ':', then '%') is what keeps the
/// parser at memory speed. Private to the esl library.
namespace callgrid::esl::internal {

/// Where things are in one line; offsets are relative to the scanned text.
struct scanned_line {
  std::size_t begin;
  /// Offset of the first ':' or `npos` when the line has none.
  std::size_t colon;
  /// Offset of the terminating '\n' (or the text's size for an unterminated last line).
  std::size_t end;
  /// Whether a '%' occurs after the colon.
  bool has_percent;
  bool terminated;
};

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// Calls `on_line(const scanned_line&)` for each line of `text` in order until it returns
/// false. An unterminated last line is reported with `terminated == false`.
///
/// The SIMD step makes three bit masks per 16 bytes (newlines, colons, percents) and walks the
/// newlines only: the colons and percents of a line are taken from the masks with bit
/// arithmetic. Visiting every hit instead (a line has at least a colon and a newline, and often
/// a percent) re-read each hit's byte and branched on it, and those branches were mispredicted.
template <class OnLine>
void scan_lines(std::string_view text, OnLine&& on_line) {
  const char* data = text.data();
  const std::size_t size = text.size();
  scanned_line line{0, npos, 0, false, true};
  // Takes the colons and percents of the current line that lie in the 16 bytes at `base`.
  auto absorb = [&line](std::size_t base, std::uint32_t colons, std::uint32_t percents) {
    if (line.colon == npos) {
      if (colons == 0)
        return; // a '%' before the colon is part of the name
      auto bit = static_cast<unsigned>(__builtin_ctz(colons));
      line.colon = base + bit;
      percents &= ~((2u << bit) - 1); // only those after the colon
    }
    if (percents != 0)
      line.has_percent = true;
  };
  std::size_t base = 0;
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i colon = _mm_set1_epi8(':');
  const __m128i percent = _mm_set1_epi8('%');
  for (; base + 16 <= size; base += 16) {
    __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + base));
    auto newlines = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, newline)));
    auto colons = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, colon)));
    auto percents = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, percent)));
    while (newlines != 0) {
      auto bit = static_cast<unsigned>(__builtin_ctz(newlines));
      auto before = (1u << bit) - 1;
      absorb(base, colons & before, percents & before);
      line.end = base + bit;
      if (!on_line(static_cast<const scanned_line&>(line)))
        return;
      line = scanned_line{base + bit + 1, npos, 0, false, true};
      auto through = (2u << bit) - 1;
      newlines &= ~through;
      colons &= ~through;
      percents &= ~through;
    }
    absorb(base, colons, percents);
  }
#endif
  for (; base < size; ++base) {
    char c = data[base];
    if (c == '\n') {
      line.end = base;
      if (!on_line(static_cast<const scanned_line&>(line)))
        return;
      line = scanned_line{base + 1, npos, 0, false, true};
    } else if (c == ':') {
      if (line.colon == npos)
        line.colon = base;
    } else if (c == '%' && line.colon != npos) {
      line.has_percent = true;
    }
  }
  if (line.begin < size) {
    line.end = size;
    line.terminated = false;
    on_line(static_cast<const scanned_line&>(line));
  }
}

} // namespace callgrid::esl::internal
