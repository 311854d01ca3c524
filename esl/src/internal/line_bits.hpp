#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

/// Byte masks and small helpers for reading "Name: value" lines 64 bytes at a time (see
/// `index_lines` in plain_event.hpp). Private to the esl library.
namespace callgrid::esl::internal {

/// One bit per byte of the 64 at `data` that equals `wanted` (bit i for data[i]).
inline std::uint64_t mask_of_64(const char* data, char wanted) noexcept {
#if defined(__SSE2__)
  const __m128i pattern = _mm_set1_epi8(wanted);
  auto lane = [&](int i) {
    auto chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i));
    return static_cast<std::uint64_t>(
      static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, pattern))));
  };
  return lane(0) | lane(1) << 16 | lane(2) << 32 | lane(3) << 48;
#else
  std::uint64_t mask = 0;
  for (int i = 0; i < 64; ++i)
    mask |= static_cast<std::uint64_t>(data[i] == wanted) << i;
  return mask;
#endif
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
