#include "persistence/text.hpp"

#include <cstdint>

namespace callgrid::persistence {

bool acceptable_text(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0)
      return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size())
      return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates, beyond U+10FFFF.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

/// Replaces each byte of `s` that is not part of valid UTF-8, and each NUL, by U+FFFD. The
/// server would reject the whole batch for one such byte, and a batch that can never be stored
/// would block the spool for good; a caller name with a stray byte is worth less than that.
std::string repaired_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  std::size_t i = 0;
  while (i < s.size()) {
    // The longest valid prefix is found by trying sequences of 1 to 4 bytes.
    bool taken = false;
    for (std::size_t len = 1; len <= 4 && i + len <= s.size(); ++len) {
      auto piece = s.substr(i, len);
      if (acceptable_text(piece)) {
        out.append(piece);
        i += len;
        taken = true;
        break;
      }
    }
    if (!taken) {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string repaired;
  if (!acceptable_text(text)) {
    repaired = repaired_text(text);
    text = repaired;
  }
  out += '"';
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

} // namespace callgrid::persistence
