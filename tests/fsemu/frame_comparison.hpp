#pragma once

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "switch_core.hpp"

/// Helpers shared by the fsemu test suites that replay ESL captures and compare fsemu's frames
/// with the captured FreeSWITCH ones.
///
/// Frames are compared by structure: content types, header names in order, encoding and body
/// shape exactly; values exactly except those that vary by nature between two runs of the same
/// call (UUIDs, times, sequence numbers, durations, session ids, lengths), which are masked.
namespace callgrid::fsemu::testing {

/// 2026-11-26 04:00:00 UTC, in microseconds: the captures' day.
constexpr std::int64_t capture_day_us = 1'795'665'600'000'000;

/// A switch set up like the captured FreeSWITCH (hostname "vm", its addresses, Core-UUID and
/// password), its UUID generator seeded with `seed`. Suites add what else their captures need.
inline switch_config captured_switch_config(std::uint64_t seed) {
  switch_config config;
  config.identity.core_uuid = "7c51b8bd-8432-4f97-a2d6-eaed8705c43e";
  config.identity.hostname = "vm";
  config.identity.switchname = "vm";
  config.identity.ipv4 = "192.0.2.2";
  config.identity.ipv6 = "fd00::2";
  config.password = "ClueCon";
  config.seed = seed;
  return config;
}

/// Hands each client command in `wire` (one or more frames) to `session` at `now`, and after
/// each the events the switch fired, appending what the session sends to `out`; fails the test
/// on a malformed command. `Session` is an inbound_session or an outbound_session_logic.
template <class Session>
void send_commands(std::string_view wire, switch_core& core, Session& session, std::int64_t now,
                   std::string& out) {
  esl::frame_parser parser{esl::parser_limits{}, esl::stream_direction::to_freeswitch};
  parser.feed(wire);
  esl::frame command;
  while (true) {
    auto got = parser.next(command);
    CAF_REQUIRE(got);
    if (!*got)
      break;
    session.handle(command, now, out);
    for (const auto& ev : core.take_events(now))
      session.deliver(ev, out);
  }
}

/// Splits a stream of FreeSWITCH-side bytes into frames; fails the test on malformed output
/// (a wrong Content-Length shows up here).
inline std::vector<std::string> split_frames(const std::string& bytes) {
  esl::frame_parser parser;
  parser.feed(bytes);
  std::vector<std::string> frames;
  std::size_t offset = 0;
  esl::frame f;
  while (true) {
    auto got = parser.next(f);
    CAF_REQUIRE(got);
    if (!*got)
      break;
    frames.push_back(bytes.substr(offset, f.wire_size()));
    offset += f.wire_size();
  }
  CAF_CHECK_EQUAL(offset, bytes.size());
  return frames;
}

inline bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

/// Header names and values in order, duplicates kept.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// "Name: value" lines up to the first blank line; `rest` gets what follows it.
inline header_list parse_block(std::string_view text, std::string_view* rest = nullptr) {
  header_list out;
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.empty())
      break;
    auto colon = line.find(": ");
    if (colon == std::string_view::npos)
      out.emplace_back(std::string{line}, "");
    else
      out.emplace_back(std::string{line.substr(0, colon)}, std::string{line.substr(colon + 2)});
  }
  if (rest != nullptr)
    *rest = text;
  return out;
}

