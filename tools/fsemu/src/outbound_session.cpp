#include "outbound_session.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "command_words.hpp"


namespace callgrid::fsemu {

namespace {

constexpr std::string_view disconnect_body
  = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// The event types mod_event_socket's `myevents` subscribes to (1.10, parse_command).
constexpr std::array<std::string_view, 23> myevents_names = {
  "CHANNEL_ANSWER",     "CHANNEL_APPLICATION",      "CHANNEL_BRIDGE",
  "CHANNEL_CREATE",     "CHANNEL_DATA",             "CHANNEL_DESTROY",
  "CHANNEL_EXECUTE",    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
  "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE",   "CHANNEL_UUID",
  "CHANNEL_OUTGOING",   "CHANNEL_PARK",             "CHANNEL_PROGRESS",
  "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE",        "CHANNEL_UNBRIDGE",
  "CHANNEL_UNPARK",     "DETECTED_SPEECH",          "DTMF",
  "NOTALK",             "TALK"};

} // namespace

outbound_session_logic::outbound_session_logic(switch_core& core, std::string uuid)
  : core_(&core), uuid_(std::move(uuid)), inner_(inbound_session::preauthenticated(core)) {
  if (const auto* snap = core.channel(uuid_))
    channel_name_ = snap->name;
}

void outbound_session_logic::reply(std::string_view text, std::string& out) const {
  out += "Content-Type: command/reply\nReply-Text: ";
  out += text;
  out += "\n\n";
}

void outbound_session_logic::disconnect_notice(std::string& out) {
  out += "Content-Type: text/disconnect-notice\nControlled-Session-UUID: ";
  out += uuid_;
  out += "\nContent-Disposition: disconnect\nContent-Length: ";
  out += std::to_string(disconnect_body.size());
  out += "\n\n";
  out += disconnect_body;
  closing_ = true;
}

void outbound_session_logic::handle(const esl::frame& command, std::int64_t now_us,
                                    std::string& out) {
  if (closing_)
    return;
  auto [name, args] = split_first(command.command_line());
  if (name.empty())
    return;
  if (!connected_) {
    // Capture 11: nothing is sent before "connect"; what FreeSWITCH does with another command
    // first is not captured, so it is ignored.
    if (name == "connect")
      connected_ = core_->socket_connect(uuid_, now_us, out);
    return;
  }
  if (name == "myevents") {
    for (auto word : words(args)) {
      if (word == "plain")
        format_ = event_format::plain;
      else if (word == "json")
        format_ = event_format::json;
      else if (word == "xml")
        format_ = event_format::xml;
    }
    myevents_ = true;
    reply("+OK Events Enabled", out);
  } else if (name == "linger") {
    linger_ = true;
    auto argv = words(args);
    linger_seconds_ = -1;
    if (!argv.empty()) {
      std::int64_t n = 0;
      bool digits = true;
      for (char c : argv[0]) {
        if (c < '0' || c > '9') {
          digits = false;
          break;
        }
        n = n * 10 + (c - '0');
      }
      if (digits && n > 0)
        linger_seconds_ = n;
    }
    if (linger_seconds_ > 0)
      reply("+OK will linger " + std::to_string(linger_seconds_) + " seconds", out);
    else
      reply("+OK will linger", out);
  } else if (name == "nolinger") {
    // Not captured: mod_event_socket's text.
    linger_ = false;
    reply("+OK will not linger", out);
  } else if (name == "sendmsg") {
    command_sendmsg(command, now_us, out);
  } else if (name == "exit") {
    // Capture 13: "+OK bye", the disconnect notice, close; the channel is hung up.
    reply("+OK bye", out);
    disconnect_notice(out);
    core_->hang_up(uuid_, "NORMAL_CLEARING", now_us);
  } else {
    inner_.handle(command, now_us, out);
    if (name == "event")
      format_ = inner_.format();
    if (inner_.closing())
      closing_ = true;
  }
}

void outbound_session_logic::command_sendmsg(const esl::frame& command, std::int64_t now_us,
                                             std::string& out) {
  // The reply goes out before the application's events (capture 11), as on an inbound socket.
  reply(run_sendmsg(*core_, command, uuid_, now_us), out);
}

bool outbound_session_logic::wants(const switch_event& event) const {
  bool mine = event.channel && event.channel->uuid == uuid_;
  if (myevents_ && mine
      && std::find(myevents_names.begin(), myevents_names.end(), event.name)
           != myevents_names.end())
    return true;
  return inner_.wants(event) && (!myevents_ || mine);
}

bool outbound_session_logic::deliver(const switch_event& event, std::string& out) {
  if (closing_ || done_)
    return false;
  bool mine = event.channel && event.channel->uuid == uuid_;
  if (!connected_) {
    // The channel ended before the client sent `connect` (not captured): close, saying nothing.
    if (mine && event.name == "CHANNEL_HANGUP")
      closing_ = true;
    return false;
  }
  bool appended = false;
  if (wants(event))
    appended = !core_->renderer().append_event(event.input(), format_, out).has_value();
  if (mine && event.name == "CHANNEL_HANGUP" && !linger_) {
    // Capture 12: no linger, CHANNEL_HANGUP is the last event, then the notice and close.
    disconnect_notice(out);
    return true;
  }
  if (mine && event.name == "CHANNEL_HANGUP_COMPLETE" && linger_) {
    // Captures 11, 11b: the linger notice after the final events.
    out += "Content-Type: text/disconnect-notice\nControlled-Session-UUID: ";
    out += uuid_;
    out += "\nContent-Disposition: linger\nChannel-Name: ";
    out += channel_name_.empty() ? event.channel->name : channel_name_;
    out += "\nLinger-Time: ";
    out += std::to_string(linger_seconds_);
    out += "\nContent-Length: 0\n\n";
    done_ = true;
    if (linger_seconds_ > 0)
      linger_ends_us_ = event.timestamp_us + linger_seconds_ * 1'000'000;
    return true;
  }
  return appended;
}

void outbound_session_logic::advance(std::int64_t now_us, std::string& out) {
  if (closing_ || !linger_ends_us_ || *linger_ends_us_ > now_us)
    return;
  linger_ends_us_.reset();
  disconnect_notice(out);
}

void outbound_session_logic::client_gone(std::int64_t now_us) {
  closing_ = true;
  core_->hang_up(uuid_, "NORMAL_CLEARING", now_us);
}

} // namespace callgrid::fsemu
