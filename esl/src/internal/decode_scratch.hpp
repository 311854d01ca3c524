#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "internal/flat_json.hpp"
#include "internal/plain_event.hpp"

namespace callgrid::esl::internal {

/// One header or event field before its frame exists: where its name and value are.
struct field_ref {
  text_ref name;
  text_ref value;
};

/// Room for percent-decoded values. Grown as needed and never zero-filled: `std::string::resize`
/// would clear a whole event body's worth of bytes for every event.
class decode_buffer {
public:
  /// At least `bytes` of writable room (the contents are not kept when it grows).
  char* reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      bytes_.reset(new char[bytes]);
      capacity_ = bytes;
    }
    return bytes_.get();
  }
  [[nodiscard]] char* data() noexcept { return bytes_.get(); }
  [[nodiscard]] const char* data() const noexcept { return bytes_.get(); }

private:
  std::unique_ptr<char[]> bytes_;
  std::size_t capacity_ = 0;
};

/// Working memory of `frame_parser` for building one frame, kept between frames so its
/// capacity is reused: the field references, the index of a plain event's lines (and the
/// positions of the lines the parser reads itself), and the decoded copies of values
/// (JSON-unescaped ones appended to `decoded`, percent-decoded ones in `percent_decoded`).
struct decode_scratch {
  std::vector<field_ref> fields;
  line_index_buffer lines;
  std::vector<std::uint32_t> selected_lines;
  std::string decoded;
  decode_buffer percent_decoded;
};

} // namespace callgrid::esl::internal
