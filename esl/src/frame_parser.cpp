#include "esl/frame_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>

#include <simdjson.h>

#include "esl/errc.hpp"
#include "esl/percent_codec.hpp"
#include "internal/decode_scratch.hpp"
#include "internal/flat_json.hpp"
#include "internal/frame_block.hpp"
#include "internal/line_scanner.hpp"
#include "internal/line_bits.hpp"
#include "internal/plain_event.hpp"
#include "internal/text.hpp"

namespace callgrid::esl {

namespace {

constexpr std::size_t initial_capacity = 64 * 1024;
// simdjson reads up to this many bytes past the end of its input; the stream buffer always
// keeps that much slack so JSON bodies are parsed in place.
constexpr std::size_t json_padding = simdjson::SIMDJSON_PADDING;

constexpr std::string_view content_length_name = "Content-Length";

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

/// The body length a header block announces (0 without Content-Length). Two different
/// Content-Length values are refused: a peer that sends both is corrupt or hostile.
caf::expected<std::size_t> content_length_of(std::string_view header_text,
                                             stream_direction direction, std::size_t limit) {
  std::size_t body_bytes = 0;
  std::optional<std::string_view> seen_length;
  bool first_line = true;
  while (!header_text.empty()) {
    auto eol = header_text.find('\n');
    auto line = header_text.substr(0, eol);
    header_text = eol == std::string_view::npos ? std::string_view{} : header_text.substr(eol + 1);
    bool is_command_line = first_line && direction == stream_direction::to_freeswitch;
    first_line = false;
    if (is_command_line)
      continue;
    auto field = internal::split_header_line(line);
    if (!field || !internal::iequals(field->name, content_length_name))
      continue;
    if (seen_length && internal::trim(*seen_length) != internal::trim(field->value))
      return caf::make_error(errc::invalid_content_length,
                             "header block has two different Content-Length values "
                               + quoted_excerpt(*seen_length) + " and "
                               + quoted_excerpt(field->value));
    seen_length = field->value;
    auto length = parse_content_length(field->value, limit, errc::content_length_too_large,
                                       "a frame header");
    if (!length)
      return length;
    body_bytes = *length;
  }
  return body_bytes;
}

} // namespace

// -- frame_builder ---------------------------------------------------------------------------

/// Builds one `frame`. First it reads the wire bytes (still in the stream buffer) into
/// `decode_scratch`: one `field_ref` per header or event field, pointing either into the wire
/// bytes or into `scratch.decoded` (percent-decoded or JSON-unescaped copies). Then it
/// allocates the frame's single block (field table, wire bytes, decoded bytes) and turns the
/// references into string_views into that block. The scratch is reused across frames, so a
/// frame costs exactly one allocation. Lives only inside `frame_parser::next`.
class frame_builder {
public:
  frame_builder(std::string_view header_text, std::string_view body, std::size_t wire_size,
                internal::decode_scratch& scratch)
    : header_text_(header_text), body_(body), wire_size_(wire_size), scratch_(scratch) {
  }

  caf::error build(stream_direction direction, simdjson::dom::parser& json, frame& out);

private:
  using text_ref = internal::text_ref;

  /// The text `ref` names, while the wire bytes are still in the stream buffer.
  std::string_view view(const text_ref& ref) const noexcept {
    if (ref.decoded)
      return decoded_text().substr(ref.offset, ref.length);
    return ref.offset < header_text_.size()
             ? header_text_.substr(ref.offset, ref.length)
             : body_.substr(ref.offset - header_text_.size(), ref.length);
  }

  /// A reference to `length` wire bytes at `offset` of the body.
  text_ref body_ref(std::size_t offset, std::size_t length) const noexcept {
    return text_ref{static_cast<std::uint32_t>(header_text_.size() + offset),
                    static_cast<std::uint32_t>(length), false};
  }

  /// The decoded copies of values so far: percent-decoded ones (plain events, the `connect`
  /// reply) or JSON-unescaped ones; a frame has one kind or the other.
  std::string_view decoded_text() const noexcept {
    return percent_decoding_ ? std::string_view{scratch_.percent_decoded.data(), decoded_end_}
                             : std::string_view{scratch_.decoded};
  }

