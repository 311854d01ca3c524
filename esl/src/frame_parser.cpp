#include "esl/frame_parser.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <simdjson.h>

#include "esl/errc.hpp"
#include "esl/percent_codec.hpp"
#include "internal/text.hpp"

namespace callgrid::esl {

namespace {

constexpr std::size_t initial_capacity = 64 * 1024;
// simdjson reads up to this many bytes past the end of its input; the stream buffer always
// keeps that much slack so JSON bodies are parsed in place.
constexpr std::size_t json_padding = simdjson::SIMDJSON_PADDING;

constexpr std::string_view content_length_name = "Content-Length";

std::size_t count_lines(std::string_view text) noexcept {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

std::string quoted_excerpt(std::string_view text) {
  constexpr std::size_t max_excerpt = 80;
  std::string out = "'";
  for (char c : text.substr(0, max_excerpt)) {
    if (c == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += '?';
    else
      out += c;
  }
  if (text.size() > max_excerpt)
    out += "...";
  out += "'";
  return out;
}

/// Parses a Content-Length value; `where` names the header block for the error text.
caf::expected<std::size_t> parse_content_length(std::string_view value, std::size_t limit,
                                                errc too_large_code, const char* where) {
  auto text = internal::trim(value);
  if (text.empty() || !std::all_of(text.begin(), text.end(),
                                   [](char c) { return c >= '0' && c <= '9'; })) {
    auto what = !text.empty() && text.front() == '-' ? "is negative" : "is not a decimal number";
    return caf::make_error(errc::invalid_content_length,
                           std::string{"Content-Length "} + quoted_excerpt(value) + " in "
                             + where + " " + what);
  }
  // Anything longer than 10 digits is above any sane limit; avoid overflow altogether.
  std::uint64_t length = 0;
  bool overflow = text.size() > 18;
  for (std::size_t i = 0; !overflow && i < text.size(); ++i)
    length = length * 10 + static_cast<std::uint64_t>(text[i] - '0');
  if (overflow || length > limit)
    return caf::make_error(too_large_code, std::string{"Content-Length "} + std::string{text}
                                             + " in " + where + " exceeds the limit of "
                                             + std::to_string(limit) + " bytes");
  return static_cast<std::size_t>(length);
}

} // namespace

// -- frame_builder ---------------------------------------------------------------------------

/// Builds one `frame` in a single heap block: the field table first, then a copy of the wire
/// bytes, then the region holding decoded values. Lives only inside `frame_parser::next`.
class frame_builder {
public:
  frame_builder(std::string_view header_text, std::string_view body, std::size_t wire_size)
    : header_text_(header_text), body_(body), wire_size_(wire_size) {
  }

  /// Fills `out` from the wire bytes: outer headers, and the event for event frames.
  caf::error build(stream_direction direction, simdjson::dom::parser& json, frame& out);

private:
  caf::error split_outer(stream_direction direction, frame& out);
  caf::error decode_plain_event(std::string_view section, std::string_view rest, frame& out);
  caf::error decode_json_event(const simdjson::dom::object& object, frame& out);
  void allocate(std::size_t field_count, std::size_t decoded_capacity, frame& out);
  std::string_view store_decoded(std::string_view value);
  std::string_view copy_decoded(std::string_view value);
  void add_field(std::string_view name, std::string_view value, frame& out);

  std::string_view header_text_;
  std::string_view body_;
  std::size_t wire_size_;
  std::size_t header_capacity_ = 0;
  header_field* fields_begin_ = nullptr;
  header_field* next_field_ = nullptr;
  char* decoded_next_ = nullptr;
};

void frame_builder::allocate(std::size_t field_count, std::size_t decoded_capacity,
                             frame& out) {
  auto table_bytes = field_count * sizeof(header_field);
  auto total = table_bytes + header_text_.size() + body_.size() + decoded_capacity;
  out.block_.reset(new char[total == 0 ? 1 : total]);
  char* base = out.block_.get();
  fields_begin_ = reinterpret_cast<header_field*>(base);
  next_field_ = fields_begin_;
  char* raw = base + table_bytes;
  if (!header_text_.empty())
    std::memcpy(raw, header_text_.data(), header_text_.size());
  if (!body_.empty())
    std::memcpy(raw + header_text_.size(), body_.data(), body_.size());
  decoded_next_ = raw + header_text_.size() + body_.size();
  // Re-point the views at the frame's own copy: the stream buffer is reused.
  header_text_ = std::string_view{raw, header_text_.size()};
  body_ = std::string_view{raw + header_text_.size(), body_.size()};
  out.body_ = body_;
  out.wire_size_ = wire_size_;
}

std::string_view frame_builder::store_decoded(std::string_view value) {
  if (value.find('%') == std::string_view::npos)
    return value;
  auto length = percent_decode(value, decoded_next_);
  std::string_view result{decoded_next_, length};
  decoded_next_ += length;
  return result;
}

std::string_view frame_builder::copy_decoded(std::string_view value) {
  if (!value.empty())
    std::memcpy(decoded_next_, value.data(), value.size());
  std::string_view result{decoded_next_, value.size()};
  decoded_next_ += value.size();
  return result;
}

void frame_builder::add_field(std::string_view name, std::string_view value, frame& out) {
  *next_field_++ = header_field{name, value};
  if (name.size() == 10 && name == "Event-Name")
    out.event_name_ = value;
  else if (name.size() == 9 && name == "Unique-ID")
    out.unique_id_ = value;
  else if (name.size() == 8 && name == "Job-UUID")
    out.job_uuid_ = value;
}

caf::error frame_builder::build(stream_direction direction, simdjson::dom::parser& json,
                                frame& out) {
  header_capacity_ = count_lines(header_text_);
  // Classify from the wire bytes before allocating, so the block is sized once.
  auto outer_type = internal::find_header(header_text_, "Content-Type");
  bool carries_channel_data = outer_type && *outer_type == "command/reply"
                              && internal::find_header(header_text_, "Event-Name");
  auto type = direction == stream_direction::to_freeswitch
                ? content_type::command
                : (carries_channel_data ? content_type::channel_data
                                        : internal::classify(outer_type.value_or("")));
  std::size_t event_capacity = 0;
  std::size_t decoded_capacity = 0;
  // A plain event is its own header block ("section"), a blank line, then its body ("rest").
  std::size_t section_size = 0;
  std::size_t rest_offset = body_.size();
  simdjson::dom::object json_object;
  switch (type) {
    case content_type::event_plain: {
      auto blank = body_.find("\n\n");
      section_size = blank == std::string_view::npos ? body_.size() : blank;
      rest_offset = blank == std::string_view::npos ? body_.size() : blank + 2;
      if (section_size > 0 && body_[section_size - 1] == '\n')
        --section_size;
      event_capacity = section_size == 0 ? 0 : count_lines(body_.substr(0, section_size));
      decoded_capacity = section_size;
      break;
    }
    case content_type::event_json: {
      auto parsed = json.parse(body_.data(), body_.size(), false).get(json_object);
      if (parsed != simdjson::SUCCESS)
        return caf::make_error(errc::malformed_event,
                               std::string{"text/event-json body is not a JSON object: "}
                                 + simdjson::error_message(parsed));
      event_capacity = json_object.size();
      decoded_capacity = body_.size();
      break;
    }
    case content_type::channel_data:
      event_capacity = header_capacity_;
      decoded_capacity = header_text_.size();
      break;
    default:
      break;
  }
  allocate(header_capacity_ + event_capacity, decoded_capacity, out);
  out.type_ = type;
  if (auto err = split_outer(direction, out))
    return err;
  switch (type) {
    case content_type::event_plain:
      return decode_plain_event(body_.substr(0, section_size), body_.substr(rest_offset), out);
    case content_type::event_json:
      return decode_json_event(json_object, out);
    case content_type::channel_data: {
      auto first_event_field = next_field_;
      for (const auto& header : out.headers_)
        add_field(header.name, store_decoded(header.value), out);
      out.fields_ = std::span<const header_field>{first_event_field, next_field_};
      if (auto reply = out.field("Reply-Text"))
        out.reply_text_ = *reply;
      return {};
    }
    default:
      return {};
  }
}

caf::error frame_builder::split_outer(stream_direction direction, frame& out) {
  std::string_view text = header_text_;
  std::size_t line_number = 0;
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_number;
    if (line_number == 1 && direction == stream_direction::to_freeswitch) {
      out.command_line_ = internal::trim(line);
      continue;
    }
    auto field = internal::split_header_line(line);
    if (!field)
      return caf::make_error(errc::malformed_header,
                             "header line " + std::to_string(line_number) + " "
                               + quoted_excerpt(line) + " has no 'Name: value' shape");
    *next_field_++ = *field;
  }
  out.headers_ = std::span<const header_field>{fields_begin_, next_field_};
  if (auto type_text = out.header("Content-Type"))
    out.content_type_text_ = *type_text;
  if (out.type_ == content_type::command_reply) {
    out.reply_text_ = out.header("Reply-Text").value_or(std::string_view{});
    out.job_uuid_ = out.header("Job-UUID").value_or(std::string_view{});
  }
  return {};
}

caf::error frame_builder::decode_plain_event(std::string_view section, std::string_view rest,
                                             frame& out) {
  auto first_event_field = next_field_;
  std::size_t line_number = 0;
  std::optional<std::size_t> inner_length;
  while (!section.empty()) {
    auto eol = section.find('\n');
    auto line = section.substr(0, eol);
    section = eol == std::string_view::npos ? std::string_view{} : section.substr(eol + 1);
    ++line_number;
    auto field = internal::split_header_line(line);
    if (!field)
      return caf::make_error(errc::malformed_event,
                             "text/event-plain line " + std::to_string(line_number) + " "
                               + quoted_excerpt(line) + " has no 'Name: value' shape");
    auto value = store_decoded(field->value);
    if (field->name == content_length_name) {
      auto length = parse_content_length(value, body_.size(), errc::malformed_event,
                                         "an event body");
      if (!length)
        return length.error();
      inner_length = *length;
    }
    add_field(field->name, value, out);
  }
  out.fields_ = std::span<const header_field>{first_event_field, next_field_};
  if (inner_length) {
    if (*inner_length > rest.size())
      return caf::make_error(errc::malformed_event,
                             "event '" + std::string{out.event_name_} + "' declares a body of "
                               + std::to_string(*inner_length) + " bytes but only "
                               + std::to_string(rest.size()) + " follow");
    out.event_body_ = rest.substr(0, *inner_length);
  } else {
    out.event_body_ = rest;
  }
  return {};
}

caf::error frame_builder::decode_json_event(const simdjson::dom::object& object, frame& out) {
  auto first_event_field = next_field_;
  for (auto member : object) {
    auto name = copy_decoded(member.key);
    std::string_view value;
    if (member.value.is_string()) {
      value = copy_decoded(std::string_view{member.value});
    } else {
      // FreeSWITCH sends only strings; keep anything else as its minified JSON text.
      value = copy_decoded(simdjson::minify(member.value));
    }
    if (name == "_body")
      out.event_body_ = value;
    else
      add_field(name, value, out);
  }
  out.fields_ = std::span<const header_field>{first_event_field, next_field_};
  return {};
}

// -- frame_parser ----------------------------------------------------------------------------

frame_parser::frame_parser(parser_limits limits, stream_direction direction)
  : limits_(limits), direction_(direction), json_(std::make_unique<simdjson::dom::parser>()) {
}

frame_parser::~frame_parser() = default;
frame_parser::frame_parser(frame_parser&&) noexcept = default;
frame_parser& frame_parser::operator=(frame_parser&&) noexcept = default;

void frame_parser::reserve_for_append(std::size_t extra) {
  if (begin_ == end_) {
    begin_ = end_ = scan_from_ = 0;
  }
  if (capacity_ >= end_ + extra + json_padding)
    return;
  auto live = end_ - begin_;
  if (begin_ > 0 && capacity_ >= live + extra + json_padding) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, live);
    scan_from_ -= std::min(scan_from_, begin_);
    end_ = live;
    begin_ = 0;
    return;
  }
  auto wanted = std::max({capacity_ * 2, initial_capacity, live + extra + json_padding});
  std::unique_ptr<char[]> grown{new char[wanted]};
  if (live > 0)
    std::memcpy(grown.get(), buffer_.get() + begin_, live);
  scan_from_ -= std::min(scan_from_, begin_);
  buffer_ = std::move(grown);
  capacity_ = wanted;
  end_ = live;
  begin_ = 0;
}

