#include "internal/plain_event.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#  include <immintrin.h>
#endif

#include "esl/percent_codec.hpp"
#include "internal/decode_scratch.hpp"
#include "internal/frame_block.hpp"
#include "internal/line_bits.hpp"
#include "internal/text.hpp"

namespace callgrid::esl::internal {

line_ref* line_index_buffer::reserve(std::size_t entries, std::size_t used) {
  if (entries > capacity_) {
    auto wanted = std::max(entries, capacity_ * 2);
    std::unique_ptr<line_ref[]> grown{new line_ref[wanted]};
    if (used != 0)
      std::memcpy(grown.get(), entries_.get(), used * sizeof(line_ref));
    entries_ = std::move(grown);
    capacity_ = wanted;
  }
  return entries_.get();
}

namespace {

/// The newlines and the colons of one block of 64 bytes, one bit per byte.
struct block_masks {
  std::uint64_t newlines;
  std::uint64_t colons;
};

/// With SSE2 (every x86-64), 16 bytes per compare; a byte loop elsewhere.
struct portable_masks {
  block_masks operator()(const char* block) const noexcept {
    return {mask_of_64(block, '\n'), mask_of_64(block, ':')};
  }
};

#if defined(__x86_64__)
/// With AVX2, 32 bytes per compare: two loads and four compares a block instead of eight. (Every
/// CPU with AVX2 has BMI1 and BMI2 too; the loop uses them.)
struct avx2_masks {
  [[gnu::target("avx2,bmi,bmi2")]] block_masks operator()(const char* block) const noexcept {
    const __m256i newline = _mm256_set1_epi8('\n');
    const __m256i colon = _mm256_set1_epi8(':');
    auto low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
    auto high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32));
    auto low_newlines = static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, newline)));
    auto high_newlines = static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(high, newline)));
    auto low_colons = static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, colon)));
    auto high_colons = static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(high, colon)));
    return {std::uint64_t{high_newlines} << 32 | low_newlines,
            std::uint64_t{high_colons} << 32 | low_colons};
  }
};
#endif

/// `index_lines` with the block masks of `Masks`.
template <class Masks>
line_index_result index_lines_with(std::string_view text, line_index_buffer& index) {
  // Per block of 64 bytes, N marks newlines, C colons and S line starts (the byte after a
  // newline, and the text's first byte). R = ~N is all ones inside each line. R + C: at a line's
  // first colon 1 + 1 carries, the carry runs through the rest of the line (all ones) and stops
  // at its newline (a zero), which it sets; a later colon of the line meets the carry and keeps
  // its bit. So a newline's bit in the sum says its line has a colon, and C & ~sum are the first
  // colons. The carry out of a block runs on into the next one (a line spanning blocks).
  //
  // Within the field lines a line's start and its first colon alternate (S0 < C0 < S1 < C1 ...),
  // so the positions of S | C, in order, are the index itself: line_ref {begin, colon} pairs.
  // They are written four at a time, without a branch per bit; the writes past the last bit
  // land in the room `reserve` keeps ahead and are overwritten by the next block or ignored.
  static_assert(sizeof(line_ref) == 2 * sizeof(std::uint32_t));
  const char* data = text.data();
  const std::size_t size = text.size();
  std::size_t written = 0; // starts and first colons written, in order
  std::uint64_t carry = 0;
  std::uint64_t start_carry = 1; // the next block's first byte begins a line
  alignas(32) char tail[64];
  std::uint32_t* slots = nullptr;
  for (std::size_t base = 0; base < size; base += 64) {
    const char* block = data + base;
    std::size_t bytes = std::min<std::size_t>(64, size - base);
    std::uint64_t in_text = ~std::uint64_t{0};
    if (bytes < 64) {
      // The last, short block: padded with a byte that is neither '\n' nor ':'.
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, block, bytes);
      block = tail;
      in_text = (std::uint64_t{1} << bytes) - 1;
    }
    auto [newlines, all_colons] = Masks{}(block);
    auto starts = ((newlines << 1) | start_carry) & in_text;
    start_carry = newlines >> 63;
    std::uint64_t sum = 0;
    bool carried = __builtin_add_overflow(~newlines, all_colons, &sum);
    carried |= __builtin_add_overflow(sum, carry, &sum);
    carry = carried ? 1 : 0;
    auto first_colons = all_colons & ~sum;
    // A newline whose line has no colon (a blank line among them), or a line that begins
    // with a colon: the field lines end at the first of these.
    auto stops = ((newlines & ~sum) | (all_colons & starts)) & in_text;
    std::uint64_t before_stop = ~std::uint64_t{0};
    if (stops != 0)
      before_stop = (std::uint64_t{1} << std::countr_zero(stops)) - 1;
    // Room for 64 positions and the up to three written past them: 34 entries ahead.
    slots = reinterpret_cast<std::uint32_t*>(index.reserve(written / 2 + 34, (written + 1) / 2));
    auto bits = (starts | first_colons) & before_stop;
    auto count = static_cast<std::size_t>(std::popcount(bits));
    auto offset = static_cast<std::uint32_t>(base);
    std::uint32_t* out = slots + written;
    for (std::size_t i = 0; i < count; i += 4) {
      out[i] = offset + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      out[i + 1] = offset + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      out[i + 2] = offset + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      out[i + 3] = offset + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
    }
    written += count;
    if (stops != 0) {
      auto at = base + static_cast<std::size_t>(std::countr_zero(stops));
      if ((newlines & starts & (before_stop + 1)) != 0)
        return {line_index_result::stop::blank_line, at, written / 2};
      // A line without a colon had its start written but no colon: it begins there. A line
      // that begins with a colon had neither.
      auto bad = written % 2 == 1 ? std::size_t{slots[written - 1]} : at;
      return {line_index_result::stop::nameless_line, bad, written / 2};
    }
  }
  // An unterminated last line without a colon: no carry came out of it.
  if (written % 2 == 1 && carry == 0)
    return {line_index_result::stop::nameless_line, slots[written - 1], written / 2};
  return {line_index_result::stop::end_of_text, size, written / 2};
}

