#include "inbound_session.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "ascii_text.hpp"
#include "command_words.hpp"

namespace callgrid::fsemu {

namespace {

/// Whether api arguments are `fsctl shutdown elegant|asap` (the forms that wait for calls).
bool is_shutdown_request(std::string_view args) {
  auto argv = words(args);
  auto lower = [](std::string_view w) {
    std::string text{w};
    for (auto& c : text)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  return argv.size() >= 3 && argv[0] == "fsctl" && lower(argv[1]) == "shutdown"
         && (lower(argv[2]) == "elegant" || lower(argv[2]) == "asap");
}

// FreeSWITCH 1.10's event type names (switch_event.c EVENT_NAMES), without ALL.
constexpr std::string_view event_type_names[] = {
  "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
  "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
  "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE",
  "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING",
  "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID",
  "API", "LOG", "INBOUND_CHAN", "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH",
  "TALK", "NOTALK", "SESSION_CRASH", "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE",
  "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT", "PRESENCE_PROBE", "MESSAGE_WAITING",
  "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB", "DETECTED_SPEECH", "DETECTED_TONE",
  "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE", "DEL_SCHEDULE", "EXE_SCHEDULE",
  "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE", "PHONE_FEATURE_SUBSCRIBE",
  "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA", "GENERAL", "COMMAND",
  "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED", "SEND_INFO", "RECV_INFO",
  "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT", "RECORD_START", "RECORD_STOP",
  "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE", "SOCKET_DATA", "MEDIA_BUG_START",
  "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA", "CALL_SETUP_REQ",
  "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED"};

constexpr std::string_view disconnect_body
  = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

constexpr std::array<std::string_view, 8> log_level_names
  = {"console", "alert", "crit", "err", "warning", "notice", "info", "debug"};

/// The canonical name of an event type, accepting any case and the "SWITCH_EVENT_" prefix as
/// FreeSWITCH's switch_name_event does; `nullopt` for an unknown name. "ALL" is returned as is.
std::optional<std::string_view> event_type(std::string_view name) {
  constexpr std::string_view prefix = "SWITCH_EVENT_";
  if (name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix))
    name.remove_prefix(prefix.size());
  if (iequals(name, "ALL"))
    return std::string_view{"ALL"};
  for (auto known : event_type_names)
    if (iequals(name, known))
      return known;
  return std::nullopt;
}

void append_disconnect_notice(std::string_view body, std::string& out) {
  out += "Content-Type: text/disconnect-notice\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\n\n";
  out += body;
}

std::string_view format_name(event_format format) {
  switch (format) {
    case event_format::json:
      return "json";
    case event_format::xml:
      return "xml";
    case event_format::plain:
      break;
  }
  return "plain";
}

} // namespace

std::string run_sendmsg(switch_core& core, const esl::frame& command,
                        std::string_view default_uuid, std::int64_t now_us) {
  auto [name, args] = split_first(command.command_line());
  auto argv = words(args);
  std::string target = argv.empty() ? std::string{default_uuid} : std::string{argv.front()};
  auto call_command = command.header("call-command").value_or("");
  if (call_command == "hangup")
    return core.sendmsg(target, call_command, {}, command.header("hangup-cause").value_or(""),
                        {}, now_us);
  auto app = command.header("execute-app-name").value_or("");
  std::string arg{command.header("execute-app-arg").value_or(command.body())};
  auto app_uuid = command.header("Event-UUID").value_or("");
  return core.sendmsg(target, call_command, app, arg, app_uuid, now_us);
}

std::string inbound_session::shutdown_notice() {
  std::string out;
  append_disconnect_notice("The system is being shut down.\n", out);
  return out;
}

void inbound_session::reply(std::string_view text, std::string& out) const {
  out += "Content-Type: command/reply\nReply-Text: ";
  out += text;
  out += "\n\n";
}

void inbound_session::bye(std::string& out) {
  reply("+OK bye", out);
  append_disconnect_notice(disconnect_body, out);
  closing_ = true;
}

void inbound_session::handle(const esl::frame& command, std::int64_t now_us, std::string& out) {
  if (closing_)
    return;
  if (blocked_)
    return;
  auto [name, args] = split_first(command.command_line());
  if (name.empty())
    return;
  if (!authenticated_) {
    if (name == "auth") {
      if (core_->check_password(args)) {
        authenticated_ = true;
        reply("+OK accepted", out);
      } else {
        reply("-ERR invalid", out);
        append_disconnect_notice(disconnect_body, out);
        closing_ = true;
      }
      return;
    }
    reply("-ERR command not found", out);
    return;
  }
  if (name == "api") {
    auto body = core_->api(args, now_us);
    if (core_->shutdown_waiting() && is_shutdown_request(args)) {
      // Capture 16a: with calls up the api does not answer until the calls are gone.
      blocked_ = true;
      blocked_reply_ = std::move(body);
      blocked_since_ = core_->shutdown_releases();
      return;
    }
    out += "Content-Type: api/response\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\n\n";
    out += body;
  } else if (name == "bgapi") {
    command_bgapi(command, args, now_us, out);
  } else if (name == "event") {
    command_event(args, out);
  } else if (name == "nixevent") {
    command_nixevent(args, out);
  } else if (name == "noevents") {
    if (listening_) {
      listening_ = false;
      all_events_ = false;
      event_names_.clear();
      custom_subclasses_.clear();
      reply("+OK no longer listening for events", out);
    } else {
      reply("-ERR not listening for events", out);
    }
  } else if (name == "filter") {
    command_filter(args, out);
  } else if (name == "log") {
    command_log(args, out);
  } else if (name == "nolog") {
    if (log_level_ >= 0) {
      log_level_ = -1;
      reply("+OK no longer logging", out);
    } else {
      reply("-ERR not loging", out);
    }
  } else if (name == "divert_events") {
    reply("-ERR not controlling a session.", out);
  } else if (name == "linger" || name == "nolinger") {
    reply("-ERR not controlling a session", out);
  } else if (name == "sendmsg") {
    reply(run_sendmsg(*core_, command, {}, now_us), out);
  } else if (name == "sendevent") {
    command_sendevent(command, args, now_us, out);
  } else if (name == "exit") {
    bye(out);
  } else {
    // Includes myevents and resume, which an inbound socket without a uuid does not know
    // (capture 03), and auth after authentication.
    reply("-ERR command not found", out);
  }
}

void inbound_session::command_bgapi(const esl::frame& command, std::string_view args,
                                    std::int64_t now_us, std::string& out) {
  std::string job_uuid;
  if (auto given = command.header("Job-UUID"); given && !given->empty())
    job_uuid = *given;
  else
    job_uuid = core_->new_uuid();
  out += "Content-Type: command/reply\nReply-Text: +OK Job-UUID: ";
  out += job_uuid;
  out += "\nJob-UUID: ";
  out += job_uuid;
  out += "\n\n";
  core_->run_background_job(args, job_uuid, now_us);
}

void inbound_session::command_event(std::string_view args, std::string& out) {
  auto format = format_;
  bool custom = false;
  int keys = 0;
  for (auto word : words(args)) {
    if (iequals(word, "plain")) {
      format = event_format::plain;
      continue;
    }
    if (iequals(word, "json")) {
      format = event_format::json;
      continue;
    }
    if (iequals(word, "xml")) {
      format = event_format::xml;
      continue;
    }
    if (custom) {
      custom_subclasses_.emplace(word);
      ++keys;
      continue;
    }
    auto type = event_type(word);
    if (!type)
      continue;
    ++keys;
    if (*type == "ALL")
      all_events_ = true;
    else if (*type == "CUSTOM")
      custom = true;
    event_names_.emplace(*type);
  }
  if (keys == 0) {
    reply("-ERR no keywords supplied", out);
    return;
  }
  format_ = format;
  listening_ = true;
  reply("+OK event listener enabled " + std::string{format_name(format_)}, out);
}

void inbound_session::command_nixevent(std::string_view args, std::string& out) {
  bool custom = false;
  int keys = 0;
  for (auto word : words(args)) {
    if (custom) {
      if (auto found = custom_subclasses_.find(word); found != custom_subclasses_.end())
        custom_subclasses_.erase(found);
      ++keys;
      continue;
    }
    auto type = event_type(word);
    if (!type)
      continue;
    ++keys;
    if (*type == "ALL") {
      all_events_ = false;
      event_names_.clear();
      custom_subclasses_.clear();
    } else if (*type == "CUSTOM") {
      custom = true;
    } else if (auto found = event_names_.find(*type); found != event_names_.end()) {
      event_names_.erase(found);
    }
  }
  reply(keys == 0 ? "-ERR no keywords supplied" : "+OK events nixed", out);
}

void inbound_session::command_filter(std::string_view args, std::string& out) {
  auto argv = words(args);
  if (!argv.empty() && argv[0] == "delete") {
    if (argv.size() < 2) {
      reply("-ERR invalid syntax", out);
      return;
    }
    std::string header{argv[1]};
    std::string value = argv.size() > 2 ? std::string{argv[2]} : std::string{};
    if (header == "all") {
      filters_.clear();
    } else {
      std::erase_if(filters_, [&](const event_filter& f) {
        return f.header == header && (value.empty() || f.value == value);
      });
    }
    reply("+OK filter deleted. [" + header + "][" + value + "]", out);
    return;
  }
  if (argv.size() < 2) {
    reply("-ERR invalid syntax", out);
    return;
  }
  // The value is the rest of the line: it may contain spaces.
  auto [header, value] = split_first(args);
  filters_.push_back(event_filter{std::string{header}, std::string{value}});
  reply("+OK filter added. [" + std::string{header} + "]=[" + std::string{value} + "]", out);
}

void inbound_session::command_log(std::string_view args, std::string& out) {
  auto argv = words(args);
  std::string_view text = argv.empty() ? std::string_view{"debug"} : argv[0];
  int level = -1;
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '7')
    level = text[0] - '0';
  for (std::size_t i = 0; i < log_level_names.size() && level < 0; ++i)
    if (iequals(text, log_level_names[i]))
      level = static_cast<int>(i);
  if (level < 0) {
    reply("-ERR invalid log level", out);
    return;
  }
  log_level_ = level;
  reply("+OK log level " + std::string{text} + " [" + std::to_string(level) + "]", out);
}

