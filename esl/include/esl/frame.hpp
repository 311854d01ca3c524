#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace callgrid::esl {

namespace internal {
struct decoded_fields;
struct line_ref;

/// Owns the decoded fields of a plain event, once they are decoded: set at most once, by
/// whichever reader decodes first (an atomic compare-and-swap), and moved like a unique_ptr.
class decoded_fields_slot {
public:
  decoded_fields_slot() = default;
  decoded_fields_slot(decoded_fields_slot&& other) noexcept : fields_(other.take()) {}
  decoded_fields_slot& operator=(decoded_fields_slot&& other) noexcept {
    if (this != &other)
      reset(other.take());
    return *this;
  }
  decoded_fields_slot(const decoded_fields_slot&) = delete;
  decoded_fields_slot& operator=(const decoded_fields_slot&) = delete;
  ~decoded_fields_slot() { reset(nullptr); }

  /// The decoded fields, or null while nobody has decoded them.
  [[nodiscard]] const decoded_fields* get() const noexcept {
    return fields_.load(std::memory_order_acquire);
  }

  /// Stores `fields` unless another reader stored its own first, in which case `fields` is
  /// freed. Returns the fields that stay.
  const decoded_fields* publish(decoded_fields* fields) const noexcept;

private:
  decoded_fields* take() noexcept { return fields_.exchange(nullptr, std::memory_order_acq_rel); }
  void reset(decoded_fields* fields) noexcept;

  mutable std::atomic<decoded_fields*> fields_{nullptr};
};
} // namespace internal

/// What a frame is, decided from its Content-Type header (and, for the outbound `connect`
/// reply, from the event it carries in its header block).
enum class content_type : uint8_t {
  /// `auth/request`: FreeSWITCH asks an inbound client for its password.
  auth_request,
  /// `command/reply`: the answer to a command; the result is in Reply-Text.
  command_reply,
  /// `api/response`: the output of an `api` command, in the body.
  api_response,
  /// `text/event-plain`: an event whose body is percent-encoded `Name: value` lines.
  event_plain,
  /// `text/event-json`: an event whose body is a JSON object of strings.
  event_json,
  /// `text/event-xml`: an event as XML; kept as a raw body, fields are not decoded.
  event_xml,
  /// `text/disconnect-notice`: FreeSWITCH is about to close, or lingers (outbound sockets).
  disconnect_notice,
  /// `log/data`: a log line subscribed with `log N`.
  log_data,
  /// The outbound socket's reply to `connect`: a `command/reply` whose header block carries the
  /// channel's data as percent-encoded event headers (Event-Name: CHANNEL_DATA).
  channel_data,
  /// A command sent to FreeSWITCH (only produced by a parser in command mode, as a server
  /// such as fsemu uses it): the first line is the command, the rest are headers.
  command,
  /// Any other or a missing Content-Type: surfaced with its raw text, never dropped.
  unknown,
};

/// Returns the lower-case name of `type`, e.g. "event_plain".
[[nodiscard]] const char* to_string(content_type type) noexcept;

/// One `Name: value` pair of a header block or of an event.
struct header_field {
  std::string_view name;
  std::string_view value;
};

/// Gives a frame's block back: to a small cache of blocks on the thread that drops the frame,
/// for the next frame parsed there, or to the heap (frame.cpp). Frames of a few KB are the
/// biggest allocations on callgridd's hot path; the heap handled them slowly.
struct frame_block_release {
  /// The block's size class in the cache (`frame_block_cache` in frame.cpp); 0 for a block
  /// from plain `new char[]`.
  std::uint8_t size_class = 0;
  void operator()(char* block) const noexcept;
};

/// One complete ESL frame: its outer headers, its body and, for events and the outbound
/// `connect` reply, the decoded event fields. Produced by `frame_parser`.
///
/// A frame owns all its bytes in a single heap block (often reused from a per-thread cache), so
/// moving it is cheap and every `string_view` it hands out stays valid for as long as the frame
/// lives (moves included).
///
/// A `text/event-plain` event is checked when it is parsed, and its Event-Name, Unique-ID and
/// Job-UUID are found then, but its values are decoded only when they are read: the parser
/// keeps an index of the event's lines, `field` and `find_fields` run over it, and the first
/// call that needs a decoded value (or all fields) decodes the whole table once. callgridd
/// routes each event by name and Unique-ID and reads two to seven of its ~100 fields; decoding
/// all of them was most of its work per call.
///
/// Immutable once built, as far as a reader can tell (the decoding on demand happens once,
/// published atomically); safe to read from several threads.
class frame {
public:
  frame() = default;
  frame(frame&&) noexcept = default;
  frame& operator=(frame&&) noexcept = default;
  frame(const frame&) = delete;
  frame& operator=(const frame&) = delete;
  ~frame() = default;

