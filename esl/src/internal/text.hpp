#pragma once

#include <optional>
#include <string_view>

#include "esl/ascii.hpp"
#include "esl/frame.hpp"

/// Small text helpers shared by the ESL parser and encoder. Private to the esl library.
namespace callgrid::esl::internal {

using esl::iequals;

/// The value of an ASCII hex digit, or -1.
[[nodiscard]] inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// `text` without leading and trailing spaces, tabs and carriage returns.
[[nodiscard]] inline std::string_view trim(std::string_view text) noexcept {
  constexpr std::string_view blanks = " \t\r";
  auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(blanks);
  return text.substr(first, last - first + 1);
}

/// Splits "Name: value" at the first colon; one space after it is dropped, a trailing '\r'
/// too. Returns nothing when there is no colon or the name is empty.
[[nodiscard]] inline std::optional<header_field> split_header_line(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::nullopt;
  auto value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  return header_field{line.substr(0, colon), value};
}

/// Maps a Content-Type value to its `content_type`; anything else is `unknown`.
[[nodiscard]] inline content_type classify(std::string_view type) noexcept {
  type = trim(type);
  if (type == "text/event-plain")
    return content_type::event_plain;
  if (type == "text/event-json")
    return content_type::event_json;
  if (type == "command/reply")
    return content_type::command_reply;
  if (type == "api/response")
    return content_type::api_response;
  if (type == "auth/request")
    return content_type::auth_request;
  if (type == "text/disconnect-notice")
    return content_type::disconnect_notice;
  if (type == "log/data")
    return content_type::log_data;
  if (type == "text/event-xml")
    return content_type::event_xml;
  return content_type::unknown;
}

} // namespace callgrid::esl::internal
