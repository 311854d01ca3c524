#include "esl/errc.hpp"

#include <caf/message.hpp>

namespace callgrid::esl {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_content_length: return "invalid_content_length";
    case errc::content_length_too_large: return "content_length_too_large";
    case errc::header_block_too_large: return "header_block_too_large";
    case errc::malformed_header: return "malformed_header";
    case errc::truncated_frame: return "truncated_frame";
    case errc::malformed_event: return "malformed_event";
    case errc::parser_failed: return "parser_failed";
    case errc::invalid_command: return "invalid_command";
    case errc::queue_full: return "queue_full";
    case errc::disconnected: return "disconnected";
    case errc::connect_failed: return "connect_failed";
    case errc::auth_failed: return "auth_failed";
    case errc::timeout: return "timeout";
    case errc::command_failed: return "command_failed";
    case errc::protocol_violation: return "protocol_violation";
  }
  return "unknown";
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "no error";
  std::string out;
  if (err.category() == caf::atom("esl")) {
    out = "esl.";
    out += to_string(static_cast<errc>(err.code()));
  } else {
    out = caf::to_string(err);
    return out;
  }
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace callgrid::esl
