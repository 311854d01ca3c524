#include "esl/frame.hpp"

#include "internal/text.hpp"

namespace callgrid::esl {

namespace {

std::optional<std::string_view> find_in(std::span<const header_field> fields,
                                        std::string_view name) noexcept {
  for (const auto& field : fields)
    if (internal::iequals(field.name, name))
      return field.value;
  return std::nullopt;
}

} // namespace

const char* to_string(content_type type) noexcept {
  switch (type) {
    case content_type::auth_request: return "auth_request";
    case content_type::command_reply: return "command_reply";
    case content_type::api_response: return "api_response";
    case content_type::event_plain: return "event_plain";
    case content_type::event_json: return "event_json";
    case content_type::event_xml: return "event_xml";
    case content_type::disconnect_notice: return "disconnect_notice";
    case content_type::log_data: return "log_data";
    case content_type::channel_data: return "channel_data";
    case content_type::command: return "command";
    case content_type::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<std::string_view> frame::header(std::string_view name) const noexcept {
  return find_in(headers_, name);
}

std::optional<std::string_view> frame::field(std::string_view name) const noexcept {
  return find_in(fields_, name);
}

} // namespace callgrid::esl
