// libFuzzer target for the ESL frame parser and event decoding (text/event-plain percent
// decoding, text/event-json, the outbound connect reply), in both stream directions.
//
// The first input byte chooses how the rest is split into reads, so the fuzzer also explores
// frames cut at arbitrary offsets. Every frame that comes out is read in full, so decoding
// errors inside accessors would show up under AddressSanitizer. A plain event is looked up
// before its table is decoded (from its wire lines) and the answers must match the table. A
// parse that skips events by name (and completions by application) must return the other
// frames of a sound stream.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "esl/ascii.hpp"
#include "esl/frame_parser.hpp"

namespace {

std::optional<std::string_view> first_in(std::span<const callgrid::esl::header_field> fields,
                                         std::string_view name) {
  for (const auto& field : fields)
    if (callgrid::esl::iequals(field.name, name))
      return field.value;
  return std::nullopt;
}

void touch(const callgrid::esl::frame& f, std::size_t& sink) {
  static constexpr std::array<std::string_view, 5> names{
    "Event-Name", "Unique-ID", "Answer-State", "Content-Length", "variable_current_application"};
  std::array<std::optional<std::string_view>, names.size()> looked_up;
  f.find_fields(names, looked_up);
  for (std::size_t i = 0; i < names.size(); ++i)
    if (looked_up[i] != first_in(f.event_fields(), names[i]))
      __builtin_trap(); // a lookup on the wire lines disagrees with the decoded table
  for (const auto& header : f.headers())
    sink += header.name.size() + header.value.size();
  for (const auto& field : f.event_fields())
    sink += field.name.size() + field.value.size();
  sink += f.body().size() + f.event_body().size() + f.event_name().size() + f.unique_id().size()
          + f.job_uuid().size() + f.reply_text().size() + f.command_line().size();
  if (auto value = f.field("Event-Name"))
    sink += value->size();
}

/// What one parse of the input gave: the frames returned, the events skipped, and whether
/// the stream was found corrupt.
struct outcome {
  std::size_t frames = 0;
  std::uint64_t skipped = 0;
  bool failed = false;
};

outcome run(std::string_view input, std::size_t step, callgrid::esl::stream_direction direction,
            bool skipping = false) {
  // Small limits so the bounds are reached by fuzz-sized inputs too.
  callgrid::esl::parser_limits limits{.max_body_bytes = 64 * 1024, .max_header_bytes = 8 * 1024};
  callgrid::esl::frame_parser parser{limits, direction};
  if (skipping) {
    parser.skip_plain_events({"CHANNEL_ANSWER", "CHANNEL_CREATE"});
    parser.skip_plain_completions({"answer", "park", "set"});
  }
  outcome out;
  std::size_t sink = 0;
  callgrid::esl::frame f;
  for (std::size_t offset = 0; offset < input.size() && !out.failed; offset += step) {
    parser.feed(input.substr(offset, step));
    while (true) {
      auto got = parser.next(f);
      if (!got) {
        out.failed = true;
        break;
      }
      if (!*got)
        break;
      ++out.frames;
      touch(f, sink);
    }
  }
  if (!out.failed)
    (void) parser.finish();
  out.skipped = parser.skipped_events();
  if (sink == 0xdeadbeef)
    __builtin_trap(); // keeps `sink` alive
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  std::size_t step = 1 + data[0] % 64;
  if (data[0] >= 192)
    step = size; // one read
  std::string_view input{reinterpret_cast<const char*>(data + 1), size - 1};
  auto all = run(input, step, callgrid::esl::stream_direction::from_freeswitch);
  run(input, step, callgrid::esl::stream_direction::to_freeswitch);
  // Skipping events by name (and completions by application) drops exactly those frames from
  // a sound stream (a corrupt one may fail later or not at all, as the skipped events are not
  // read).
  auto skipping = run(input, step, callgrid::esl::stream_direction::from_freeswitch, true);
  if (!all.failed && (skipping.failed || skipping.frames + skipping.skipped != all.frames))
    __builtin_trap();
  return 0;
}
