// libFuzzer target for the call-record codec: the spool hands it whatever bytes are on disk,
// so decoding must reject anything malformed with an error and never crash. A record that
// decodes must encode back to bytes that decode to the same record.

#include <cstddef>
#include <cstdint>
#include <span>

#include "persistence/record_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using callgrid::persistence::record_codec;
  std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data), size};
  auto record = record_codec::decode(bytes);
  if (!record)
    return 0;
  auto again = record_codec::decode(record_codec::encode(*record));
  if (!again || !(*again == *record))
    __builtin_trap();
  return 0;
}
