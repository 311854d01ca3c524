#include "esl/command.hpp"

#include <cstring>
#include <span>
#include <string>

#include "esl/errc.hpp"

namespace callgrid::esl {

namespace {

bool has_line_break(std::string_view text) noexcept {
  // Two memchr, not find_first_of (which calls memchr on "\r\n" once per byte of the text).
  return std::memchr(text.data(), '\n', text.size()) != nullptr
         || std::memchr(text.data(), '\r', text.size()) != nullptr;
}

caf::error reject_line_break(std::string_view what, std::string_view text) {
  if (!has_line_break(text))
    return {};
  return caf::make_error(errc::invalid_command,
                         std::string{what} + " contains a line break, which would end the "
                                             "command early: '" + std::string{text} + "'");
}

caf::error reject_empty(std::string_view what, std::string_view text) {
  if (!text.empty())
    return {};
  return caf::make_error(errc::invalid_command, std::string{what} + " must not be empty");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += '\n';
}

/// The bytes of one "name: value\n" header.
constexpr std::size_t header_size(std::string_view name, std::string_view value) noexcept {
  return name.size() + 2 + value.size() + 1;
}

/// A sendmsg's parts as views: of a `sendmsg_args`, or of the arguments of `command::execute`
/// and `command::hangup`.
struct sendmsg_parts {
  std::string_view uuid;
  call_command command = call_command::execute;
  std::string_view app_name;
  std::string_view app_arg;
  bool arg_as_body = false;
  int loops = 0;
  bool event_lock = false;
  std::string_view event_uuid;
  std::string_view hangup_cause;
  std::span<const std::pair<std::string, std::string>> extra_headers;
};

/// An upper bound of a sendmsg's length, so that it is built in one allocation.
std::size_t sendmsg_size(const sendmsg_parts& parts) noexcept {
  std::size_t size = 8 + 1 + parts.uuid.size() + 1; // "sendmsg <uuid>\n"
  size += header_size("call-command", "execute");
  size += header_size("execute-app-name", parts.app_name);
  size += header_size("execute-app-arg", parts.app_arg) + header_size("loops", "2147483647");
  size += header_size("hangup-cause", parts.hangup_cause);
  size += header_size("event-lock", "true") + header_size("Event-UUID", parts.event_uuid);
  for (const auto& [name, value] : parts.extra_headers)
    size += header_size(name, value);
  size += header_size("content-type", "text/plain") + header_size("content-length", "")
          + 20 + 1 + parts.app_arg.size(); // the body
  return size;
}

/// A sendmsg's bytes, or why its parts would break the framing.
caf::expected<std::string> encode_sendmsg(const sendmsg_parts& args) {
  if (auto err = reject_line_break("the channel UUID", args.uuid))
    return err;
  std::string wire;
  wire.reserve(sendmsg_size(args));
  wire += "sendmsg";
  if (!args.uuid.empty()) {
    wire += ' ';
    wire += args.uuid;
  }
  wire += '\n';
  bool body = false;
  switch (args.command) {
    case call_command::execute:
      if (auto err = reject_empty("execute-app-name", args.app_name))
        return err;
      if (auto err = reject_line_break("execute-app-name", args.app_name))
        return err;
      append_header(wire, "call-command", "execute");
      append_header(wire, "execute-app-name", args.app_name);
      body = args.arg_as_body || has_line_break(args.app_arg);
      if (!body && !args.app_arg.empty())
        append_header(wire, "execute-app-arg", args.app_arg);
      if (args.loops > 0)
        append_header(wire, "loops", std::to_string(args.loops));
      break;
    case call_command::hangup:
      if (auto err = reject_line_break("hangup-cause", args.hangup_cause))
        return err;
      append_header(wire, "call-command", "hangup");
      if (!args.hangup_cause.empty())
        append_header(wire, "hangup-cause", args.hangup_cause);
      break;
    case call_command::unicast:
      append_header(wire, "call-command", "unicast");
      break;
  }
  if (args.event_lock)
    append_header(wire, "event-lock", "true");
  if (!args.event_uuid.empty()) {
    if (auto err = reject_line_break("Event-UUID", args.event_uuid))
      return err;
    append_header(wire, "Event-UUID", args.event_uuid);
  }
  for (const auto& [name, value] : args.extra_headers) {
    if (auto err = reject_line_break("header " + name, name + value))
      return err;
    if (auto err = reject_empty("a header name", name))
      return err;
    append_header(wire, name, value);
  }
  if (body) {
    append_header(wire, "content-type", "text/plain");
    append_header(wire, "content-length", std::to_string(args.app_arg.size()));
    wire += '\n';
    wire += args.app_arg;
  } else {
    wire += '\n';
  }
  return wire;
}

} // namespace

const char* to_string(event_format format) noexcept {
  switch (format) {
    case event_format::plain: return "plain";
    case event_format::json: return "json";
    case event_format::xml: return "xml";
  }
  return "plain";
}

command::command(std::string wire, reply_kind reply, std::string summary, std::string job_uuid)
  : wire_(std::move(wire)), summary_(std::move(summary)), job_uuid_(std::move(job_uuid)),
    reply_(reply) {
}

caf::expected<command> command::auth(std::string_view password) {
  if (auto err = reject_empty("the ESL password", password))
    return err;
  if (has_line_break(password) || password.find(' ') != std::string_view::npos)
    return caf::make_error(errc::invalid_command,
                           "the ESL password must not contain spaces or line breaks");
  return command{"auth " + std::string{password} + "\n\n", reply_kind::command_reply,
                 "auth ********"};
}

caf::expected<command> command::api(std::string_view api_command) {
  if (auto err = reject_empty("an api command", api_command))
    return err;
  if (auto err = reject_line_break("the api command", api_command))
    return err;
  return command{"api " + std::string{api_command} + "\n\n", reply_kind::api_response};
}

caf::expected<command> command::bgapi(std::string_view api_command, std::string_view job_uuid) {
  if (auto err = reject_empty("a bgapi command", api_command))
    return err;
  if (auto err = reject_line_break("the bgapi command", api_command))
    return err;
  if (auto err = reject_line_break("the Job-UUID", job_uuid))
    return err;
  std::string wire = "bgapi " + std::string{api_command} + "\n";
  if (!job_uuid.empty())
    append_header(wire, "Job-UUID", job_uuid);
  wire += '\n';
  return command{std::move(wire), reply_kind::command_reply, {}, std::string{job_uuid}};
}

caf::expected<command> command::event(event_format format, std::string_view names) {
  if (auto err = reject_empty("the event names", names))
    return err;
  if (auto err = reject_line_break("the event names", names))
    return err;
  return command{std::string{"event "} + to_string(format) + " " + std::string{names} + "\n\n",
                 reply_kind::command_reply};
}

caf::expected<command> command::nixevent(std::string_view names) {
  if (auto err = reject_empty("the event names", names))
    return err;
  if (auto err = reject_line_break("the event names", names))
    return err;
  return command{"nixevent " + std::string{names} + "\n\n", reply_kind::command_reply};
}

command command::noevents() {
  return command{"noevents\n\n", reply_kind::command_reply};
}

caf::expected<command> command::filter(std::string_view header, std::string_view value) {
  if (auto err = reject_empty("the filter header", header))
    return err;
  if (auto err = reject_line_break("the filter", std::string{header} + std::string{value}))
    return err;
  return command{"filter " + std::string{header} + " " + std::string{value} + "\n\n",
                 reply_kind::command_reply};
}

caf::expected<command> command::filter_delete(std::string_view header, std::string_view value) {
  if (auto err = reject_empty("the filter header", header))
    return err;
  if (auto err = reject_line_break("the filter", std::string{header} + std::string{value}))
    return err;
  std::string wire = "filter delete " + std::string{header};
  if (!value.empty())
    wire += " " + std::string{value};
  wire += "\n\n";
  return command{std::move(wire), reply_kind::command_reply};
}

caf::expected<command> command::myevents(std::string_view uuid,
                                         std::optional<event_format> format) {
  if (auto err = reject_line_break("the channel UUID", uuid))
    return err;
  std::string wire = "myevents";
  if (format) {
    wire += ' ';
    wire += to_string(*format);
  }
  if (!uuid.empty()) {
    wire += ' ';
    wire += uuid;
  }
  wire += "\n\n";
  return command{std::move(wire), reply_kind::command_reply};
}

command command::linger(std::optional<int> seconds) {
  if (seconds)
    return command{"linger " + std::to_string(*seconds) + "\n\n", reply_kind::command_reply};
  return command{"linger\n\n", reply_kind::command_reply};
}

command command::nolinger() {
  return command{"nolinger\n\n", reply_kind::command_reply};
}

command command::resume() {
  return command{"resume\n\n", reply_kind::command_reply};
}

command command::exit() {
  return command{"exit\n\n", reply_kind::command_reply};
}

command command::connect() {
  return command{"connect\n\n", reply_kind::channel_data};
}

caf::expected<command> command::sendmsg(const sendmsg_args& args) {
  sendmsg_parts parts;
  parts.uuid = args.uuid;
  parts.command = args.command;
  parts.app_name = args.app_name;
  parts.app_arg = args.app_arg;
  parts.arg_as_body = args.arg_as_body;
  parts.loops = args.loops;
  parts.event_lock = args.event_lock;
  parts.event_uuid = args.event_uuid;
  parts.hangup_cause = args.hangup_cause;
  parts.extra_headers = args.extra_headers;
  auto wire = encode_sendmsg(parts);
  if (!wire)
    return std::move(wire.error());
  return command{std::move(*wire), reply_kind::command_reply};
}

caf::expected<command> command::execute(std::string_view uuid, std::string_view app,
                                        std::string_view arg, std::string_view event_uuid) {
  sendmsg_parts parts;
  parts.uuid = uuid;
  parts.command = call_command::execute;
  parts.app_name = app;
  parts.app_arg = arg;
  parts.event_uuid = event_uuid;
  auto wire = encode_sendmsg(parts);
  if (!wire)
    return std::move(wire.error());
  return command{std::move(*wire), reply_kind::command_reply};
}

caf::expected<command> command::hangup(std::string_view uuid, std::string_view cause) {
  sendmsg_parts parts;
  parts.uuid = uuid;
  parts.command = call_command::hangup;
  parts.hangup_cause = cause;
  auto wire = encode_sendmsg(parts);
  if (!wire)
    return std::move(wire.error());
  return command{std::move(*wire), reply_kind::command_reply};
}

} // namespace callgrid::esl
