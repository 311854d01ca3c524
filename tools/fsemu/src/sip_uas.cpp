#include "sip_uas.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace callgrid::fsemu {

namespace {

constexpr std::string_view allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
/// How long an ended dialog is kept to absorb retransmissions (64 × T1, RFC 3261 Timer H).
constexpr std::int64_t keep_ended_us = 32'000'000;
/// sofia's Retry-After for "503 Maximum Calls In Progress".
constexpr std::string_view retry_after = "300";

/// The SIP answer mod_sofia gives a call hung up before it was answered (sofia_glue's
/// hangup_cause_to_sip, the common causes; anything else 480).
std::pair<int, std::string_view> sip_status_of(std::string_view cause) {
  static constexpr std::array<std::tuple<std::string_view, int, std::string_view>, 13> table{{
    {"UNALLOCATED_NUMBER", 404, "Not Found"},
    {"NO_ROUTE_DESTINATION", 404, "Not Found"},
    {"USER_BUSY", 486, "Busy Here"},
    {"NO_USER_RESPONSE", 408, "Request Timeout"},
    {"NO_ANSWER", 480, "Temporarily Unavailable"},
    {"CALL_REJECTED", 603, "Decline"},
    {"DESTINATION_OUT_OF_ORDER", 502, "Bad Gateway"},
    {"INVALID_NUMBER_FORMAT", 484, "Address Incomplete"},
    {"FACILITY_REJECTED", 501, "Not Implemented"},
    {"NORMAL_TEMPORARY_FAILURE", 503, "Service Unavailable"},
    {"SWITCH_CONGESTION", 503, "Service Unavailable"},
    {"ORIGINATOR_CANCEL", 487, "Request Terminated"},
    {"RECOVERY_ON_TIMER_EXPIRE", 504, "Gateway Time-out"},
  }};
  for (const auto& [name, status, reason] : table)
    if (name == cause)
      return {status, reason};
  return {480, "Temporarily Unavailable"};
}

/// The top Via as the UAS answers it: `received` when the source differs from the sent-by
/// host, `rport` filled in when the client asked for it (RFC 3261 18.2.1, RFC 3581).
std::string stamp_via(std::string via, const sip_peer& from) {
  auto space = via.find(' ');
  auto params = via.find(';');
  std::string_view sent_by = std::string_view{via}.substr(
    space == std::string::npos ? 0 : space + 1,
    params == std::string::npos ? std::string::npos : params - (space + 1));
  auto host = sent_by.substr(0, sent_by.rfind(':'));
  std::string stamped = via;
  if (auto rport = stamped.find(";rport"); rport != std::string::npos) {
    auto after = rport + 6;
    if (after == stamped.size() || stamped[after] == ';') {
      stamped.insert(after, "=" + std::to_string(from.port));
      stamped.insert(rport, ";received=" + from.address);
      return stamped;
    }
  }
  if (host != from.address && !header_param(via, "received"))
    stamped += ";received=" + from.address;
  return stamped;
}

void append_line(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

std::string with_tag(std::string_view field, std::string_view tag) {
  if (header_param(field, "tag"))
    return std::string{field};
  return std::string{field} + ";tag=" + std::string{tag};
}

} // namespace

sip_uas::sip_uas(switch_core& core, sip_uas_config config)
  : core_(&core), config_(std::move(config)) {}

bool sip_uas::observes(std::string_view event_name) noexcept {
  return event_name == "CHANNEL_ANSWER" || event_name == "CHANNEL_HANGUP";
}

std::string sip_uas::new_tag() { return core_->new_uuid().substr(0, 13); }

sip_uas::dialog* sip_uas::find(std::string_view call_id) {
  auto found = dialogs_.find(call_id);
  return found == dialogs_.end() ? nullptr : &found->second;
}

std::string sip_uas::sdp() const {
  std::string body;
  body += "v=0\r\n";
  body += "o=FreeSWITCH 1764000000 1764000001 IN IP4 " + config_.address + "\r\n";
  body += "s=FreeSWITCH\r\n";
  body += "c=IN IP4 " + config_.address + "\r\n";
  body += "t=0 0\r\n";
  body += "m=audio 16384 RTP/AVP 0 101\r\n";
  body += "a=rtpmap:0 PCMU/8000\r\n";
  body += "a=rtpmap:101 telephone-event/8000\r\n";
  body += "a=fmtp:101 0-16\r\n";
  body += "a=ptime:20\r\n";
  body += "a=sendrecv\r\n";
  return body;
}

std::string sip_uas::response(const sip_message& request, int status, std::string_view reason,
                              std::string_view to_tag, std::vector<std::string> extra_headers,
                              std::string_view content_type, std::string_view body) const {
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + std::string{reason} + "\r\n";
  for (const auto& via : request.header_values("Via"))
    append_line(out, "Via", via);
  append_line(out, "From", request.header("From"));
  append_line(out, "To", to_tag.empty() ? std::string{request.header("To")}
                                        : with_tag(request.header("To"), to_tag));
  append_line(out, "Call-ID", request.header("Call-ID"));
  append_line(out, "CSeq", request.header("CSeq"));
  append_line(out, "User-Agent", config_.user_agent);
  for (const auto& line : extra_headers)
    out += line + "\r\n";
  if (!content_type.empty())
    append_line(out, "Content-Type", content_type);
  append_line(out, "Content-Length", std::to_string(body.size()));
  out += "\r\n";
  out += body;
  return out;
}

std::string sip_uas::invite_response(const dialog& d, int status, std::string_view reason) const {
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + std::string{reason} + "\r\n";
  for (const auto& via : d.vias)
    append_line(out, "Via", via);
  append_line(out, "From", d.from);
  append_line(out, "To", d.to);
  append_line(out, "Call-ID", d.call_id);
  append_line(out, "CSeq", std::to_string(d.invite_cseq) + " INVITE");
  bool success = status >= 200 && status < 300;
  if (success)
    for (const auto& rr : d.record_route)
      append_line(out, "Record-Route", rr);
  append_line(out, "User-Agent", config_.user_agent);
  if (status == 503)
    append_line(out, "Retry-After", retry_after);
  if (!success) {
    append_line(out, "Content-Length", "0");
    out += "\r\n";
    return out;
  }
  auto uri = parse_sip_uri(d.to);
  append_line(out, "Contact", "<sip:" + (uri ? uri->user + "@" : std::string{}) + config_.address
                                + ":" + std::to_string(config_.port) + ";transport=udp>");
  append_line(out, "Allow", allow);
  append_line(out, "Supported", "timer, path, replaces");
  append_line(out, "Content-Type", "application/sdp");
  auto body = sdp();
  append_line(out, "Content-Length", std::to_string(body.size()));
  out += "\r\n";
  out += body;
  return out;
}

void sip_uas::receive(std::string_view datagram, const sip_peer& from, std::int64_t now_us,
                      std::vector<sip_datagram>& out) {
  auto parsed = parse_sip_message(datagram);
  auto* msg = std::get_if<sip_message>(&parsed);
  if (msg == nullptr)
    return;
  if (!msg->is_request()) {
    // The answer to our BYE ends the dialog; anything else is not ours to handle.
    if (msg->cseq_method == "BYE" && msg->status >= 200)
      if (auto* d = find(msg->header("Call-ID")))
        d->forget_at_us = now_us;
    return;
  }
  const auto& method = msg->method;
  if (method == "INVITE") {
    on_invite(*msg, from, now_us, out);
  } else if (method == "ACK") {
    return;
  } else if (method == "BYE") {
    on_bye(*msg, from, now_us, out);
  } else if (method == "CANCEL") {
    on_cancel(*msg, from, now_us, out);
  } else if (method == "INFO") {
    on_info(*msg, from, now_us, out);
  } else if (method == "OPTIONS") {
    if (!core_->accepting_inbound())
      out.push_back({from, response(*msg, 503, "Maximum Calls In Progress", new_tag(),
                                    {"Retry-After: " + std::string{retry_after}})});
    else
      out.push_back({from, response(*msg, 200, "OK", new_tag(),
                                    {"Allow: " + std::string{allow}, "Accept: application/sdp",
                                     "Supported: timer, path, replaces"})});
  } else {
    out.push_back({from, response(*msg, 405, "Method Not Allowed", new_tag(),
                                  {"Allow: " + std::string{allow}})});
  }
}

void sip_uas::on_invite(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                        std::vector<sip_datagram>& out) {
  auto call_id = msg.header("Call-ID");
  if (auto* d = find(call_id)) {
    if (msg.cseq == d->invite_cseq) {
      // A retransmission: the last answer again.
      out.push_back({from, d->invite_response.empty() ? invite_response(*d, 100, "Trying")
                                                       : d->invite_response});
    } else if (d->state == dialog_state::answered) {
      // A re-INVITE (session timer refresh): the same session again.
      out.push_back({from, response(msg, 200, "OK", {},
                                    {"Contact: <sip:" + config_.address + ":"
                                     + std::to_string(config_.port) + ";transport=udp>"},
                                    "application/sdp", sdp())});
    } else {
      out.push_back({from, response(msg, 491, "Request Pending", {})});
    }
    return;
  }
  auto request_uri = parse_sip_uri(msg.request_uri);
  auto caller = parse_sip_uri(msg.header("From"));
  if (!request_uri || !caller || msg.header("Contact").empty()) {
    out.push_back({from, response(msg, 400, "Bad Request", new_tag())});
    return;
  }
  dialog d;
  d.call_id = std::string{call_id};
  d.invite_cseq = msg.cseq;
  d.source = from;
  d.vias = msg.header_values("Via");
  if (!d.vias.empty())
    d.vias.front() = stamp_via(d.vias.front(), from);
  d.from = std::string{msg.header("From")};
  d.to = with_tag(msg.header("To"), new_tag());
  d.record_route = msg.header_values("Record-Route");
  d.remote_contact = std::string{uri_text(msg.header("Contact"))};
  out.push_back({from, invite_response(d, 100, "Trying")});

  inbound_call_request request;
  request.caller_id_number = caller->user.empty() ? "0000000000" : caller->user;
  auto from_field = msg.header("From");
  if (auto lt = from_field.find('<'); lt != std::string_view::npos) {
    auto name = from_field.substr(0, lt);
    while (!name.empty() && (name.back() == ' ' || name.back() == '"'))
      name.remove_suffix(1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '"'))
      name.remove_prefix(1);
    request.caller_id_name = std::string{name};
  }
  if (request.caller_id_name.empty())
    request.caller_id_name = request.caller_id_number;
  request.destination = request_uri->user;
  request.context = config_.context;
  request.network_addr = from.address;
  request.network_port = from.port;
  auto result = core_->place_inbound_call(request, now_us);
  if (result.uuid.empty()) {
    // Refused before a channel exists: "503 Maximum Calls In Progress" (paused, full, asap).
    auto refusal = std::string_view{result.refusal};
    int status = 503;
    std::string_view reason = "Maximum Calls In Progress";
    if (refusal.size() > 4 && refusal[3] == ' ') {
      status = (refusal[0] - '0') * 100 + (refusal[1] - '0') * 10 + (refusal[2] - '0');
      reason = refusal.substr(4);
    }
    d.invite_response = invite_response(d, status, reason);
    d.state = dialog_state::ended;
    d.forget_at_us = now_us + keep_ended_us;
    out.push_back({from, d.invite_response});
    dialogs_.emplace(d.call_id, std::move(d));
    return;
  }
  d.channel_uuid = result.uuid;
  by_channel_[result.uuid] = d.call_id;
  auto& stored = dialogs_.emplace(d.call_id, std::move(d)).first->second;
  const auto* channel = core_->channel(stored.channel_uuid);
  if (channel != nullptr && channel->answer == answer_state::answered) {
    stored.state = dialog_state::answered;
    stored.invite_response = invite_response(stored, 200, "OK");
    out.push_back({from, stored.invite_response});
  }
}

