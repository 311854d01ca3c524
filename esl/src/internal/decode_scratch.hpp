#pragma once

#include <string>
#include <vector>

#include "internal/flat_json.hpp"

namespace callgrid::esl::internal {

/// One header or event field before its frame exists: where its name and value are.
struct field_ref {
  text_ref name;
  text_ref value;
};

/// Working memory of `frame_parser` for building one frame, kept between frames so its
/// capacity is reused: the field references and the decoded copies of values.
struct decode_scratch {
  std::vector<field_ref> fields;
  std::string decoded;
};

} // namespace callgrid::esl::internal
