#define CAF_SUITE esl.line_index

#include <caf/test/unit_test.hpp>

#include <cstddef>
#include <optional>
#include <string_view>
#include <random>
#include <string>
#include <vector>

// The line index is private to the esl library; this suite tests it without a parser around it.
#include "internal/line_bits.hpp"
#include "internal/plain_event.hpp"

using namespace callgrid::esl::internal;

namespace {

/// What `index_lines` should say, worked out byte by byte.
struct expected_index {
  line_index_result::stop why = line_index_result::stop::end_of_text;
  std::size_t at = 0;
  std::vector<line_ref> lines;
};

expected_index reference_index(const std::string& text) {
  expected_index out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto newline = text.find('\n', begin);
    auto end = newline == std::string::npos ? text.size() : newline;
    if (newline != std::string::npos && end == begin) {
      out.why = line_index_result::stop::blank_line;
      out.at = begin;
      return out;
    }
    auto colon = text.find(':', begin);
    if (colon >= end || colon == begin) {
      out.why = line_index_result::stop::nameless_line;
      out.at = begin;
      return out;
    }
    out.lines.push_back({static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(colon)});
    begin = end + 1;
  }
  out.at = text.size();
  return out;
}

/// Lines of every length up to a few blocks, colons anywhere, now and then a blank or a
/// nameless line or an unterminated last line.
std::string random_lines(std::mt19937& random) {
  auto pick = [&random](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  std::string text;
  auto lines = pick(20);
  for (std::size_t i = 0; i < lines; ++i) {
    auto kind = pick(60);
    if (kind == 0) {
      text += '\n';
      continue;
    }
    std::string line(1 + pick(kind < 5 ? 200 : 40), 'x');
    for (auto& c : line)
      c = "ab:\r %"[pick(6)];
    if (kind > 2)
      line[0] = 'N'; // most lines have a name
    if (kind > 3 && line.find(':') == std::string::npos)
      line[line.size() / 2] = ':'; // in a one-byte line that is a nameless line
    text += line;
    if (i + 1 < lines || pick(3) != 0)
      text += '\n';
  }
  return text;
}

void check_variant(const char* variant, const std::string& text,
                   line_index_result (*index_lines_variant)(std::string_view,
                                                            line_index_buffer&)) {
  auto expected = reference_index(text);
  line_index_buffer buffer;
  auto got = index_lines_variant(text, buffer);
  CAF_CHECK_EQUAL(static_cast<int>(got.why), static_cast<int>(expected.why));
  CAF_CHECK_EQUAL(got.at, expected.at);
  CAF_REQUIRE_EQUAL(got.lines, expected.lines.size());
  for (std::size_t i = 0; i < got.lines; ++i) {
    if (buffer.data()[i].begin != expected.lines[i].begin
        || buffer.data()[i].colon != expected.lines[i].colon)
      CAF_FAIL(variant << ": line " << i << " of a " << text.size() << "-byte text");
  }
}

} // namespace

CAF_TEST(every variant indexes random lines as a byte by byte reading does) {
  std::mt19937 random{20261128};
  int with_avx2 = 0;
  for (int round = 0; round < 20000; ++round) {
    auto text = random_lines(random);
    check_variant("portable", text, index_lines_portable);
    check_variant("chosen", text, index_lines);
#if defined(__x86_64__)
    if (index_lines_avx2_supported()) {
      check_variant("avx2", text, index_lines_avx2);
      ++with_avx2;
    }
#endif
  }
  CAF_MESSAGE("AVX2 variant checked on " << with_avx2 << " texts");
}

CAF_TEST(a line across many blocks and a text of exactly one block) {
  std::string long_line = "Name:" + std::string(300, 'v') + "\nNext: x\n\nbody";
  std::string one_block(63, 'a');
  one_block[10] = ':';
  one_block += '\n';
  for (const auto& text : {long_line, one_block, std::string{}, std::string{":"},
                           std::string{"a:\n"}, std::string(64, '\n')}) {
    check_variant("portable", text, index_lines_portable);
    check_variant("chosen", text, index_lines);
  }
}