  /// Makes room in the scratch for percent-decoding up to `bytes` of values (decoding never
  /// grows a value), so that each value is decoded without resizing.
  void begin_decoding(std::size_t bytes) {
    percent_decoding_ = true;
    decoded_end_ = 0;
    scratch_.percent_decoded.reserve(bytes);
  }

  /// The value of a field, percent-decoded into the scratch if it needs it (after
  /// begin_decoding).
  text_ref decoded_value(text_ref raw, bool has_percent) {
    if (!has_percent)
      return raw;
    auto encoded = view(raw);
    auto first = decoded_end_;
    auto length = percent_decode(encoded, scratch_.percent_decoded.data() + first);
    decoded_end_ += length;
    return text_ref{static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(length), true};
  }

  /// The fields a plain event is routed by, noted while it is checked.
  enum class routing_field : std::uint8_t { event_name, unique_id, job_uuid };
  static constexpr std::size_t routing_fields = 3;

  caf::error read_outer(stream_direction direction);
  caf::error read_plain_event();
  caf::error malformed_plain_line(std::size_t begin, std::size_t end) const;
  /// For a line of the event called exactly Content-Length, the length it gives; nothing for
  /// other lines of that name length.
  caf::expected<std::optional<std::size_t>> inner_content_length(std::size_t begin,
                                                                 std::size_t colon,
                                                                 std::size_t end) const;
  void note_routing_field(routing_field which, std::string_view name, std::size_t begin,
                          std::size_t colon, std::string_view lines, std::size_t at);
  caf::error read_json_event(simdjson::dom::parser& json);
  void read_channel_data();
  void materialize(frame& out);
  template <class Resolve>
  void materialize_plain(frame& out, const Resolve& resolve);
  /// Sets the frame's event name, Unique-ID and Job-UUID from the first fields so named.
  static void note_routing_fields(frame& out, std::span<const header_field> fields);