void frame_parser::feed(std::string_view bytes) {
  if (failed_ || bytes.empty())
    return;
  auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<char> frame_parser::prepare(std::size_t min_bytes) {
  reserve_for_append(min_bytes);
  return {buffer_.get() + end_, capacity_ - end_ - json_padding};
}

void frame_parser::commit(std::size_t bytes) {
  if (failed_)
    return;
  end_ += std::min(bytes, capacity_ - json_padding - end_);
}

void frame_parser::reset() noexcept {
  begin_ = end_ = scan_from_ = 0;
  have_header_ = false;
  header_bytes_ = body_bytes_ = 0;
  consumed_ = 0;
  failed_ = false;
}

caf::error frame_parser::fail(caf::error err) {
  failed_ = true;
  // Release the input: a failed link is closed and must not hold megabytes.
  buffer_.reset();
  capacity_ = begin_ = end_ = scan_from_ = 0;
  return err;
}

caf::expected<bool> frame_parser::find_header_end() {
  const char* data = buffer_.get();
  // Blank lines between frames carry nothing; skip them.
  while (begin_ < end_ && data[begin_] == '\n') {
    ++begin_;
    ++consumed_;
  }
  auto from = std::max(scan_from_, begin_);
  const char* cursor = data + from;
  const char* stop = data + end_;
  while (cursor < stop) {
    auto newline = static_cast<const char*>(std::memchr(cursor, '\n', stop - cursor));
    if (newline == nullptr)
      break;
    if (newline + 1 == stop) {
      // A read that ended right after a newline: the next byte decides. Rescan from here.
      cursor = newline;
      break;
    }
    if (newline[1] == '\n') {
      header_bytes_ = static_cast<std::size_t>(newline - (data + begin_));
      if (header_bytes_ > limits_.max_header_bytes)
        return fail(caf::make_error(errc::header_block_too_large,
                                    "header block of " + std::to_string(header_bytes_)
                                      + " bytes exceeds the limit of "
                                      + std::to_string(limits_.max_header_bytes)));
      std::string_view header_text{data + begin_, header_bytes_};
      body_bytes_ = 0;
      std::string_view lines = header_text;
      bool first_line = true;
      std::optional<std::string_view> seen_length;
      while (!lines.empty()) {
        auto eol = lines.find('\n');
        auto line = lines.substr(0, eol);
        lines = eol == std::string_view::npos ? std::string_view{} : lines.substr(eol + 1);
        bool is_command_line = first_line && direction_ == stream_direction::to_freeswitch;
        first_line = false;
        if (is_command_line)
          continue;
        auto field = internal::split_header_line(line);
        if (!field || !internal::iequals(field->name, content_length_name))
          continue;
        if (seen_length && internal::trim(*seen_length) != internal::trim(field->value))
          return fail(caf::make_error(errc::invalid_content_length,
                                      "header block has two different Content-Length values "
                                        + quoted_excerpt(*seen_length) + " and "
                                        + quoted_excerpt(field->value)));
        seen_length = field->value;
        auto length = parse_content_length(field->value, limits_.max_body_bytes,
                                           errc::content_length_too_large,
                                           "a frame header");
        if (!length)
          return fail(std::move(length.error()));
        body_bytes_ = *length;
      }
      have_header_ = true;
      return true;
    }
    cursor = newline + 1;
  }
  scan_from_ = static_cast<std::size_t>(cursor - data);
  if (end_ - begin_ > limits_.max_header_bytes + 1)
    return fail(caf::make_error(errc::header_block_too_large,
                                "no blank line within " + std::to_string(end_ - begin_)
                                  + " bytes; header blocks are limited to "
                                  + std::to_string(limits_.max_header_bytes)
                                  + " bytes (is this an event socket?)"));
  return false;
}

caf::expected<bool> frame_parser::next(frame& out) {
  if (failed_)
    return caf::make_error(errc::parser_failed,
                           "the stream was already found corrupt; close the connection");
  if (!have_header_) {
    auto found = find_header_end();
    if (!found || !*found)
      return found;
  }
  auto frame_bytes = header_bytes_ + 2 + body_bytes_;
  if (end_ - begin_ < frame_bytes)
    return false;
  const char* data = buffer_.get();
  frame_builder builder{std::string_view{data + begin_, header_bytes_},
                        std::string_view{data + begin_ + header_bytes_ + 2, body_bytes_},
                        frame_bytes};
  frame built;
  if (auto err = builder.build(direction_, *json_, built))
    return fail(std::move(err));
  out = std::move(built);
  begin_ += frame_bytes;
  consumed_ += frame_bytes;
  scan_from_ = begin_;
  have_header_ = false;
  if (begin_ == end_)
    begin_ = end_ = scan_from_ = 0;
  return true;
}

caf::error frame_parser::finish() const {
  if (failed_)
    return caf::make_error(errc::parser_failed, "the stream was already found corrupt");
  const char* data = buffer_.get();
  auto pending = end_ - begin_;
  auto stray = std::all_of(data + begin_, data + end_, [](char c) { return c == '\n'; });
  if (pending == 0 || stray)
    return {};
  if (!have_header_)
    return caf::make_error(errc::truncated_frame,
                           "stream ended inside a header block after "
                             + std::to_string(pending) + " bytes (missing blank line)");
  return caf::make_error(errc::truncated_frame,
                         "stream ended after " + std::to_string(pending - header_bytes_ - 2)
                           + " of " + std::to_string(body_bytes_) + " body bytes");
}

} // namespace callgrid::esl
