#include "esl/command.hpp"

#include <string>

#include "esl/errc.hpp"

namespace callgrid::esl {

namespace {

bool has_line_break(std::string_view text) noexcept {
  return text.find_first_of("\r\n") != std::string_view::npos;
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
  if (summary_.empty())
    summary_ = wire_.substr(0, wire_.find('\n'));
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
  if (auto err = reject_line_break("the channel UUID", args.uuid))
    return err;
  std::string wire = "sendmsg";
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
  return command{std::move(wire), reply_kind::command_reply};
}

} // namespace callgrid::esl