  std::string_view header_text_;
  std::string_view body_;
  std::size_t wire_size_;
  internal::decode_scratch& scratch_;
  std::size_t outer_count_ = 0;
  std::size_t decoded_end_ = 0;
  bool percent_decoding_ = false;
  text_ref command_line_;
  text_ref event_body_;
  /// A plain event: where its field lines end in the body, where its routing fields' values
  /// are, and whether one of them needs decoding.
  std::size_t plain_lines_end_ = 0;
  std::size_t plain_line_count_ = 0;
  std::array<std::optional<text_ref>, routing_fields> routing_{};
  bool decode_plain_now_ = false;
  /// Which outer header is the first Content-Type (`npos`: none, or not looked for).
  std::size_t content_type_index_ = internal::npos;
  content_type type_ = content_type::unknown;
};

caf::error frame_builder::read_outer(stream_direction direction) {
  caf::error err;
  bool first_line = true;
  std::size_t line_number = 0;
  internal::scan_lines(header_text_, [&](const internal::scanned_line& line) {
    ++line_number;
    auto text = header_text_.substr(line.begin, line.end - line.begin);
    if (first_line && direction == stream_direction::to_freeswitch) {
      first_line = false;
      auto trimmed = internal::trim(text);
      command_line_ = text_ref{static_cast<std::uint32_t>(trimmed.data() - header_text_.data()),
                               static_cast<std::uint32_t>(trimmed.size()), false};
      return true;
    }
    first_line = false;
    auto field = internal::split_header_line(text);
    if (!field) {
      err = caf::make_error(errc::malformed_header,
                            "header line " + std::to_string(line_number) + " "
                              + quoted_excerpt(text) + " has no 'Name: value' shape");
      return false;
    }
    auto at = [&](std::string_view part) {
      return text_ref{static_cast<std::uint32_t>(part.data() - header_text_.data()),
                      static_cast<std::uint32_t>(part.size()), false};
    };
    scratch_.fields.push_back({at(field->name), at(field->value)});
    return true;
  });
  outer_count_ = scratch_.fields.size();
  return err;
}

caf::error frame_builder::read_plain_event() {
  // The lines are checked and indexed 64 bytes at a time (internal::index_lines): each must be
  // "Name: value"; a blank line ends them and its body follows. Values are not decoded here
  // (see `frame`): only the inner Content-Length and the three names every reader needs are
  // read, from the index.
  auto indexed = internal::index_lines(body_, scratch_.lines);
  plain_line_count_ = indexed.lines;
  using stop = internal::line_index_result::stop;
  plain_lines_end_ = indexed.why == stop::end_of_text ? body_.size() : indexed.at;
  std::size_t rest = indexed.why == stop::blank_line ? indexed.at + 1 : body_.size();
  std::span<const internal::line_ref> index{scratch_.lines.data(), plain_line_count_};
  auto lines = body_.substr(0, plain_lines_end_);
  std::optional<std::size_t> inner_length;
  // Only the lines whose name has the length of one of the four are looked at, picked four at
  // a time (a few in ten lines).
  constexpr std::uint64_t wanted_lengths = std::uint64_t{1} << content_length_name.size()
                                           | std::uint64_t{1} << 10 | std::uint64_t{1} << 9
                                           | std::uint64_t{1} << 8;
  if (scratch_.selected_lines.size() < index.size())
    scratch_.selected_lines.resize(std::max(index.size(), 2 * scratch_.selected_lines.size()));
  auto selected = internal::select_lines_by_length(index, wanted_lengths,
                                                   scratch_.selected_lines.data());
  for (std::size_t pick = 0; pick < selected; ++pick) {
    std::size_t at = scratch_.selected_lines[pick];
    std::size_t begin = index[at].begin;
    std::size_t colon = index[at].colon;
    switch (colon - begin) {
      case content_length_name.size(): {
        auto length = inner_content_length(begin, colon, internal::line_end(lines, index, at));
        if (!length)
          return std::move(length.error());
        if (*length)
          inner_length = **length;
        break;
      }
      case 10:
        note_routing_field(routing_field::event_name, "Event-Name", begin, colon, lines, at);
        break;
      case 9:
        note_routing_field(routing_field::unique_id, "Unique-ID", begin, colon, lines, at);
        break;
      case 8:
        note_routing_field(routing_field::job_uuid, "Job-UUID", begin, colon, lines, at);
        break;
      default:
        break;
    }
  }
  if (indexed.why == stop::nameless_line) {
    auto end = body_.find('\n', indexed.at);
    return malformed_plain_line(indexed.at, end == std::string_view::npos ? body_.size() : end);
  }
  auto available = body_.size() - std::min(rest, body_.size());
  auto length = inner_length.value_or(available);
  if (length > available)
    return caf::make_error(errc::malformed_event,
                           "event declares a body of " + std::to_string(length)
                             + " bytes but only " + std::to_string(available) + " follow");
  event_body_ = body_ref(rest, length);
  return {};
}

caf::error frame_builder::malformed_plain_line(std::size_t begin, std::size_t end) const {
  // Rare: the line's number is worked out only here.
  auto line_number = 1 + std::count(body_.begin(), body_.begin() + begin, '\n');
  return caf::make_error(errc::malformed_event,
                         "text/event-plain line " + std::to_string(line_number) + " "
                           + quoted_excerpt(body_.substr(begin, end - begin))
                           + " has no 'Name: value' shape");
}

caf::expected<std::optional<std::size_t>>
frame_builder::inner_content_length(std::size_t begin, std::size_t colon, std::size_t end) const {
  if (body_.substr(begin, colon - begin) != content_length_name)
    return std::optional<std::size_t>{};
  auto value = internal::line_value(body_, colon, end);
  std::string decoded;
  if (value.find('%') != std::string_view::npos) {
    decoded = percent_decode(value);
    value = decoded;
  }
  auto length = parse_content_length(value, body_.size(), errc::malformed_event, "an event body");
  if (!length)
    return std::move(length.error());
  return std::optional<std::size_t>{*length};
}

void frame_builder::note_routing_field(routing_field which, std::string_view name,
                                       std::size_t begin, std::size_t colon,
                                       std::string_view lines, std::size_t at) {
  auto& ref = routing_[static_cast<std::size_t>(which)];
  if (ref || body_.substr(begin, colon - begin) != name)
    return; // the first one counts, as for field()
  std::span<const internal::line_ref> index{scratch_.lines.data(), plain_line_count_};
  auto value = internal::line_value(body_, colon, internal::line_end(lines, index, at));
  if (value.find('%') != std::string_view::npos)
    decode_plain_now_ = true; // rare: the routing fields come from the decoded table
  ref = body_ref(static_cast<std::size_t>(value.data() - body_.data()), value.size());
}

caf::error frame_builder::read_json_event(simdjson::dom::parser& json) {
  auto decoded_before = scratch_.decoded.size();
  auto add_member = [&](text_ref key, text_ref value) {
    if (view(key) == "_body") {
      event_body_ = value;
    } else {
      scratch_.fields.push_back({key, value});
    }
  };
  auto shift = [&](text_ref ref) {
    // parse_flat_json reports offsets into the body; field refs count from the header start.
    if (!ref.decoded)
      ref.offset += static_cast<std::uint32_t>(header_text_.size());
    return ref;
  };
  if (internal::parse_flat_json(body_, scratch_.decoded, [&](text_ref key, text_ref value) {
        add_member(shift(key), shift(value));
      }))
    return {};
  // Not the flat shape FreeSWITCH writes: let the full parser decide (and explain errors).
  scratch_.fields.resize(outer_count_);
  scratch_.decoded.resize(decoded_before);
  event_body_ = text_ref{};
  simdjson::dom::object object;
  auto parsed = json.parse(body_.data(), body_.size(), false).get(object);
  if (parsed != simdjson::SUCCESS)
    return caf::make_error(errc::malformed_event,
                           std::string{"text/event-json body is not a JSON object: "}
                             + simdjson::error_message(parsed));
  auto copy = [&](std::string_view text) {
    auto first = scratch_.decoded.size();
    scratch_.decoded.append(text);
    return text_ref{static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(text.size()),
                    true};
  };
  for (auto member : object) {
    auto key = copy(member.key);
    // FreeSWITCH sends only strings; anything else is kept as its minified JSON text.
    auto value = member.value.is_string() ? copy(std::string_view{member.value})
                                          : copy(simdjson::minify(member.value));
    add_member(key, value);
  }
  return {};
}

void frame_builder::read_channel_data() {
  // The `connect` reply is an event serialised into the header block: every value is
  // percent-encoded, so the event view decodes each one.
  begin_decoding(header_text_.size());
  for (std::size_t i = 0; i < outer_count_; ++i) {
    auto field = scratch_.fields[i];
    auto raw = view(field.value);
    bool has_percent = raw.find('%') != std::string_view::npos;
    scratch_.fields.push_back({field.name, decoded_value(field.value, has_percent)});
  }
}

caf::error frame_builder::build(stream_direction direction, simdjson::dom::parser& json,
                                frame& out) {
  scratch_.fields.clear();
  scratch_.decoded.clear();
  if (auto err = read_outer(direction))
    return err;
  if (direction == stream_direction::to_freeswitch) {
    type_ = content_type::command;
  } else {
    std::string_view type_text;
    bool has_event_name = false;
    for (std::size_t i = 0; i < outer_count_; ++i) {
      auto name = view(scratch_.fields[i].name);
      if (internal::iequals(name, "Content-Type")) {
        if (content_type_index_ == internal::npos)
          content_type_index_ = i;
        if (type_text.empty())
          type_text = view(scratch_.fields[i].value);
      } else if (name == "Event-Name") {
        has_event_name = true;
      }
    }
    type_ = internal::classify(type_text);
    if (type_ == content_type::command_reply && has_event_name)
      type_ = content_type::channel_data;
  }
  caf::error err;
  switch (type_) {
    case content_type::event_plain:
      err = read_plain_event();
      break;
    case content_type::event_json:
      err = read_json_event(json);
      break;
    case content_type::channel_data:
      read_channel_data();
      break;
    default:
      break;
  }
  if (err)
    return err;
  materialize(out);
  return {};
}

void frame_builder::materialize(frame& out) {
  // One block: the field table, a plain event's line index, the wire bytes, decoded values.
  static_assert(sizeof(header_field) % alignof(internal::line_ref) == 0);
  auto count = scratch_.fields.size();
  auto table_bytes = count * sizeof(header_field);
  auto index_bytes = plain_line_count_ * sizeof(internal::line_ref);
  auto raw_bytes = header_text_.size() + body_.size();
  auto decoded_bytes = decoded_text();
  auto total = table_bytes + index_bytes + raw_bytes + decoded_bytes.size();
  auto [block, size_class] = internal::take_frame_block(total);
  out.block_ = std::unique_ptr<char[], frame_block_release>{block, {size_class}};
  char* base = out.block_.get();
  auto* index = reinterpret_cast<internal::line_ref*>(base + table_bytes);
  char* raw = base + table_bytes + index_bytes;
  char* decoded = raw + raw_bytes;
  if (index_bytes != 0)
    std::memcpy(index, scratch_.lines.data(), index_bytes);
  if (!header_text_.empty())
    std::memcpy(raw, header_text_.data(), header_text_.size());
  if (!body_.empty())
    std::memcpy(raw + header_text_.size(), body_.data(), body_.size());
  if (!decoded_bytes.empty())
    std::memcpy(decoded, decoded_bytes.data(), decoded_bytes.size());
  out.plain_index_ = index;
  out.plain_line_count_ = plain_line_count_;
  const char* const bases[2] = {raw, decoded}; // by text_ref::decoded, without a branch
  auto resolve = [&bases](const text_ref& ref) {
    return std::string_view{bases[ref.decoded ? 1 : 0] + ref.offset, ref.length};
  };
  auto* table = reinterpret_cast<header_field*>(base);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& field = scratch_.fields[i];
    table[i] = header_field{resolve(field.name), resolve(field.value)};
  }
  out.type_ = type_;
  out.wire_size_ = wire_size_;
  out.body_ = std::string_view{raw + header_text_.size(), body_.size()};
  out.headers_ = std::span<const header_field>{table, outer_count_};
  out.fields_ = std::span<const header_field>{table + outer_count_, count - outer_count_};
  out.event_body_ = resolve(event_body_);
  out.command_line_ = resolve(command_line_);
  out.content_type_text_ = content_type_index_ != internal::npos
                             ? table[content_type_index_].value
                             : out.header("Content-Type").value_or(std::string_view{});
  if (type_ == content_type::event_plain)
    materialize_plain(out, resolve);
  else
    note_routing_fields(out, out.fields_);
  if (type_ == content_type::command_reply) {
    out.reply_text_ = out.header("Reply-Text").value_or(std::string_view{});
    out.job_uuid_ = out.header("Job-UUID").value_or(std::string_view{});
  } else if (type_ == content_type::channel_data) {
    out.reply_text_ = out.field("Reply-Text").value_or(std::string_view{});
  }
}

