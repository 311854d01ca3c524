#define CAF_SUITE esl.malformed_input

#include <caf/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <unistd.h>

#include "esl/errc.hpp"
#include "esl/frame_parser.hpp"
#include "frame_test_helpers.hpp"

using namespace callgrid::esl;
using callgrid::esl::testing::code_of;
using callgrid::esl::testing::parse_all;

namespace {

/// Resident set size of this process in bytes, from /proc/self/statm.
std::size_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::size_t total_pages = 0;
  std::size_t resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

errc error_for(std::string_view input) {
  auto result = parse_all(input);
  CAF_REQUIRE(!result);
  CAF_MESSAGE("error: " << render_error(result.error()));
  return code_of(result.error());
}

} // namespace

CAF_TEST(a negative Content-Length is an error) {
  CAF_CHECK(error_for("Content-Type: api/response\nContent-Length: -1\n\n")
            == errc::invalid_content_length);
}

CAF_TEST(a Content-Length of 2147483647 is over the limit) {
  CAF_CHECK(error_for("Content-Type: api/response\nContent-Length: 2147483647\n\n")
            == errc::content_length_too_large);
}

CAF_TEST(a Content-Length of 99999999999 is over the limit) {
  CAF_CHECK(error_for("Content-Type: api/response\nContent-Length: 99999999999\n\n")
            == errc::content_length_too_large);
}

CAF_TEST(a Content-Length with twenty-five digits does not overflow into a small number) {
  CAF_CHECK(error_for("Content-Length: 1000000000000000000000000005\n\nabcde")
            == errc::content_length_too_large);
}

CAF_TEST(a non-numeric Content-Length is an error) {
  CAF_CHECK(error_for("Content-Type: api/response\nContent-Length: 12abc\n\n")
            == errc::invalid_content_length);
  CAF_CHECK(error_for("Content-Type: api/response\nContent-Length: \n\n")
            == errc::invalid_content_length);
}

CAF_TEST(two different Content-Length headers are an error) {
  CAF_CHECK(error_for("Content-Length: 1\nContent-Length: 2\n\nab")
            == errc::invalid_content_length);
}

CAF_TEST(a missing blank line is reported when the stream ends) {
  auto err = error_for("Content-Type: api/response\nContent-Length: 5\n");
  CAF_CHECK(err == errc::truncated_frame);
}

CAF_TEST(a body cut at EOF is reported with how much arrived) {
  auto result = parse_all("Content-Type: api/response\nContent-Length: 10\n\nabc");
  CAF_REQUIRE(!result);
  CAF_CHECK(code_of(result.error()) == errc::truncated_frame);
  CAF_CHECK(render_error(result.error()).find("3 of 10 body bytes") != std::string::npos);
}

CAF_TEST(a header line without a colon is an error) {
  CAF_CHECK(error_for("Content-Type: api/response\ngarbage line\n\n") == errc::malformed_header);
}

CAF_TEST(a broken json event is an error) {
  std::string body = "{\"Event-Name\": \"HEARTBEAT\", ";
  CAF_CHECK(error_for("Content-Type: text/event-json\nContent-Length: "
                      + std::to_string(body.size()) + "\n\n" + body)
            == errc::malformed_event);
}

CAF_TEST(a plain event announcing more body than it has is an error) {
  std::string body = "Event-Name: BACKGROUND_JOB\nContent-Length: 50\n\nshort";
  CAF_CHECK(error_for("Content-Type: text/event-plain\nContent-Length: "
                      + std::to_string(body.size()) + "\n\n" + body)
            == errc::malformed_event);
}

CAF_TEST(a plain event line without a colon is an error that names the line) {
  std::string body = "Event-Name: CUSTOM\nUnique-ID: abc\nno colon here\n\n";
  auto result = parse_all("Content-Type: text/event-plain\nContent-Length: "
                          + std::to_string(body.size()) + "\n\n" + body);
  CAF_REQUIRE(!result);
  CAF_CHECK(code_of(result.error()) == errc::malformed_event);
  auto text = render_error(result.error());
  CAF_CHECK(text.find("line 3 ") != std::string::npos);
  CAF_CHECK(text.find("no colon here") != std::string::npos);
}

CAF_TEST(a 1 GiB header block fails early and keeps memory bounded) {
  frame_parser parser;
  std::string chunk;
  while (chunk.size() < 64 * 1024)
    chunk += "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
  chunk.resize(64 * 1024);
  auto before = resident_bytes();
  std::size_t fed = 0;
  std::size_t failed_at = 0;
  frame f;
  while (fed < (std::size_t{1} << 30)) {
    parser.feed(chunk);
    fed += chunk.size();
    auto got = parser.next(f);
    if (!got) {
      if (failed_at == 0) {
        failed_at = fed;
        CAF_CHECK(code_of(got.error()) == errc::header_block_too_large);
      } else {
        CAF_CHECK(code_of(got.error()) == errc::parser_failed);
      }
    }
  }
  auto after = resident_bytes();
  CAF_MESSAGE("failed after " << failed_at << " bytes; RSS grew by " << (after - before));
  CAF_CHECK(failed_at > 0);
  CAF_CHECK(failed_at <= parser_limits{}.max_header_bytes + 2 * chunk.size());
  CAF_CHECK_EQUAL(parser.buffered_bytes(), 0u);
  CAF_CHECK(after < before + 8 * 1024 * 1024);
}

CAF_TEST(after an error the parser stays failed) {
  frame_parser parser;
  parser.feed("Content-Length: -5\n\n");
  frame f;
  CAF_CHECK(!parser.next(f));
  parser.feed("Content-Type: auth/request\n\n");
  auto again = parser.next(f);
  CAF_REQUIRE(!again);
  CAF_CHECK(code_of(again.error()) == errc::parser_failed);
  CAF_CHECK(parser.failed());
}

CAF_TEST(a body over a custom limit is refused before it is buffered) {
  frame_parser parser{parser_limits{.max_body_bytes = 100, .max_header_bytes = 1000}};
  parser.feed("Content-Type: api/response\nContent-Length: 101\n\n");
  frame f;
  auto got = parser.next(f);
  CAF_REQUIRE(!got);
  CAF_CHECK(code_of(got.error()) == errc::content_length_too_large);
}
