#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace callgrid::esl::internal {

/// A block of at least `bytes` for a frame, from the calling thread's cache when one of the
/// right size is free, and the size class `frame_block_release` needs to give it back.
[[nodiscard]] std::pair<char*, std::uint8_t> take_frame_block(std::size_t bytes);

} // namespace callgrid::esl::internal
