#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "internal/text.hpp"

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

/// A fast reader for the one JSON shape FreeSWITCH uses for events: a flat object whose values
/// are all strings, `{"Event-Name":"CHANNEL_ANSWER",...}`. Anything else (numbers, nesting,
/// invalid escapes, control characters) makes it give up, and the caller falls back to a full
/// JSON parser, which also produces the error message for input that is not JSON at all.
/// Private to the esl library.
namespace callgrid::esl::internal {

/// A piece of text: either a range of the input, or (decoded) a range of the output string
/// that received unescaped copies.
struct text_ref {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  bool decoded = false;
};

namespace detail {

/// Index of the first '"', '\\' or control character in [p, p + n), or n.
inline std::size_t find_string_special(const char* p, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i control_max = _mm_set1_epi8(0x1f);
  for (; i + 16 <= n; i += 16) {
    __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(chunk, control_max), control_max);
    auto hits = _mm_movemask_epi8(_mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)), control));
    if (hits != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
  }
#endif
  for (; i < n; ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\' || c < 0x20)
      return i;
  }
  return n;
}

inline void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

/// Reads the four hex digits at `text[pos]`.
inline bool read_hex4(std::string_view text, std::size_t pos, std::uint32_t& out) noexcept {
  if (pos + 4 > text.size())
    return false;
  out = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    int digit = internal::hex_value(text[pos + i]);
    if (digit < 0)
      return false;
    out = out * 16 + static_cast<std::uint32_t>(digit);
  }
  return true;
}

/// The rare part of `parse_string`: the string from `start` has a special byte at `at` that
/// is not its closing quote. Kept out of line so the common case stays small.
[[gnu::noinline]] inline bool parse_escaped_string(std::string_view text, std::size_t start,
                                                   std::size_t at, std::size_t& pos,
                                                   std::string& decoded, text_ref& out) {
  if (text[at] != '\\')
    return false; // a control character: not valid JSON
  // Escapes: copy the unescaped text to `decoded`.
  auto first = decoded.size();
  decoded.append(text.data() + start, at - start);
  while (true) {
    if (text[at] == '"')
      break;
    if (text[at] != '\\' || at + 1 >= text.size())
      return false;
    char kind = text[at + 1];
    at += 2;
    switch (kind) {
      case '"': decoded += '"'; break;
      case '\\': decoded += '\\'; break;
      case '/': decoded += '/'; break;
      case 'b': decoded += '\b'; break;
      case 'f': decoded += '\f'; break;
      case 'n': decoded += '\n'; break;
      case 'r': decoded += '\r'; break;
      case 't': decoded += '\t'; break;
      case 'u': {
        std::uint32_t code = 0;
        if (!read_hex4(text, at, code))
          return false;
        at += 4;
        if (code >= 0xd800 && code <= 0xdbff) {
          std::uint32_t low = 0;
          if (at + 6 > text.size() || text[at] != '\\' || text[at + 1] != 'u'
              || !read_hex4(text, at + 2, low) || low < 0xdc00 || low > 0xdfff)
            return false;
          at += 6;
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        } else if (code >= 0xdc00 && code <= 0xdfff) {
          return false;
        }
        append_utf8(decoded, code);
        break;
      }
      default:
        return false;
    }
    auto plain = find_string_special(text.data() + at, text.size() - at);
    decoded.append(text.data() + at, plain);
    at += plain;
    if (at >= text.size())
      return false;
  }
  out = text_ref{static_cast<std::uint32_t>(first),
                 static_cast<std::uint32_t>(decoded.size() - first), true};
  pos = at + 1;
  return true;
}

/// Parses the string starting at the quote at `pos`; on success `pos` is past the closing
/// quote and `out` describes the unescaped text.
inline bool parse_string(std::string_view text, std::size_t& pos, std::string& decoded,
                         text_ref& out) {
  std::size_t start = pos + 1;
  std::size_t at = start + find_string_special(text.data() + start, text.size() - start);
  if (at >= text.size())
    return false;
  if (text[at] == '"') [[likely]] {
    out = text_ref{static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(at - start),
                   false};
    pos = at + 1;
    return true;
  }
  return parse_escaped_string(text, start, at, pos, decoded, out);
}

inline void skip_space(std::string_view text, std::size_t& pos) noexcept {
  while (pos < text.size()
         && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t'))
    ++pos;
}

} // namespace detail

/// Calls `on_member(key, value)` for each member of a flat object of strings, in order,
/// duplicates included; unescaped text is appended to `decoded`. Returns false when `text`
/// is not exactly such an object (members already reported must then be discarded).
template <class OnMember>
bool parse_flat_json(std::string_view text, std::string& decoded, OnMember&& on_member) {
  using detail::skip_space;
  std::size_t pos = 0;
  skip_space(text, pos);
  if (pos >= text.size() || text[pos] != '{')
    return false;
  ++pos;
  skip_space(text, pos);
  if (pos < text.size() && text[pos] == '}') {
    ++pos;
  } else {
    while (true) {
      text_ref key;
      text_ref value;
      skip_space(text, pos);
      if (pos >= text.size() || text[pos] != '"' || !detail::parse_string(text, pos, decoded, key))
        return false;
      skip_space(text, pos);
      if (pos >= text.size() || text[pos] != ':')
        return false;
      ++pos;
      skip_space(text, pos);
      if (pos >= text.size() || text[pos] != '"'
          || !detail::parse_string(text, pos, decoded, value))
        return false;
      on_member(key, value);
      skip_space(text, pos);
      if (pos >= text.size())
        return false;
      if (text[pos] == '}') {
        ++pos;
        break;
      }
      if (text[pos] != ',')
        return false;
      ++pos;
    }
  }
  skip_space(text, pos);
  return pos == text.size();
}

} // namespace callgrid::esl::internal