using index_function = line_index_result (*)(std::string_view, line_index_buffer&);

/// The variant for this CPU, picked once.
index_function pick_index_lines() noexcept {
#if defined(__x86_64__)
  if (index_lines_avx2_supported())
    return index_lines_avx2;
#endif
  return index_lines_portable;
}

const index_function chosen_index_lines = pick_index_lines();

} // namespace

line_index_result index_lines_portable(std::string_view text, line_index_buffer& index) {
  return index_lines_with<portable_masks>(text, index);
}

#if defined(__x86_64__)
// flatten: the loop and the masks are inlined here, so that the compiler may use AVX2 (and BMI:
// tzcnt, blsr) in them.
[[gnu::target("avx2,bmi,bmi2"), gnu::flatten]] line_index_result
index_lines_avx2(std::string_view text, line_index_buffer& index) {
  return index_lines_with<avx2_masks>(text, index);
}
#endif

bool index_lines_avx2_supported() noexcept {
#if defined(__x86_64__)
  __builtin_cpu_init(); // may run before libgcc's constructor has (static initialisation)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")
         && __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

line_index_result index_lines(std::string_view text, line_index_buffer& index) {
  return chosen_index_lines(text, index);
}

decoded_fields* decode_plain_fields(std::string_view lines, std::span<const line_ref> index) {
  // Working memory of this thread, reused: the block below is the only allocation.
  thread_local decode_scratch scratch;
  scratch.fields.clear();
  char* decoded = scratch.percent_decoded.reserve(lines.size()); // decoding never grows
  std::size_t decoded_end = 0;
  auto at = [](std::size_t offset, std::size_t length, bool is_decoded) {
    return text_ref{static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(length),
                    is_decoded};
  };
  for (std::size_t i = 0; i < index.size(); ++i) {
    std::size_t begin = index[i].begin;
    std::size_t colon = index[i].colon;
    auto value = line_value(lines, colon, line_end(lines, index, i));
    auto value_offset = static_cast<std::size_t>(value.data() - lines.data());
    text_ref value_ref = at(value_offset, value.size(), false);
    if (std::memchr(value.data(), '%', value.size()) != nullptr) {
      auto length = percent_decode(value, decoded + decoded_end);
      value_ref = at(decoded_end, length, true);
      decoded_end += length;
    }
    scratch.fields.push_back({at(begin, colon - begin, false), value_ref});
  }

  auto count = scratch.fields.size();
  auto table_offset = sizeof(decoded_fields);
  static_assert(sizeof(decoded_fields) % alignof(header_field) == 0);
  auto text_offset = table_offset + count * sizeof(header_field);
  auto [block, size_class] = take_frame_block(text_offset + decoded_end);
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
  return new (block) decoded_fields{std::span<const header_field>{table, count}, size_class};
}

void release_decoded_fields(decoded_fields* fields) noexcept {
  if (fields == nullptr)
    return;
  frame_block_release release{fields->size_class};
  fields->~decoded_fields();
  release(reinterpret_cast<char*>(fields));
}

namespace {

/// Whether `name` could equal `wanted` ignoring ASCII case, from their last (up to) eight bytes:
/// setting bit 5 of every byte maps both cases of a letter to one value, so bytes that differ
/// after it differ in any case. Most names a lookup passes share their length with the one it
/// wants and many share a prefix ("variable_"), few their end. Both have the same size.
/// The last eight bytes of `name` with ASCII letters folded to lower case (and some other bytes
/// changed alike): names that differ there differ in any case. Only for names of 8 bytes or more.
std::uint64_t folded_tail(std::string_view name) noexcept {
  constexpr std::uint64_t case_bits = 0x2020202020202020ULL;
  std::uint64_t tail = 0;
  std::memcpy(&tail, name.data() + name.size() - 8, 8);
  return tail | case_bits;
}

/// Whether `name` may be `wanted` (same length), by their last eight bytes; then compared.
bool same_name(std::string_view name, std::string_view wanted) noexcept {
  if (name.size() >= 8 && folded_tail(name) != folded_tail(wanted))
    return false;
  return name == wanted || iequals(name, wanted);
}

} // namespace

namespace {

/// Which of the four lines at `refs` have a name length set in `lengths` (bit i for line i).
struct portable_length_filter {
  unsigned operator()(const line_ref* refs, std::uint64_t lengths) const noexcept {
    unsigned hits = 0;
    for (unsigned i = 0; i < 4; ++i) {
      auto length = refs[i].colon - refs[i].begin;
      if (length < 64 && (lengths >> length & 1) != 0)
        hits |= 1u << i;
    }
    return hits;
  }
};

#if defined(__x86_64__)
/// The same with AVX2: four lines' lengths in one subtraction, tested with one variable shift
/// (a shift by 64 or more gives 0, so long names need no test of their own).
struct avx2_length_filter {
  [[gnu::target("avx2,bmi,bmi2")]] unsigned operator()(const line_ref* refs,
                                                       std::uint64_t lengths) const noexcept {
    auto pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(refs)); // begin | colon << 32
    auto begins = _mm256_and_si256(pairs, _mm256_set1_epi64x(0xffffffff));
    auto name_lengths = _mm256_sub_epi64(_mm256_srli_epi64(pairs, 32), begins);
    auto bits = _mm256_srlv_epi64(_mm256_set1_epi64x(static_cast<long long>(lengths)),
                                  name_lengths);
    auto one = _mm256_set1_epi64x(1);
    auto hits = _mm256_cmpeq_epi64(_mm256_and_si256(bits, one), one);
    return static_cast<unsigned>(_mm256_movemask_pd(_mm256_castsi256_pd(hits)));
  }
};
#endif

/// `find_plain_fields` with the line filter `Filter`.
template <class Filter>
void find_plain_fields_with(std::string_view lines, std::span<const line_ref> index,
                            std::span<const std::string_view> names,
                            std::span<std::optional<raw_value>> found) {
  static_assert(sizeof(line_ref) == 8 && alignof(line_ref) == 4);
  std::size_t missing = names.size();
  for (auto& slot : found)
    slot.reset();
  if (missing == 0)
    return;
  // Most lines have a name of a length no wanted name still missing has: a bit test skips
  // them, four lines at a time. The others are compared only with the missing names of their
  // length (the first 16 names by a mask of them per length, any further ones one by one),
  // most of those rejected by their last eight bytes, folded once per line. A name found leaves
  // its mask, and a length whose names are all found leaves the length mask.
  constexpr std::size_t mask_bits = 64;
  constexpr std::size_t by_mask = 16;
  std::uint64_t wanted_lengths = 0;
  std::array<std::uint16_t, mask_bits> names_of_length{};
  std::array<std::uint64_t, by_mask> tails{};
  bool other_names = false;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto length = names[i].size();
    if (length >= mask_bits || i >= by_mask) {
      other_names = true;
      continue;
    }
    wanted_lengths |= std::uint64_t{1} << length;
    names_of_length[length] |= static_cast<std::uint16_t>(1u << i);
    if (length >= 8)
      tails[i] = folded_tail(names[i]);
  }
  // Compares line `at` with the names still missing; true once none is.
  auto visit = [&](std::size_t at) {
    std::size_t begin = index[at].begin;
    std::size_t colon = index[at].colon;
    std::size_t length = colon - begin;
    auto name = lines.substr(begin, length);
    auto note = [&](std::size_t i) {
      auto value = line_value(lines, colon, line_end(lines, index, at));
      found[i] = raw_value{value, std::memchr(value.data(), '%', value.size()) != nullptr};
      --missing;
    };
    if (length < mask_bits && (wanted_lengths >> length & 1) != 0) {
      auto tail = length >= 8 ? folded_tail(name) : 0;
      auto& candidates = names_of_length[length];
      for (unsigned mask = candidates; mask != 0; mask &= mask - 1) {
        auto i = static_cast<std::size_t>(std::countr_zero(mask));
        if (tail != tails[i] || (name != names[i] && !iequals(name, names[i])))
          continue;
        note(i);
        candidates = static_cast<std::uint16_t>(candidates & ~(1u << i));
      }
      if (candidates == 0)
        wanted_lengths &= ~(std::uint64_t{1} << length);
    }
    if (other_names)
      for (std::size_t i = 0; i < names.size(); ++i)
        if ((i >= by_mask || names[i].size() >= mask_bits) && !found[i]
            && name.size() == names[i].size() && same_name(name, names[i]))
          note(i);
    return missing == 0;
  };
  std::size_t at = 0;
  if (!other_names) {
    for (; at + 4 <= index.size(); at += 4)
      for (unsigned hits = Filter{}(index.data() + at, wanted_lengths); hits != 0;
           hits &= hits - 1)
        if (visit(at + static_cast<std::size_t>(std::countr_zero(hits))))
          return;
  }
  for (; at < index.size(); ++at)
    if (visit(at))
      return;
}