template <class Resolve>
void frame_builder::materialize_plain(frame& out, const Resolve& resolve) {
  out.plain_lines_ = resolve(body_ref(0, plain_lines_end_));
  if (decode_plain_now_) {
    const auto& decoded = *out.decoded_.publish(internal::decode_plain_fields(
      out.plain_lines_, {out.plain_index_, out.plain_line_count_}));
    note_routing_fields(out, decoded.fields);
    return;
  }
  auto value = [&](routing_field which) {
    const auto& ref = routing_[static_cast<std::size_t>(which)];
    return ref ? resolve(*ref) : std::string_view{};
  };
  out.event_name_ = value(routing_field::event_name);
  out.unique_id_ = value(routing_field::unique_id);
  out.job_uuid_ = value(routing_field::job_uuid);
}

void frame_builder::note_routing_fields(frame& out, std::span<const header_field> fields) {
  bool have_name = false;
  bool have_id = false;
  bool have_job = false;
  auto note = [](bool& have, std::string_view& into, std::string_view value) {
    if (!have) {
      into = value;
      have = true;
    }
  };
  for (const auto& field : fields) {
    const auto& name = field.name;
    switch (name.size()) {
      case 10:
        if (name == "Event-Name")
          note(have_name, out.event_name_, field.value);
        break;
      case 9:
        if (name == "Unique-ID")
          note(have_id, out.unique_id_, field.value);
        break;
      case 8:
        if (name == "Job-UUID")
          note(have_job, out.job_uuid_, field.value);
        break;
      default:
        break;
    }
  }
}

