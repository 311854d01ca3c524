#include "internal/plain_event.hpp"

#include <cstdint>
#include <cstring>
#include <new>

#include "esl/percent_codec.hpp"
#include "internal/decode_scratch.hpp"
#include "internal/line_walk.hpp"
#include "internal/text.hpp"

namespace callgrid::esl::internal {

decoded_fields* decode_plain_fields(std::string_view lines) {
  // Working memory of this thread, reused: the block below is the only allocation.
  thread_local decode_scratch scratch;
  scratch.fields.clear();
  char* decoded = scratch.percent_decoded.reserve(lines.size()); // decoding never grows
  std::size_t decoded_end = 0;
  auto at = [](std::size_t offset, std::size_t length, bool is_decoded) {
    return text_ref{static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(length),
                    is_decoded};
  };
  scan_lines(lines, [&](const scanned_line& line) {
    if (line.colon == npos || line.colon == line.begin)
      return true; // not a field line (the parser refuses such events; kept safe here)
    auto value = line_value(lines, line.colon, line.end);
    auto value_offset = static_cast<std::size_t>(value.data() - lines.data());
    text_ref value_ref = at(value_offset, value.size(), false);
    if (line.has_percent) {
      auto length = percent_decode(value, decoded + decoded_end);
      value_ref = at(decoded_end, length, true);
      decoded_end += length;
    }
    scratch.fields.push_back({at(line.begin, line.colon - line.begin, false), value_ref});
    return true;
  });

  auto count = scratch.fields.size();
  auto table_offset = sizeof(decoded_fields);
  static_assert(sizeof(decoded_fields) % alignof(header_field) == 0);
  auto text_offset = table_offset + count * sizeof(header_field);
  auto* block = static_cast<char*>(::operator new(text_offset + decoded_end));
  auto* table = reinterpret_cast<header_field*>(block + table_offset);
  char* text = block + text_offset;
  if (decoded_end != 0)
    std::memcpy(text, decoded, decoded_end);
  const char* const bases[2] = {lines.data(), text}; // by text_ref::decoded, without a branch
  auto resolve = [&bases](const text_ref& ref) {
    return std::string_view{bases[ref.decoded ? 1 : 0] + ref.offset, ref.length};
  };
  for (std::size_t i = 0; i < count; ++i) {
    const auto& field = scratch.fields[i];
    new (table + i) header_field{resolve(field.name), resolve(field.value)};
  }
  return new (block) decoded_fields{std::span<const header_field>{table, count}};
}

void release_decoded_fields(decoded_fields* fields) noexcept {
  if (fields == nullptr)
    return;
  fields->~decoded_fields();
  ::operator delete(static_cast<void*>(fields));
}

void find_plain_fields(std::string_view lines, std::span<const std::string_view> names,
                       std::span<std::optional<raw_value>> found) noexcept {
  std::size_t missing = names.size();
  for (auto& slot : found)
    slot.reset();
  if (missing == 0)
    return;
  // Most lines have a name of a length none of `names` has: one bit test skips them.
  constexpr std::size_t mask_bits = 64;
  std::uint64_t wanted_lengths = 0;
  bool wants_long_names = false;
  for (auto name : names) {
    if (name.size() < mask_bits)
      wanted_lengths |= std::uint64_t{1} << name.size();
    else
      wants_long_names = true;
  }
  walk_lines(lines, [&](std::size_t begin, std::size_t colon, std::size_t end) {
    if (colon == npos || colon == begin)
      return true;
    auto length = colon - begin;
    if (length < mask_bits ? (wanted_lengths >> length & 1) == 0 : !wants_long_names)
      return true;
    auto name = lines.substr(begin, length);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (found[i] || !iequals(name, names[i]))
        continue;
      auto value = line_value(lines, colon, end);
      found[i] = raw_value{value, std::memchr(value.data(), '%', value.size()) != nullptr};
      --missing;
    }
    return missing != 0;
  });
}

} // namespace callgrid::esl::internal