void sip_uas::on_bye(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                     std::vector<sip_datagram>& out) {
  auto* d = find(msg.header("Call-ID"));
  if (d == nullptr) {
    out.push_back({from, response(msg, 481, "Call/Transaction Does Not Exist", {})});
    return;
  }
  out.push_back({from, response(msg, 200, "OK", {})});
  if (d->state == dialog_state::ended)
    return;
  d->caller_hung_up = true;
  end(*d, now_us);
  core_->remote_hang_up(d->channel_uuid, "NORMAL_CLEARING", now_us, "recv_bye");
}

void sip_uas::on_cancel(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                        std::vector<sip_datagram>& out) {
  auto* d = find(msg.header("Call-ID"));
  if (d == nullptr || d->invite_cseq != msg.cseq) {
    out.push_back({from, response(msg, 481, "Call/Transaction Does Not Exist", {})});
    return;
  }
  out.push_back({from, response(msg, 200, "OK", {})});
  if (d->state != dialog_state::early)
    return;
  d->caller_hung_up = true;
  d->invite_response = invite_response(*d, 487, "Request Terminated");
  out.push_back({d->source, d->invite_response});
  end(*d, now_us);
  core_->remote_hang_up(d->channel_uuid, "ORIGINATOR_CANCEL", now_us, "recv_cancel");
}