void inbound_session::command_sendevent(const esl::frame& command, std::string_view args,
                                        std::int64_t now_us, std::string& out) {
  auto argv = words(args);
  auto type = argv.empty() ? std::optional<std::string_view>{} : event_type(argv[0]);
  if (!type || *type == "ALL") {
    reply("-ERR invalid event", out);
    return;
  }
  std::vector<event_header> headers;
  for (const auto& field : command.headers())
    if (!iequals(field.name, "content-length"))
      headers.push_back({std::string{field.name}, std::string{field.value}});
  std::optional<std::string> body;
  if (!command.body().empty())
    body = std::string{command.body()};
  auto event_uuid = core_->fire_client_event(*type, std::move(headers), std::move(body), now_us);
  reply("+OK " + event_uuid, out);
}

bool inbound_session::subscribed_to(std::string_view event_name) const {
  if (!authenticated_ || closing_ || !listening_)
    return false;
  return all_events_ || event_names_.find(event_name) != event_names_.end();
}

bool inbound_session::wants(const switch_event& event) const {
  if (!authenticated_ || closing_ || !listening_)
    return false;
  if (!all_events_) {
    if (event_names_.find(event.name) == event_names_.end())
      return false;
    if (event.name == "CUSTOM") {
      const event_header* subclass = nullptr;
      for (const auto& h : event.extras)
        if (iequals(h.name, "Event-Subclass"))
          subclass = &h;
      if (!custom_subclasses_.empty()
          && (subclass == nullptr || custom_subclasses_.count(subclass->value) == 0))
        return false;
    }
  }
  if (filters_.empty())
    return true;
  // The headers the filters name, found in one walk over the event.
  std::vector<std::string_view> names;
  for (const auto& filter : filters_)
    names.push_back(filter.header);
  return passes_filters(filters_, core_->renderer().header_values(event.input(), names));
}

bool inbound_session::deliver(const switch_event& event, std::string& out) {
  if (!wants(event))
    return false;
  if (blocked_) {
    // The connection's thread is inside the api call: the event waits in its queue.
    (void)core_->renderer().append_event(event.input(), format_, held_events_);
    return false;
  }
  return !core_->renderer().append_event(event.input(), format_, out).has_value();
}

bool inbound_session::release(std::string& out) {
  if (!blocked_ || core_->shutdown_releases() == blocked_since_)
    return false;
  blocked_ = false;
  out += "Content-Type: api/response\nContent-Length: ";
  out += std::to_string(blocked_reply_.size());
  out += "\n\n";
  out += std::exchange(blocked_reply_, {});
  out += std::exchange(held_events_, {});
  return true;
}

} // namespace callgrid::fsemu