// -- frame_parser ----------------------------------------------------------------------------

frame_parser::frame_parser(parser_limits limits, stream_direction direction)
  : limits_(limits), direction_(direction), json_(std::make_unique<simdjson::dom::parser>()),
    scratch_(std::make_unique<internal::decode_scratch>()) {
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
      auto length = content_length_of(std::string_view{data + begin_, header_bytes_},
                                      direction_, limits_.max_body_bytes);
      if (!length)
        return fail(std::move(length.error()));
      body_bytes_ = *length;
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
  for (;;) {
    auto frame_bytes = header_bytes_ + 2 + body_bytes_;
    if (end_ - begin_ < frame_bytes)
      return false;
    const char* data = buffer_.get();
    std::string_view header{data + begin_, header_bytes_};
    std::string_view body{data + begin_ + header_bytes_ + 2, body_bytes_};
    bool skip = is_skipped(header, body);
    if (!skip) {
      frame_builder builder{header, body, frame_bytes, *scratch_};
      frame built;
      if (auto err = builder.build(direction_, *json_, built))
        return fail(std::move(err));
      out = std::move(built);
    }
    begin_ += frame_bytes;
    consumed_ += frame_bytes;
    scan_from_ = begin_;
    have_header_ = false;
    if (begin_ == end_)
      begin_ = end_ = scan_from_ = 0;
    if (!skip)
      return true;
    ++skipped_;
    auto found = find_header_end();
    if (!found || !*found)
      return found;
  }
}

