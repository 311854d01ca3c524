#define CAF_SUITE esl.capture_replay

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture_transcript.hpp"
#include "esl/errc.hpp"
#include "esl/frame_parser.hpp"
#include "frame_test_helpers.hpp"

using namespace callgrid;
using namespace callgrid::esl;
using esl::testing::str;

namespace {

/// What a frame of a transcript holds, read from the transcript's own bytes with a naive
/// splitter that shares no code with the parser under test.
struct expected_frame {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;
  std::size_t wire_size = 0;
};

expected_frame expect_from(const std::string& bytes) {
  expected_frame out;
  auto blank = bytes.find("\n\n");
  CAF_REQUIRE(blank != std::string::npos);
  std::string header_text = bytes.substr(0, blank);
  out.body = bytes.substr(blank + 2);
  out.wire_size = bytes.size();
  std::size_t start = 0;
  while (start <= header_text.size()) {
    auto end = header_text.find('\n', start);
    if (end == std::string::npos)
      end = header_text.size();
    auto line = header_text.substr(start, end - start);
    auto colon = line.find(": ");
    CAF_REQUIRE(colon != std::string::npos);
    out.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    if (line.substr(0, colon) == "Content-Type" && out.content_type.empty())
      out.content_type = line.substr(colon + 2);
    start = end + 1;
  }
  return out;
}

/// Parses `stream` delivered as the given pieces and returns the frames, or nothing if the
/// parser reported an error. The parser is reset rather than rebuilt, so thousands of replays
/// do not spend their time allocating. (No CAF checks in here: they cost a microsecond each.)
std::optional<std::vector<frame>> parse_pieces(frame_parser& parser, std::string_view stream,
                                               const std::vector<std::size_t>& cuts) {
  parser.reset();
  std::vector<frame> frames;
  std::size_t from = 0;
  auto drain = [&] {
    while (true) {
      frame f;
      auto got = parser.next(f);
      if (!got)
        return false;
      if (!*got)
        return true;
      frames.push_back(std::move(f));
    }
  };
  for (auto cut : cuts) {
    parser.feed(stream.substr(from, cut - from));
    if (!drain())
      return std::nullopt;
    from = cut;
  }
  parser.feed(stream.substr(from));
  if (!drain() || parser.finish())
    return std::nullopt;
  return frames;
}

/// Whether two frames hold the same content: type, outer headers, decoded event fields and
/// event body, byte for byte.
bool same_content(const frame& a, const frame& b) {
  auto same_fields = [](std::span<const header_field> x, std::span<const header_field> y) {
    return std::equal(x.begin(), x.end(), y.begin(), y.end(), [](const auto& l, const auto& r) {
      return l.name == r.name && l.value == r.value;
    });
  };
  return a.type() == b.type() && a.body() == b.body() && a.event_body() == b.event_body()
         && same_fields(a.headers(), b.headers()) && same_fields(a.event_fields(), b.event_fields());
}

/// Whether `parsed` has the transcript's frames (sizes, bodies, header counts) and, for the
/// frames starting at or after `deep_from` up to `deep_to` bytes into the stream, exactly the
/// content of `reference` (the frames of the same stream parsed in one piece, checked against
/// the transcript by the first test). The split point is where a parser can go wrong, so the
/// frame holding it is compared in full; comparing every frame in full for every one of the
/// ~600,000 split points would cost minutes.
bool same_frames(const std::optional<std::vector<frame>>& parsed,
                 const std::vector<expected_frame>& want, const std::vector<frame>& reference,
                 std::size_t deep_from = 0, std::size_t deep_to = static_cast<std::size_t>(-1)) {
  if (!parsed || parsed->size() != want.size())
    return false;
  const auto& got = *parsed;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].wire_size() != want[i].wire_size || got[i].body() != want[i].body
        || got[i].headers().size() != want[i].headers.size())
      return false;
    auto end = offset + want[i].wire_size;
    if (end > deep_from && offset < deep_to && !same_content(got[i], reference[i]))
      return false;
    offset = end;
  }
  return true;
}

/// The capture parsed in one piece.
std::vector<frame> reference_frames(const test_support::capture& capture) {
  auto frames = esl::testing::parse_all(capture.received);
  CAF_REQUIRE(frames);
  return std::move(*frames);
}

