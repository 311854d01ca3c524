#include "esl/percent_codec.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "internal/text.hpp"

namespace callgrid::esl {

std::size_t percent_decode(std::string_view encoded, char* out) noexcept {
  // Eight bytes at a time up to the next '%' (a word test, no library search: FreeSWITCH's
  // values are short and their escapes close together, a date has one every few bytes), then
  // the escape byte by byte. A word is stored whole and its bytes from the '%' on are
  // overwritten next: `written` never passes `at`, so the store stays inside the room of
  // `encoded.size()` bytes that `out` has.
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
  constexpr std::uint64_t percents = ones * static_cast<unsigned char>('%');
  const char* in = encoded.data();
  const std::size_t size = encoded.size();
  std::size_t written = 0;
  std::size_t at = 0;
  while (at < size) {
    while (at + 8 <= size) {
      std::uint64_t word;
      std::memcpy(&word, in + at, sizeof word);
      std::memcpy(out + written, &word, sizeof word);
      auto x = word ^ percents;
      // A high bit for each byte that is '%' (exact up to the first one, which is all we use).
      auto found = (x - ones) & ~x & high_bits;
      if (found != 0) {
        auto bit = std::endian::native == std::endian::little ? std::countr_zero(found)
                                                               : std::countl_zero(found);
        auto plain = static_cast<std::size_t>(bit) / 8;
        written += plain;
        at += plain;
        break;
      }
      written += sizeof word;
      at += sizeof word;
    }
    if (at >= size)
      break;
    char c = in[at];
    if (c == '%' && at + 2 < size) {
      int high = internal::hex_value(in[at + 1]);
      int low = high >= 0 ? internal::hex_value(in[at + 2]) : -1;
      if (low >= 0) {
        out[written++] = static_cast<char>(high * 16 + low);
        at += 3;
        continue;
      }
    }
    out[written++] = c;
    ++at;
  }
  return written;
}

std::string percent_decode(std::string_view encoded) {
  std::string out(encoded.size(), '\0');
  out.resize(percent_decode(encoded, out.data()));
  return out;
}

namespace {

// The bytes FreeSWITCH's url encoder escapes, as the captures show: controls, space, 8-bit
// bytes and " # % & + : ; < = > ? @ [ \ ] ^ ` { | }. Letters, digits and ( ) , - . / _ ~ stay.
// A table, because a search of the unsafe list per byte was a fifth of fsemu's CPU.
constexpr std::array<bool, 256> unsafe_bytes = [] {
  std::array<bool, 256> table{};
  for (std::size_t byte = 0; byte < table.size(); ++byte)
    table[byte] = byte < 0x20 || byte > 0x7e;
  for (char c : std::string_view{" \"#%&+:;<=>?@[\\]^`{|}"})
    table[static_cast<unsigned char>(c)] = true;
  return table;
}();

} // namespace

void percent_encode(std::string_view value, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::size_t run_start = 0;
  for (std::size_t at = 0; at < value.size(); ++at) {
    auto byte = static_cast<unsigned char>(value[at]);
    if (!unsafe_bytes[byte])
      continue;
    out.append(value.data() + run_start, at - run_start);
    const char escape[3] = {'%', hex[byte >> 4], hex[byte & 0x0f]};
    out.append(escape, sizeof escape);
    run_start = at + 1;
  }
  out.append(value.data() + run_start, value.size() - run_start);
}

} // namespace callgrid::esl