void sip_uas::on_info(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                      std::vector<sip_datagram>& out) {
  auto* d = find(msg.header("Call-ID"));
  if (d == nullptr || d->state == dialog_state::ended) {
    out.push_back({from, response(msg, 481, "Call/Transaction Does Not Exist", {})});
    return;
  }
  out.push_back({from, response(msg, 200, "OK", {})});
  auto type = msg.header("Content-Type");
  if (type.find("dtmf-relay") == std::string_view::npos)
    return;
  // "Signal=5\r\nDuration=160\r\n": the digit and its length in ms.
  char digit = 0;
  std::uint32_t duration_ms = 250;
  std::string_view body = msg.body;
  while (!body.empty()) {
    auto end_of_line = body.find('\n');
    auto line = body.substr(0, end_of_line);
    body = end_of_line == std::string_view::npos ? std::string_view{}
                                                 : body.substr(end_of_line + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    while (!value.empty() && (value.front() == ' '))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' '))
      value.remove_suffix(1);
    while (!key.empty() && key.back() == ' ')
      key.remove_suffix(1);
    if (key == "Signal" && !value.empty()) {
      digit = value == "10" ? '*' : value == "11" ? '#' : value.front();
    } else if (key == "Duration") {
      std::uint32_t ms = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || ms > 100'000)
          break;
        ms = ms * 10 + static_cast<std::uint32_t>(c - '0');
      }
      if (ms > 0)
        duration_ms = ms;
    }
  }
  if (digit != 0)
    core_->receive_dtmf(d->channel_uuid, digit, duration_ms * 8, "ENDPOINT", now_us);
}

