#define CAF_SUITE esl.line_index

#include <caf/test/unit_test.hpp>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

// The line index is private to the esl library; this suite tests it without a parser around it.
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
