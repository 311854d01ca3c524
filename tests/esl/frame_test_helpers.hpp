#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"

/// Helpers shared by the esl test suites.
namespace callgrid::esl::testing {

/// Feeds `input` in one piece and returns every frame, or the first error.
inline caf::expected<std::vector<frame>> parse_all(std::string_view input,
                                                   stream_direction direction
                                                   = stream_direction::from_freeswitch) {
  frame_parser parser{parser_limits{}, direction};
  parser.feed(input);
  std::vector<frame> frames;
  while (true) {
    frame f;
    auto got = parser.next(f);
    if (!got)
      return std::move(got.error());
    if (!*got)
      break;
    frames.push_back(std::move(f));
  }
  if (auto err = parser.finish())
    return err;
  return frames;
}

/// The error code of `err` as an esl::errc.
inline errc code_of(const caf::error& err) {
  return static_cast<errc>(err.code());
}

/// Whether `result` says a frame was produced (false for "need more" and for errors).
inline bool got_frame(const caf::expected<bool>& result) {
  return result && *result;
}

inline std::string str(std::string_view view) {
  return std::string{view};
}

} // namespace callgrid::esl::testing