void sip_uas::end(dialog& d, std::int64_t now_us) {
  d.state = dialog_state::ended;
  d.forget_at_us = now_us + keep_ended_us;
}

void sip_uas::send_bye(dialog& d, std::int64_t now_us, std::vector<sip_datagram>& out) {
  auto contact = parse_sip_uri(d.remote_contact);
  std::vector<std::string> routes = d.record_route;
  std::string target = d.remote_contact;
  std::optional<sip_uri> next_hop = contact;
  if (!routes.empty()) {
    auto first = parse_sip_uri(routes.front());
    if (first && first->loose_route) {
      next_hop = first;
    } else if (first) {
      // A strict router: it becomes the Request-URI and the remote target the last Route.
      target = std::string{uri_text(routes.front())};
      routes.erase(routes.begin());
      routes.push_back("<" + d.remote_contact + ">");
      next_hop = first;
    }
  }
  if (!next_hop) {
    end(d, now_us);
    return;
  }
  std::string text = "BYE " + target + " SIP/2.0\r\n";
  append_line(text, "Via", "SIP/2.0/UDP " + config_.address + ":" + std::to_string(config_.port)
                             + ";rport;branch=z9hG4bK" + new_tag());
  append_line(text, "Max-Forwards", "70");
  for (const auto& route : routes)
    append_line(text, "Route", route);
  append_line(text, "From", d.to);
  append_line(text, "To", d.from);
  append_line(text, "Call-ID", d.call_id);
  append_line(text, "CSeq", std::to_string(d.local_cseq++) + " BYE");
  append_line(text, "User-Agent", config_.user_agent);
  append_line(text, "Reason", "Q.850;cause=16;text=\"NORMAL_CLEARING\"");
  append_line(text, "Content-Length", "0");
  text += "\r\n";
  out.push_back({sip_peer{next_hop->host, next_hop->port}, std::move(text)});
  end(d, now_us);
}

void sip_uas::observe(const switch_event& event, std::int64_t now_us,
                      std::vector<sip_datagram>& out) {
  if (!event.channel || !observes(event.name))
    return;
  auto found = by_channel_.find(event.channel->uuid);
  if (found == by_channel_.end())
    return;
  auto* d = find(found->second);
  if (d == nullptr) {
    by_channel_.erase(found);
    return;
  }
  if (event.name == "CHANNEL_ANSWER") {
    if (d->state != dialog_state::early)
      return;
    d->state = dialog_state::answered;
    d->invite_response = invite_response(*d, 200, "OK");
    out.push_back({d->source, d->invite_response});
    return;
  }
  // CHANNEL_HANGUP: the switch's end of the call (unless the caller's BYE/CANCEL caused it).
  by_channel_.erase(found);
  if (d->caller_hung_up || d->state == dialog_state::ended)
    return;
  if (d->state == dialog_state::early) {
    auto [status, reason] = sip_status_of(event.channel->hangup_cause);
    d->invite_response = invite_response(*d, status, reason);
    out.push_back({d->source, d->invite_response});
    end(*d, now_us);
    return;
  }
  send_bye(*d, now_us, out);
}

std::optional<std::int64_t> sip_uas::next_due() const {
  std::optional<std::int64_t> due;
  for (const auto& [id, d] : dialogs_)
    if (d.state == dialog_state::ended && (!due || d.forget_at_us < *due))
      due = d.forget_at_us;
  return due;
}

void sip_uas::advance(std::int64_t now_us) {
  std::erase_if(dialogs_, [&](const auto& entry) {
    const auto& d = entry.second;
    return d.state == dialog_state::ended && d.forget_at_us <= now_us;
  });
}

} // namespace callgrid::fsemu