namespace {

using find_variant = void (*)(std::string_view, std::span<const line_ref>,
                              std::span<const std::string_view>,
                              std::span<std::optional<raw_value>>);

/// The raw value of the first line called `name` (ASCII case-insensitive), found line by line.
std::optional<std::string_view> first_value(std::string_view text, std::span<const line_ref> lines,
                                            std::string_view name) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto line_name = text.substr(lines[i].begin, lines[i].colon - lines[i].begin);
    if (line_name.size() != name.size())
      continue;
    bool same = true;
    for (std::size_t c = 0; c < name.size() && same; ++c)
      same = lower(line_name[c]) == lower(name[c]);
    if (same)
      return line_value(text, lines[i].colon, line_end(text, lines, i));
  }
  return std::nullopt;
}

} // namespace

CAF_TEST(every variant of the field lookup finds what a line by line search finds) {
  std::mt19937 random{20261129};
  auto pick = [&random](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  std::vector<find_variant> variants{find_plain_fields_portable, find_plain_fields};
#if defined(__x86_64__)
  if (index_lines_avx2_supported())
    variants.push_back(find_plain_fields_avx2);
#endif
  std::size_t hits = 0;
  for (int round = 0; round < 5000; ++round) {
    // Names of a few lengths (some over 63 bytes), in varying case, values with escapes.
    std::vector<std::string> pool;
    for (std::size_t i = 0; i < 6; ++i)
      pool.push_back(std::string(1 + pick(i == 5 ? 80 : 20), 'a' + static_cast<char>(i)));
    std::string text;
    auto line_count = pick(40);
    for (std::size_t i = 0; i < line_count; ++i) {
      auto name = pool[pick(pool.size())];
      if (pick(3) == 0)
        name[0] = static_cast<char>(name[0] - 32); // upper case
      text += name + ": v" + std::to_string(i) + (pick(4) == 0 ? "%20x" : "") + "\n";
    }
    line_index_buffer buffer;
    auto indexed = index_lines(text, buffer);
    CAF_REQUIRE_EQUAL(indexed.lines, line_count);
    std::span<const line_ref> lines{buffer.data(), indexed.lines};
    // Up to 20 wanted names (more than the 16 the masks take), duplicates and absent ones too.
    std::vector<std::string> wanted;
    auto wanted_count = pick(21);
    for (std::size_t i = 0; i < wanted_count; ++i)
      wanted.push_back(pick(5) == 0 ? std::string("absent") : pool[pick(pool.size())]);
    std::vector<std::string_view> names{wanted.begin(), wanted.end()};
    for (auto variant : variants) {
      std::vector<std::optional<raw_value>> found(names.size());
      variant(text, lines, names, found);
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto expected = first_value(text, lines, names[i]);
        CAF_REQUIRE_EQUAL(found[i].has_value(), expected.has_value());
        if (expected) {
          CAF_CHECK_EQUAL(found[i]->text, *expected);
          CAF_CHECK_EQUAL(found[i]->has_percent, expected->find('%') != std::string_view::npos);
          ++hits;
        }
      }
    }
  }
  CAF_CHECK(hits > 10000);
}

CAF_TEST(every variant selects the lines of the wanted name lengths) {
  using select_variant = std::size_t (*)(std::span<const line_ref>, std::uint64_t,
                                         std::uint32_t*);
  std::vector<select_variant> variants{select_lines_by_length_portable, select_lines_by_length};
#if defined(__x86_64__)
  if (index_lines_avx2_supported())
    variants.push_back(select_lines_by_length_avx2);
#endif
  std::mt19937 random{20261130};
  auto pick = [&random](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    auto line_count = pick(30);
    for (std::size_t i = 0; i < line_count; ++i)
      text += std::string(1 + pick(i % 7 == 0 ? 100 : 16), 'n') + ": v\n";
    line_index_buffer buffer;
    auto indexed = index_lines(text, buffer);
    CAF_REQUIRE_EQUAL(indexed.lines, line_count);
    std::span<const line_ref> lines{buffer.data(), indexed.lines};
    std::uint64_t lengths = random() | std::uint64_t{random()} << 32;
    std::vector<std::uint32_t> expected;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      auto length = lines[i].colon - lines[i].begin;
      if (length < 64 && (lengths >> length & 1) != 0)
        expected.push_back(static_cast<std::uint32_t>(i));
    }
    for (auto variant : variants) {
      std::vector<std::uint32_t> got(lines.size());
      got.resize(variant(lines, lengths, got.data()));
      CAF_CHECK_EQUAL(got, expected);
    }
  }
}