/// `select_lines_by_length` with the line filter `Filter`.
template <class Filter>
std::size_t select_lines_with(std::span<const line_ref> index, std::uint64_t lengths,
                              std::uint32_t* out) {
  std::size_t count = 0;
  std::size_t at = 0;
  for (; at + 4 <= index.size(); at += 4)
    for (unsigned hits = Filter{}(index.data() + at, lengths); hits != 0; hits &= hits - 1)
      out[count++] =
        static_cast<std::uint32_t>(at + static_cast<std::size_t>(std::countr_zero(hits)));
  for (; at < index.size(); ++at) {
    auto length = index[at].colon - index[at].begin;
    if (length < 64 && (lengths >> length & 1) != 0)
      out[count++] = static_cast<std::uint32_t>(at);
  }
  return count;
}

} // namespace

std::size_t select_lines_by_length_portable(std::span<const line_ref> index,
                                            std::uint64_t lengths, std::uint32_t* out) {
  return select_lines_with<portable_length_filter>(index, lengths, out);
}

#if defined(__x86_64__)
[[gnu::target("avx2,bmi,bmi2"), gnu::flatten]] std::size_t
select_lines_by_length_avx2(std::span<const line_ref> index, std::uint64_t lengths,
                            std::uint32_t* out) {
  return select_lines_with<avx2_length_filter>(index, lengths, out);
}
#endif