/// The "key":"value" members of a FreeSWITCH JSON event in order (duplicates kept, as the
/// CODEC event has them), values unescaped for \" and \\ only.
inline header_list parse_json_members(std::string_view json) {
  header_list out;
  std::size_t i = 0;
  auto read_string = [&](std::string& into) {
    ++i; // opening quote
    while (i < json.size() && json[i] != '"') {
      if (json[i] == '\\' && i + 1 < json.size()) {
        ++i;
        into += json[i] == 'n' ? '\n' : json[i];
      } else {
        into += json[i];
      }
      ++i;
    }
    ++i; // closing quote
  };
  while (i < json.size()) {
    if (json[i] != '"') {
      ++i;
      continue;
    }
    std::string key;
    std::string value;
    read_string(key);
    if (i < json.size() && json[i] == ':') {
      ++i;
      if (i < json.size() && json[i] == '"')
        read_string(value);
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

/// Whether the value of header `name` varies by nature and is not compared: any UUID (fresh
/// for every call), and lengths, times, sequence numbers, durations and session ids by name
/// (they depend on when and how often things ran, not on what the switch did).
inline bool masked(std::string_view name, std::string_view value) {
  static const std::regex uuid{"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"};
  static const std::regex varying{
    "Content-Length|Event-Date-.*|Event-Sequence|.*-Time|Caller-Channel-Hold-Accum|"
    "variable_session_id|variable_.*(stamp|epoch|sec|msec|usec|duration|_ms)"};
  return std::regex_match(std::string{value}, uuid)
         || std::regex_match(std::string{name}, varying);
}

/// What a comparison leaves out beyond the masked values, for things a capture did that fsemu
/// does not emulate. Empty predicates leave nothing out.
struct header_exclusions {
  /// Headers (by name) left out of both sides: names and values.
  std::function<bool(std::string_view)> drop;
  /// Headers (by name) present on both sides whose values are not compared.
  std::function<bool(std::string_view)> ignore_value;
};

/// The exclusions for an event, chosen by its Event-Name.
using event_exclusions = std::function<header_exclusions(std::string_view event_name)>;

/// Compares two header lists: names in order, values except masked ones (UUIDs inside a
/// value are masked too), leaving out what `exclusions` says.
inline void compare_headers(const header_list& ours_in, const header_list& theirs_in,
                            std::string_view what, const header_exclusions& exclusions = {}) {
  auto filter = [&](const header_list& in) {
    header_list out;
    for (const auto& h : in)
      if (!exclusions.drop || !exclusions.drop(h.first))
        out.push_back(h);
    return out;
  };
  auto ours = filter(ours_in);
  auto theirs = filter(theirs_in);
  std::vector<std::string> our_names;
  std::vector<std::string> their_names;
  for (const auto& h : ours)
    our_names.push_back(h.first);
  for (const auto& h : theirs)
    their_names.push_back(h.first);
  if (our_names != their_names) {
    CAF_ERROR("header names differ in " << what);
    CAF_MESSAGE("ours:   " << caf::deep_to_string(our_names));
    CAF_MESSAGE("theirs: " << caf::deep_to_string(their_names));
    return;
  }
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (masked(ours[i].first, theirs[i].second))
      continue;
    if (exclusions.ignore_value && exclusions.ignore_value(ours[i].first))
      continue;
    static const std::regex uuid{"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"};
    if (std::regex_replace(ours[i].second, uuid, "<uuid>")
        != std::regex_replace(theirs[i].second, uuid, "<uuid>"))
      CAF_ERROR(what << ": " << ours[i].first << " is '" << ours[i].second << "', captured '"
                     << theirs[i].second << "'");
  }
}

inline std::string_view event_name_of(const header_list& headers) {
  for (const auto& h : headers)
    if (h.first == "Event-Name")
      return h.second;
  return {};
}

/// Compares one frame with a captured one by structure: the outer header block, then by
/// Content-Type a plain event's headers and body, an XML event's headers and element layout, a
/// `status` reply with its numbers masked (uptime, counters, idle CPU vary), or any other body
/// with UUIDs and the created columns of a channel listing masked. `plain_event_exclusions`
/// picks, by Event-Name, what a plain event's header comparison leaves out.
inline void compare_frames(const std::string& ours, const std::string& theirs,
                           const event_exclusions& plain_event_exclusions = {}) {
  std::string_view our_rest;
  std::string_view their_rest;
  auto our_outer = parse_block(ours, &our_rest);
  auto their_outer = parse_block(theirs, &their_rest);
  compare_headers(our_outer, their_outer, "the outer header block");
  std::string type;
  for (const auto& h : their_outer)
    if (h.first == "Content-Type")
      type = h.second;
  if (type == "text/event-plain") {
    std::string_view our_body;
    std::string_view their_body;
    auto our_event = parse_block(our_rest, &our_body);
    auto their_event = parse_block(their_rest, &their_body);
    auto name = std::string{event_name_of(their_event)};
    compare_headers(our_event, their_event, "event " + name,
                    plain_event_exclusions ? plain_event_exclusions(name) : header_exclusions{});
    static const std::regex digits{"[0-9]+"};
    static const std::regex uuid{"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"};
    auto mask = [&](std::string_view text) {
      auto out = std::regex_replace(std::string{text}, uuid, "<uuid>");
      out = std::regex_replace(out, digits, "0");
      return std::regex_replace(out, std::regex{"(minute|second|millisecond|microsecond)s\\b"},
                                "$1");
    };
    CAF_CHECK_EQUAL(mask(our_body), mask(their_body));
  } else if (type == "text/event-xml") {
    // One "    <Name>value</Name>" line per header; the other lines are the frame's shape.
    auto parse_xml = [](std::string_view text, std::string& shape) {
      static const std::regex element{"^\\s*<([^>/]+)>(.*)</\\1>$"};
      header_list out;
      std::size_t pos = 0;
      while (pos < text.size()) {
        auto eol = text.find('\n', pos);
        auto line = std::string{text.substr(pos, eol - pos)};
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        std::smatch m;
        if (std::regex_match(line, m, element))
          out.emplace_back(m[1].str(), m[2].str());
        else
          shape += line + "\n";
      }
      return out;
    };
    std::string our_shape;
    std::string their_shape;
    auto our_event = parse_xml(our_rest, our_shape);
    auto their_event = parse_xml(their_rest, their_shape);
    auto name = std::string{event_name_of(their_event)};
    compare_headers(our_event, their_event, "xml event " + name);
    CAF_CHECK_EQUAL(our_shape, their_shape);
  } else if (starts_with(their_rest, "UP ")) {
    // `status`: uptime, counters and the idle CPU vary.
    static const std::regex digits{"[0-9]+"};
    static const std::regex units{"(year|day|hour|minute|second|millisecond|microsecond)s\\b"};
    auto mask = [&](std::string_view text) {
      return std::regex_replace(std::regex_replace(std::string{text}, digits, "0"), units, "$1");
    };
    CAF_CHECK_EQUAL(mask(our_rest), mask(their_rest));
  } else {
    // UUIDs, and the created / created_epoch columns of a channel listing, vary.
    static const std::regex uuid{"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"};
    static const std::regex created{"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8},[0-9]{10}"};
    auto mask = [&](std::string_view text) {
      return std::regex_replace(std::regex_replace(std::string{text}, uuid, "<uuid>"), created,
                                "<created>");
    };
    CAF_CHECK_EQUAL(mask(our_rest), mask(their_rest));
  }
}

/// Headers the A/B legs of capture 04 carry only because of uuid_broadcast / uuid_send_dtmf,
/// which fsemu does not emulate: left out of both sides. The outbound captures' legs carry
/// some of them too.
inline bool from_broadcast_or_dtmf(std::string_view name) {
  static const std::vector<std::string_view> names{
    "variable_current_application_data",   "variable_last_dtmf_duration",
    "variable_playback_last_offset_pos",   "variable_playback_seconds",
    "variable_playback_ms",                "variable_playback_samples",
    "variable_current_application_response", "variable_last_arg"};
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// Headers present on both sides whose values differ only because of broadcast/DTMF.
inline bool value_from_broadcast_or_dtmf(std::string_view name) {
  return name == "variable_current_application" || name == "variable_digits_dialed"
         || name == "variable_last_app";
}

/// For compare_frames: CHANNEL_HANGUP_COMPLETE (which lists the channel's variables) leaves
/// out the broadcast/DTMF headers above; other events leave out nothing.
inline header_exclusions broadcast_or_dtmf_on_hangup(std::string_view event_name) {
  if (event_name != "CHANNEL_HANGUP_COMPLETE")
    return {};
  return {from_broadcast_or_dtmf, value_from_broadcast_or_dtmf};
}

} // namespace callgrid::fsemu::testing
