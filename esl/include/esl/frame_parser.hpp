#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "esl/frame.hpp"

namespace simdjson::dom {
class parser;
} // namespace simdjson::dom

namespace callgrid::esl {

namespace internal {
struct decode_scratch;
} // namespace internal

/// Bounds and mode of a `frame_parser`.
struct parser_limits {
  /// Largest accepted Content-Length (of a frame and of an event's inner body). FreeSWITCH
  /// frames are a few KiB; anything above this closes the link.
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  /// Largest header block, blank line excluded. The outbound `connect` reply carries all
  /// channel variables in its header block, so this is generous.
  std::size_t max_header_bytes = 1024 * 1024;
};

/// Which side of the socket the parser reads.
enum class stream_direction : uint8_t {
  /// Frames FreeSWITCH sends: replies, responses, events, notices (what clients read).
  from_freeswitch,
  /// Commands sent to FreeSWITCH, e.g. "api status\n\n" (what a server such as fsemu reads).
  to_freeswitch,
};

/// Incremental parser for the FreeSWITCH event socket stream. Knows nothing about sockets:
/// the connection feeds it whatever a read returned, split at any byte, and pulls complete
/// frames out. Memory is bounded by the limits: a stream that exceeds them is an error.
/// Not thread-safe; each connection owns one.
///
/// ```
/// esl::frame_parser parser;
/// parser.feed(bytes_from_socket);
/// esl::frame f;
/// while (true) {
///   auto got = parser.next(f);
///   if (!got) { close_link(got.error()); break; }
///   if (!*got) break; // need more bytes
///   handle(std::move(f));
/// }
/// ```
class frame_parser {
public:
  explicit frame_parser(parser_limits limits = {},
                        stream_direction direction = stream_direction::from_freeswitch);
  ~frame_parser();
  frame_parser(frame_parser&&) noexcept;
  frame_parser& operator=(frame_parser&&) noexcept;
  frame_parser(const frame_parser&) = delete;
  frame_parser& operator=(const frame_parser&) = delete;

  /// Appends `bytes` to the input. Never fails; errors surface from `next`.
  void feed(std::string_view bytes);

  /// Returns writable space for at least `min_bytes` at the end of the input, for a socket
  /// read straight into the parser. Follow with `commit(n)` for the bytes actually read.
  [[nodiscard]] std::span<char> prepare(std::size_t min_bytes);

  /// Marks `bytes` of the space returned by `prepare` as input.
  void commit(std::size_t bytes);

  /// Moves the next complete frame into `out`: `true` if it did, `false` if more input is
  /// needed, or an `esl::errc` when the stream is corrupt. After an error the parser stays
  /// failed (every later call returns `errc::parser_failed`) and the link must be closed.
  [[nodiscard]] caf::expected<bool> next(frame& out);

  /// Tells the parser the stream has ended (EOF): an error if a frame was cut off, naming how
  /// much of it had arrived; no error if the input ended on a frame boundary.
  [[nodiscard]] caf::error finish() const;

  /// Forgets all input and any earlier error, keeping the allocated buffers: for a new
  /// connection on the same parser (after a reconnect).
  void reset() noexcept;

  /// Bytes received but not yet returned as frames.
  [[nodiscard]] std::size_t buffered_bytes() const noexcept { return end_ - begin_; }

  /// Total bytes consumed as complete frames since construction.
  [[nodiscard]] std::uint64_t consumed_bytes() const noexcept { return consumed_; }

  /// Whether an earlier call returned an error.
  [[nodiscard]] bool failed() const noexcept { return failed_; }

  /// Plain events (`text/event-plain`) whose first line is `Event-Name: NAME` for one of
  /// `names` are consumed without being read further: `next` never returns them, and counts
  /// them in `skipped_events()`. For events a client subscribes to only for their arrival (the
  /// node supervisor's CHANNEL_ANSWER, node_supervisor.hpp). FreeSWITCH writes Event-Name first;
  /// an event that names itself later is returned as usual.
  void skip_plain_events(std::vector<std::string> names);

  /// Plain CHANNEL_EXECUTE_COMPLETE events (first line `Event-Name: CHANNEL_EXECUTE_COMPLETE`)
  /// whose `Application` is one of `applications` are consumed unread too, and counted with
  /// the skipped events. The application is read from the lines that end the event's header
  /// block, where FreeSWITCH writes it (Application, Application-Data, Application-Response,
  /// Application-UUID, then the blank line): a completion that names its application
  /// elsewhere, or has a body of its own, is returned as usual. For completions nobody reads
  /// (the node supervisor's, node_supervisor.hpp).
  void skip_plain_completions(std::vector<std::string> applications);

  /// Events skipped so far (see `skip_plain_events`, `skip_plain_completions`).
  [[nodiscard]] std::uint64_t skipped_events() const noexcept { return skipped_; }

private:
  caf::error fail(caf::error err);
  caf::expected<bool> find_header_end();
  caf::expected<bool> build_frame(frame& out);
  [[nodiscard]] bool is_skipped(std::string_view header, std::string_view body) const noexcept;
  void reserve_for_append(std::size_t extra);

  parser_limits limits_;
  stream_direction direction_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t scan_from_ = 0;
  // Set once the blank line ending the current header block has been found.
  bool have_header_ = false;
  std::size_t header_bytes_ = 0;
  std::size_t body_bytes_ = 0;
  std::uint64_t consumed_ = 0;
  bool failed_ = false;
  // The first lines of the plain events to skip ("Event-Name: NAME").
  std::vector<std::string> skipped_first_lines_;
  // The applications whose CHANNEL_EXECUTE_COMPLETE is skipped.
  std::vector<std::string> skipped_completions_;
  std::uint64_t skipped_ = 0;
  std::unique_ptr<simdjson::dom::parser> json_;
  // Per-frame working memory, reused so that a frame costs one allocation.
  std::unique_ptr<internal::decode_scratch> scratch_;
};

} // namespace callgrid::esl