  /// The kind of frame; `unknown` when the Content-Type is missing or not one ESL defines.
  [[nodiscard]] content_type type() const noexcept { return type_; }

  /// The Content-Type header as sent ("" if there was none).
  [[nodiscard]] std::string_view content_type_text() const noexcept { return content_type_text_; }

  /// The outer header block in wire order, values exactly as sent (not decoded).
  [[nodiscard]] std::span<const header_field> headers() const noexcept { return headers_; }

  /// The first outer header called `name` (ASCII case-insensitive), if any.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept;

  /// The body: exactly Content-Length bytes, or empty when there was no Content-Length.
  [[nodiscard]] std::string_view body() const noexcept { return body_; }

  /// Whether this frame carries decoded event fields (event_plain, event_json, channel_data).
  [[nodiscard]] bool has_event() const noexcept {
    return type_ == content_type::event_plain || type_ == content_type::event_json
           || type_ == content_type::channel_data;
  }

  /// The event's fields in order, values decoded (percent-decoding for plain events and the
  /// `connect` reply, JSON unescaping for JSON events). Duplicate names are kept. For a plain
  /// event the first call decodes the table (an allocation).
  [[nodiscard]] std::span<const header_field> event_fields() const;

  /// The first event field called `name` (ASCII case-insensitive), if any, decoded.
  [[nodiscard]] std::optional<std::string_view> field(std::string_view name) const;

  /// Looks up several fields in one pass over the event: `found[i]` becomes `field(names[i])`.
  /// `found` must have a slot per name. For reading a handful of fields of a large event.
  void find_fields(std::span<const std::string_view> names,
                   std::span<std::optional<std::string_view>> found) const;

  /// The event's own body, e.g. the result text of a BACKGROUND_JOB ("_body" in JSON).
  [[nodiscard]] std::string_view event_body() const noexcept { return event_body_; }

  /// The Event-Name field ("" if this is not an event or it has none).
  [[nodiscard]] std::string_view event_name() const noexcept { return event_name_; }

  /// The Unique-ID field: the channel UUID an event belongs to ("" if none).
  [[nodiscard]] std::string_view unique_id() const noexcept { return unique_id_; }

  /// The Job-UUID of a bgapi reply or of a BACKGROUND_JOB event ("" if none).
  [[nodiscard]] std::string_view job_uuid() const noexcept { return job_uuid_; }

  /// Reply-Text of a command/reply (decoded for the `connect` reply), "" otherwise.
  [[nodiscard]] std::string_view reply_text() const noexcept { return reply_text_; }

  /// The command line of a `command` frame (e.g. "api status"), "" otherwise.
  [[nodiscard]] std::string_view command_line() const noexcept { return command_line_; }

  /// Number of bytes the frame took on the wire (header block, blank line and body).
  [[nodiscard]] std::size_t wire_size() const noexcept { return wire_size_; }

  /// When the read that completed this frame returned (set by `connection`; the epoch for a
  /// frame parsed elsewhere). Reaction times are measured from here.
  [[nodiscard]] std::chrono::steady_clock::time_point received_at() const noexcept {
    return received_at_;
  }
  void set_received_at(std::chrono::steady_clock::time_point when) noexcept {
    received_at_ = when;
  }

private:
  friend class frame_builder;

  /// The decoded fields of a plain event, decoding them on the first call.
  const internal::decoded_fields& decoded() const;

  std::unique_ptr<char[], frame_block_release> block_;
  /// A plain event's field lines as sent (in `block_`), decoded on demand into `decoded_`;
  /// empty for other frames, whose `fields_` are decoded when parsed. The parser's index of
  /// the lines (in `block_` too) serves lookups before that.
  std::string_view plain_lines_;
  const internal::line_ref* plain_index_ = nullptr;
  std::size_t plain_line_count_ = 0;
  internal::decoded_fields_slot decoded_;
  std::span<const header_field> headers_;
  std::span<const header_field> fields_;
  std::string_view content_type_text_;
  std::string_view body_;
  std::string_view event_body_;
  std::string_view event_name_;
  std::string_view unique_id_;
  std::string_view job_uuid_;
  std::string_view reply_text_;
  std::string_view command_line_;
  std::size_t wire_size_ = 0;
  std::chrono::steady_clock::time_point received_at_{};
  content_type type_ = content_type::unknown;
};

} // namespace callgrid::esl