void find_plain_fields_portable(std::string_view lines, std::span<const line_ref> index,
                                std::span<const std::string_view> names,
                                std::span<std::optional<raw_value>> found) {
  find_plain_fields_with<portable_length_filter>(lines, index, names, found);
}

#if defined(__x86_64__)
[[gnu::target("avx2,bmi,bmi2"), gnu::flatten]] void
find_plain_fields_avx2(std::string_view lines, std::span<const line_ref> index,
                       std::span<const std::string_view> names,
                       std::span<std::optional<raw_value>> found) {
  find_plain_fields_with<avx2_length_filter>(lines, index, names, found);
}
#endif

namespace {

using find_function = void (*)(std::string_view, std::span<const line_ref>,
                               std::span<const std::string_view>,
                               std::span<std::optional<raw_value>>);

/// The variant for this CPU, picked once (as for `index_lines`).
const find_function chosen_find_plain_fields =
#if defined(__x86_64__)
  index_lines_avx2_supported() ? find_plain_fields_avx2 :
#endif
                               find_plain_fields_portable;

using select_function = std::size_t (*)(std::span<const line_ref>, std::uint64_t,
                                         std::uint32_t*);

const select_function chosen_select_lines_by_length =
#if defined(__x86_64__)
  index_lines_avx2_supported() ? select_lines_by_length_avx2 :
#endif
                               select_lines_by_length_portable;

} // namespace

std::size_t select_lines_by_length(std::span<const line_ref> index, std::uint64_t lengths,
                                   std::uint32_t* out) noexcept {
  return chosen_select_lines_by_length(index, lengths, out);
}

void find_plain_fields(std::string_view lines, std::span<const line_ref> index,
                       std::span<const std::string_view> names,
                       std::span<std::optional<raw_value>> found) noexcept {
  chosen_find_plain_fields(lines, index, names, found);
}

} // namespace callgrid::esl::internal