void frame_parser::skip_plain_events(std::vector<std::string> names) {
  skipped_first_lines_.clear();
  for (auto& name : names)
    skipped_first_lines_.push_back("Event-Name: " + name);
}

void frame_parser::skip_plain_completions(std::vector<std::string> applications) {
  skipped_completions_ = std::move(applications);
}

namespace {

/// The value of the `Application` line of a completion, from the lines that end its header
/// block (`body`): FreeSWITCH writes Application, Application-Data, Application-Response and
/// Application-UUID last, then the blank line. nullopt when the block does not end with a
/// blank line (an event with a body of its own) or a line of another name comes first.
std::optional<std::string_view> trailing_application(std::string_view body) noexcept {
  constexpr std::string_view family = "Application";
  constexpr std::string_view prefix = "Application: ";
  std::string_view rest = body;
  if (rest.ends_with("\r\n\r\n"))
    rest.remove_suffix(4);
  else if (rest.ends_with("\n\n"))
    rest.remove_suffix(2);
  else
    return std::nullopt;
  for (int lines = 0; lines < 8 && !rest.empty(); ++lines) {
    auto newline = rest.rfind('\n');
    auto line = newline == std::string_view::npos ? rest : rest.substr(newline + 1);
    if (line.ends_with('\r'))
      line.remove_suffix(1);
    if (!line.starts_with(family))
      return std::nullopt;
    if (line.starts_with(prefix))
      return line.substr(prefix.size());
    if (newline == std::string_view::npos)
      return std::nullopt;
    rest = rest.substr(0, newline);
  }
  return std::nullopt;
}

} // namespace

bool frame_parser::is_skipped(std::string_view header, std::string_view body) const noexcept {
  // FreeSWITCH writes Event-Name first: a body that does not start with it (a reply has none)
  // is not looked at further.
  if ((skipped_first_lines_.empty() && skipped_completions_.empty())
      || direction_ != stream_direction::from_freeswitch || !body.starts_with("Event-Name: ")
      || header.find("text/event-plain") == std::string_view::npos)
    return false;
  auto first_line = body.substr(0, body.find('\n'));
  if (first_line.ends_with('\r'))
    first_line.remove_suffix(1);
  for (const auto& skipped : skipped_first_lines_)
    if (first_line == skipped)
      return true;
  if (skipped_completions_.empty() || first_line != "Event-Name: CHANNEL_EXECUTE_COMPLETE")
    return false;
  auto application = trailing_application(body);
  return application
         && std::find(skipped_completions_.begin(), skipped_completions_.end(), *application)
              != skipped_completions_.end();
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
