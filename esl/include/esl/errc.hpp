#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace callgrid::esl {

/// Error codes of the ESL component (category atom "esl"). Every error built from them carries
/// a context string saying what was wrong and where, for example the offending header line.
enum class errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// Content-Length is negative, not a decimal number, or too large to represent.
  invalid_content_length,
  /// Content-Length exceeds the configured frame body limit (16 MiB by default).
  content_length_too_large,
  /// A header block grew beyond its bound without the blank line that ends it.
  header_block_too_large,
  /// A header line has no "Name: value" shape.
  malformed_header,
  /// The stream ended in the middle of a frame (a cut body or a missing blank line).
  truncated_frame,
  /// A text/event-plain or text/event-json body could not be decoded.
  malformed_event,
  /// The parser was already failed by an earlier error; the connection must be closed.
  parser_failed,
  /// A command argument contains a line break or is otherwise unencodable.
  invalid_command,
  /// The outgoing queue of a connection is full; the command was not queued.
  queue_full,
  /// The connection is not (or no longer) established; the command did not reach FreeSWITCH.
  disconnected,
  /// TCP connect failed (refused, unreachable, ...).
  connect_failed,
  /// FreeSWITCH rejected the password.
  auth_failed,
  /// A reply, a connection or a handshake took longer than its deadline.
  timeout,
  /// FreeSWITCH answered a command with "-ERR ...".
  command_failed,
  /// The peer broke the protocol (an unexpected frame where a specific one was required).
  protocol_violation,
};

/// Returns the name of `code`, e.g. "invalid_content_length".
[[nodiscard]] const char* to_string(errc code) noexcept;

/// Renders an ESL error for humans, e.g. "esl.invalid_content_length: Content-Length '-1' ...".
[[nodiscard]] std::string render_error(const caf::error& err);

} // namespace callgrid::esl

CAF_ERROR_CODE_ENUM(callgrid::esl::errc, "esl")