struct fixture {
  std::vector<test_support::capture> captures;
  fixture() {
    for (const auto& name : test_support::capture_names())
      captures.push_back(test_support::load_capture(name));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(capture_replay, fixture)

CAF_TEST(every capture parses whole into exactly the frames of its transcript) {
  CAF_REQUIRE_EQUAL(captures.size(), 27u);
  for (const auto& capture : captures) {
    CAF_MESSAGE("capture " << capture.name);
    auto frames = esl::testing::parse_all(capture.received);
    CAF_REQUIRE(frames);
    auto expected_bytes = capture.received_frames();
    CAF_REQUIRE_EQUAL(frames->size(), expected_bytes.size());
    for (std::size_t i = 0; i < frames->size(); ++i) {
      auto want = expect_from(expected_bytes[i]);
      const auto& got = (*frames)[i];
      CAF_CHECK_EQUAL(got.wire_size(), want.wire_size);
      CAF_CHECK_EQUAL(str(got.content_type_text()), want.content_type);
      CAF_CHECK_EQUAL(str(got.body()), want.body);
      CAF_REQUIRE_EQUAL(got.headers().size(), want.headers.size());
      for (std::size_t h = 0; h < want.headers.size(); ++h) {
        CAF_CHECK_EQUAL(str(got.headers()[h].name), want.headers[h].first);
        CAF_CHECK_EQUAL(str(got.headers()[h].value), want.headers[h].second);
      }
      CAF_CHECK(got.type() != content_type::unknown);
    }
  }
}

CAF_TEST(every capture split at every byte offset yields the same frames) {
  for (const auto& capture : captures) {
    std::vector<expected_frame> want;
    for (const auto& bytes : capture.received_frames())
      want.push_back(expect_from(bytes));
    auto reference = reference_frames(capture);
    std::size_t mismatches = 0;
    frame_parser parser;
    std::vector<std::size_t> cuts(1);
    for (std::size_t cut = 1; cut < capture.received.size(); ++cut) {
      cuts[0] = cut;
      if (!same_frames(parse_pieces(parser, capture.received, cuts), want, reference, cut,
                       cut + 1))
        ++mismatches;
    }
    CAF_MESSAGE(capture.name << ": " << capture.received.size() - 1 << " split points");
    CAF_CHECK_EQUAL(mismatches, 0u);
  }
}

CAF_TEST(every capture fed one byte at a time yields the same frames) {
  for (const auto& capture : captures) {
    std::vector<expected_frame> want;
    for (const auto& bytes : capture.received_frames())
      want.push_back(expect_from(bytes));
    std::vector<std::size_t> cuts;
    for (std::size_t cut = 1; cut < capture.received.size(); ++cut)
      cuts.push_back(cut);
    frame_parser parser;
    CAF_CHECK(same_frames(parse_pieces(parser, capture.received, cuts), want,
                          reference_frames(capture)));
  }
}

CAF_TEST(a read ending just after a newline inside an event does not misframe it) {
  // FreeSWITCH's own C client looks for the blank line only inside the latest read, so a read
  // that ends after the first of the two newlines makes it miss the end of the header block.
  for (const auto& capture : captures) {
    std::vector<expected_frame> want;
    for (const auto& bytes : capture.received_frames())
      want.push_back(expect_from(bytes));
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i + 1 < capture.received.size(); ++i)
      if (capture.received[i] == '\n')
        cuts.push_back(i + 1);
    frame_parser parser;
    CAF_CHECK(same_frames(parse_pieces(parser, capture.received, cuts), want,
                          reference_frames(capture)));
  }
}

CAF_TEST(every client command of every capture parses as a command frame) {
  for (const auto& capture : captures) {
    auto frames = esl::testing::parse_all(capture.sent, stream_direction::to_freeswitch);
    CAF_REQUIRE(frames);
    std::size_t sent_entries = 0;
    for (const auto& entry : capture.entries)
      if (!entry.from_freeswitch)
        ++sent_entries;
    CAF_CHECK_EQUAL(frames->size(), sent_entries);
    for (const auto& f : *frames) {
      CAF_CHECK(f.type() == content_type::command);
      CAF_CHECK(!f.command_line().empty());
    }
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
