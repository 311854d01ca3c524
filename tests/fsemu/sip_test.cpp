#define CAF_SUITE fsemu.sip

#include <caf/test/unit_test.hpp>

#include <string>
#include <variant>
#include <vector>

#include "sip_message.hpp"
#include "sip_uas.hpp"
#include "switch_core.hpp"

using namespace callgrid;

namespace {

constexpr std::int64_t t0 = 1'764'000'000'000'000;

std::string invite(std::string_view destination, std::string_view call_id,
                   std::string_view extra = {}) {
  std::string text = "INVITE sip:" + std::string{destination} + "@127.0.0.1:5080 SIP/2.0\r\n";
  text += "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport\r\n";
  text += extra;
  text += "From: \"Ann\" <sip:5551000@127.0.0.1:5061>;tag=abc\r\n";
  text += "To: <sip:" + std::string{destination} + "@127.0.0.1:5080>\r\n";
  text += "Call-ID: " + std::string{call_id} + "\r\n";
  text += "CSeq: 1 INVITE\r\n";
  text += "Contact: <sip:5551000@127.0.0.1:5061>\r\n";
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

std::string in_dialog(std::string_view method, std::string_view call_id, int cseq,
                      std::string_view content_type = {}, std::string_view body = {}) {
  std::string text = std::string{method} + " sip:1000@127.0.0.1:5080 SIP/2.0\r\n";
  text += "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-" + std::to_string(cseq) + "\r\n";
  text += "From: <sip:5551000@127.0.0.1:5061>;tag=abc\r\n";
  text += "To: <sip:1000@127.0.0.1:5080>;tag=xyz\r\n";
  text += "Call-ID: " + std::string{call_id} + "\r\n";
  text += "CSeq: " + std::to_string(cseq) + " " + std::string{method} + "\r\n";
  if (!content_type.empty())
    text += "Content-Type: " + std::string{content_type} + "\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  text += body;
  return text;
}

fsemu::sip_message parsed(const std::vector<fsemu::sip_datagram>& out, std::size_t i) {
  CAF_REQUIRE(i < out.size());
  auto result = fsemu::parse_sip_message(out[i].text);
  CAF_REQUIRE(std::holds_alternative<fsemu::sip_message>(result));
  return std::get<fsemu::sip_message>(result);
}

struct fixture {
  fsemu::switch_core core{fsemu::switch_config{}, t0};
  fsemu::sip_uas uas{core, {.address = "127.0.0.1", .port = 5080}};
  fsemu::sip_peer caller{"127.0.0.1", 5061};
  std::int64_t now = t0;

  std::vector<fsemu::sip_datagram> send(const std::string& text) {
    std::vector<fsemu::sip_datagram> out;
    uas.receive(text, caller, now, out);
    pump(out);
    return out;
  }

  /// Runs the switch up to `now` and lets the UAS see its events.
  void pump(std::vector<fsemu::sip_datagram>& out) {
    while (auto due = core.next_due()) {
      if (*due > now)
        break;
      core.advance(*due);
    }
    core.advance(now);
    for (const auto& ev : core.take_events(now))
      uas.observe(ev, now, out);
  }

  std::vector<fsemu::sip_datagram> at(double seconds) {
    now = t0 + static_cast<std::int64_t>(seconds * 1e6);
    std::vector<fsemu::sip_datagram> out;
    pump(out);
    return out;
  }
};

} // namespace

CAF_TEST(the parser reads requests with compact headers folded lines and a body) {
  std::string text = "\r\nINVITE sip:1000@h SIP/2.0\r\nv: SIP/2.0/UDP a:1;branch=z9hG4bK1, "
                     "SIP/2.0/UDP b:2;branch=z9hG4bK2\r\nf: <sip:a@h>;tag=1\r\nt: <sip:1000@h>"
                     "\r\ni: abc\r\nCSeq: 7\r\n INVITE\r\nl: 4\r\n\r\nbodyEXTRA";
  auto result = fsemu::parse_sip_message(text);
  CAF_REQUIRE(std::holds_alternative<fsemu::sip_message>(result));
  const auto& msg = std::get<fsemu::sip_message>(result);
  CAF_CHECK_EQUAL(msg.method, "INVITE");
  CAF_CHECK_EQUAL(msg.request_uri, "sip:1000@h");
  CAF_CHECK_EQUAL(msg.header("call-id"), "abc");
  CAF_CHECK_EQUAL(msg.cseq, 7u);
  CAF_CHECK_EQUAL(msg.cseq_method, "INVITE");
  CAF_CHECK_EQUAL(msg.body, "body");
  auto vias = msg.header_values("Via");
  CAF_REQUIRE_EQUAL(vias.size(), 2u);
  CAF_CHECK_EQUAL(vias[1], "SIP/2.0/UDP b:2;branch=z9hG4bK2");
}

CAF_TEST(the parser refuses broken datagrams with a reason) {
  auto code_of = [](std::string_view text) {
    auto result = fsemu::parse_sip_message(text);
    auto* err = std::get_if<fsemu::sip_parse_error>(&result);
    return err == nullptr ? std::string{"ok"} : std::string{fsemu::to_string(err->code)};
  };
  CAF_CHECK_EQUAL(code_of("INVITE sip:a@b SIP/2.0"), "truncated");
  CAF_CHECK_EQUAL(code_of("HELLO\r\n\r\n"), "bad_start_line");
  CAF_CHECK_EQUAL(code_of("SIP/2.0 99 Odd\r\n\r\n"), "bad_start_line");
  CAF_CHECK_EQUAL(code_of("BYE sip:a@b SIP/2.0\r\nnocolon\r\n\r\n"), "bad_header");
  CAF_CHECK_EQUAL(code_of("BYE sip:a@b SIP/2.0\r\nContent-Length: 9\r\n\r\nab"),
                  "bad_content_length");
  CAF_CHECK_EQUAL(code_of("BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"), "missing_header");
}

CAF_TEST(uris and header parameters are taken apart) {
  auto uri = fsemu::parse_sip_uri("\"Bob\" <sip:bob@10.0.0.1:5070;lr;transport=udp>;tag=9");
  CAF_REQUIRE(uri.has_value());
  CAF_CHECK_EQUAL(uri->user, "bob");
  CAF_CHECK_EQUAL(uri->host, "10.0.0.1");
  CAF_CHECK_EQUAL(uri->port, 5070u);
  CAF_CHECK(uri->loose_route);
  CAF_CHECK_EQUAL(fsemu::header_param("<sip:bob@h;lr>;tag=9", "tag").value_or("-"), "9");
  CAF_CHECK(!fsemu::header_param("<sip:bob@h;tag=1>", "tag").has_value());
  auto plain = fsemu::parse_sip_uri("sip:h");
  CAF_REQUIRE(plain.has_value());
  CAF_CHECK_EQUAL(plain->port, 5060u);
  CAF_CHECK(!fsemu::parse_sip_uri("tel:+15551000").has_value());
}

CAF_TEST(an INVITE to a parking extension is answered 200 with SDP and a BYE hangs it up) {
  fixture f;
  auto out = f.send(invite("1000", "call-1"));
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  CAF_CHECK_EQUAL(parsed(out, 0).status, 100);
  auto ok = parsed(out, 1);
  CAF_CHECK_EQUAL(ok.status, 200);
  CAF_CHECK_EQUAL(ok.header("Content-Type"), "application/sdp");
  CAF_CHECK(ok.body.find("m=audio ") != std::string::npos);
  CAF_CHECK(fsemu::header_param(ok.header("To"), "tag").has_value());
  CAF_CHECK(ok.header("Via").find(";received=127.0.0.1;rport=5061") != std::string::npos);
  CAF_CHECK_EQUAL(out[1].to.port, 5061u);
  CAF_CHECK_EQUAL(f.core.session_count(), 1u);
  out = f.send(in_dialog("BYE", "call-1", 2));
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK_EQUAL(parsed(out, 0).status, 200);
  CAF_CHECK_EQUAL(f.core.session_count(), 0u);
}

CAF_TEST(the channel carries the caller and the hangup disposition recv_bye) {
  fixture f;
  std::string uuid;
  f.send(invite("1000", "call-2"));
  f.core.set_event_interest({});
  std::vector<fsemu::sip_datagram> out;
  f.uas.receive(in_dialog("BYE", "call-2", 2), f.caller, f.now, out);
  bool seen = false;
  for (const auto& ev : f.core.take_events(f.now)) {
    if (ev.name != "CHANNEL_HANGUP_COMPLETE" || !ev.channel)
      continue;
    seen = true;
    const auto* disposition = ev.channel->find_variable("sip_hangup_disposition");
    CAF_REQUIRE(disposition != nullptr);
    CAF_CHECK_EQUAL(*disposition, "recv_bye");
    CAF_REQUIRE(ev.channel->caller.has_value());
    CAF_CHECK_EQUAL(ev.channel->caller->caller_id_number, "5551000");
    CAF_CHECK_EQUAL(ev.channel->caller->destination_number, "1000");
  }
  CAF_CHECK(seen);
}

CAF_TEST(when the switch hangs up the caller gets a BYE routed by the Record-Route set) {
  fixture f;
  auto out = f.send(invite("9197", "call-3",
                           "Record-Route: <sip:10.0.0.9:5060;lr>, <sip:10.0.0.8;lr;r2=on>\r\n"));
  auto ok = parsed(out, 1);
  CAF_CHECK_EQUAL(ok.status, 200);
  auto routes = ok.header_values("Record-Route");
  CAF_REQUIRE_EQUAL(routes.size(), 2u);
  CAF_CHECK_EQUAL(routes[0], "<sip:10.0.0.9:5060;lr>");
  // 9197 plays a 2 s tone and hangs up.
  out = f.at(2.5);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  auto bye = parsed(out, 0);
  CAF_CHECK_EQUAL(bye.method, "BYE");
  CAF_CHECK_EQUAL(bye.request_uri, "sip:5551000@127.0.0.1:5061");
  CAF_CHECK_EQUAL(out[0].to.address, "10.0.0.9");
  CAF_CHECK_EQUAL(out[0].to.port, 5060u);
  auto route = bye.header_values("Route");
  CAF_REQUIRE_EQUAL(route.size(), 2u);
  CAF_CHECK_EQUAL(route[1], "<sip:10.0.0.8;lr;r2=on>");
  CAF_CHECK_EQUAL(bye.header("To"), "\"Ann\" <sip:5551000@127.0.0.1:5061>;tag=abc");
  CAF_CHECK(fsemu::header_param(bye.header("From"), "tag").has_value());
  // Its 200 ends the dialog.
  std::string reply = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx\r\n"
                      "From: " + std::string{bye.header("From")} + "\r\nTo: "
                      + std::string{bye.header("To")} + "\r\nCall-ID: call-3\r\nCSeq: 1 BYE\r\n"
                      "Content-Length: 0\r\n\r\n";
  CAF_CHECK(f.send(reply).empty());
  f.uas.advance(f.now);
  CAF_CHECK_EQUAL(f.uas.dialog_count(), 0u);
}

CAF_TEST(while inbound calls are paused INVITE and OPTIONS get 503 with Retry-After) {
  fixture f;
  CAF_CHECK_EQUAL(f.core.api("fsctl pause inbound", f.now), "+OK\n");
  auto out = f.send(invite("1000", "call-4"));
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  auto refused = parsed(out, 1);
  CAF_CHECK_EQUAL(refused.status, 503);
  CAF_CHECK_EQUAL(refused.reason, "Maximum Calls In Progress");
  CAF_CHECK_EQUAL(refused.header("Retry-After"), "300");
  CAF_CHECK_EQUAL(f.core.session_count(), 0u);
  out = f.send(in_dialog("OPTIONS", "probe-1", 1));
  CAF_CHECK_EQUAL(parsed(out, 0).status, 503);
  CAF_CHECK_EQUAL(f.core.api("fsctl resume inbound", f.now), "+OK\n");
  out = f.send(in_dialog("OPTIONS", "probe-2", 1));
  CAF_CHECK_EQUAL(parsed(out, 0).status, 200);
}

CAF_TEST(CANCEL of a ringing call answers 200 and 487 and hangs the channel up) {
  fixture f;
  // 8084 waits for its socket client, so the call stays ringing (no connector: it fails).
  fsemu::switch_config config;
  fsemu::dialplan_extension waiting;
  waiting.destination = "7000";
  waiting.action = fsemu::extension_action::socket;
  waiting.socket_address = "127.0.0.1:1";
  config.dialplan.push_back(waiting);
  fsemu::switch_core core{config, t0};
  core.set_socket_connector([](std::string_view, std::string_view) { return true; });
  fsemu::sip_uas uas{core, {}};
  std::vector<fsemu::sip_datagram> out;
  uas.receive(invite("7000", "call-5"), f.caller, t0, out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK_EQUAL(core.session_count(), 1u);
  out.clear();
  std::string cancel = invite("7000", "call-5");
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
  uas.receive(cancel, f.caller, t0, out);
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  CAF_CHECK_EQUAL(parsed(out, 0).status, 200);
  CAF_CHECK_EQUAL(parsed(out, 1).status, 487);
  CAF_CHECK_EQUAL(parsed(out, 1).cseq_method, "INVITE");
  CAF_CHECK_EQUAL(core.session_count(), 0u);
}

CAF_TEST(an unrouted number gets 404 and unknown dialogs get 481) {
  fixture f;
  auto out = f.send(invite("4711", "call-6"));
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  CAF_CHECK_EQUAL(parsed(out, 1).status, 404);
  out = f.send(in_dialog("BYE", "nobody", 2));
  CAF_CHECK_EQUAL(parsed(out, 0).status, 481);
}

CAF_TEST(INFO with dtmf-relay fires DTMF on the channel) {
  fixture f;
  f.send(invite("1000", "call-7"));
  (void)f.core.take_events(f.now);
  std::vector<fsemu::sip_datagram> out;
  f.uas.receive(in_dialog("INFO", "call-7", 2, "application/dtmf-relay",
                          "Signal=11\r\nDuration=160\r\n"),
                f.caller, f.now, out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  CAF_CHECK_EQUAL(parsed(out, 0).status, 200);
  bool seen = false;
  for (const auto& ev : f.core.take_events(f.now)) {
    if (ev.name != "DTMF")
      continue;
    seen = true;
    for (const auto& h : ev.extras)
      if (h.name == "DTMF-Digit")
        CAF_CHECK_EQUAL(h.value, "#");
  }
  CAF_CHECK(seen);
}

CAF_TEST(a retransmitted INVITE gets the same answer and no second channel) {
  fixture f;
  auto first = f.send(invite("1000", "call-8"));
  auto again = f.send(invite("1000", "call-8"));
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].text, first[1].text);
  CAF_CHECK_EQUAL(f.core.session_count(), 1u);
}

CAF_TEST(an INVITE relayed by a proxy is answered to the proxy with every Via in order) {
  fixture f;
  // As Kamailio relays it: its own Via on top (rport asked), the caller's below, Record-Route.
  std::string text = "INVITE sip:1000@127.0.0.1:5080 SIP/2.0\r\n";
  text += "Record-Route: <sip:127.0.0.1:5060;lr>\r\n";
  text += "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy;rport\r\n";
  text += "Via: SIP/2.0/UDP 10.1.1.1:5061;received=10.1.1.1;rport=5061;branch=z9hG4bKcaller\r\n";
  text += "From: <sip:5551000@10.1.1.1:5061>;tag=abc\r\n";
  text += "To: <sip:1000@127.0.0.1:5060>\r\n";
  text += "Call-ID: proxied-1\r\n";
  text += "CSeq: 1 INVITE\r\n";
  text += "Contact: <sip:5551000@10.1.1.1:5061>\r\n";
  text += "Content-Length: 0\r\n\r\n";
  fsemu::sip_peer proxy{"127.0.0.1", 5060};
  std::vector<fsemu::sip_datagram> out;
  f.uas.receive(text, proxy, f.now, out);
  f.pump(out);
  CAF_REQUIRE_EQUAL(out.size(), 2u);
  for (const auto& d : out) {
    CAF_CHECK_EQUAL(d.to.address, "127.0.0.1");
    CAF_CHECK_EQUAL(d.to.port, 5060u);
  }
  auto ok = parsed(out, 1);
  CAF_CHECK_EQUAL(ok.status, 200);
  auto vias = ok.header_values("Via");
  CAF_REQUIRE_EQUAL(vias.size(), 2u);
  CAF_CHECK_EQUAL(vias[0],
                  "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy;received=127.0.0.1;rport=5060");
  CAF_CHECK_EQUAL(vias[1],
                  "SIP/2.0/UDP 10.1.1.1:5061;received=10.1.1.1;rport=5061;branch=z9hG4bKcaller");
  auto routes = ok.header_values("Record-Route");
  CAF_REQUIRE_EQUAL(routes.size(), 1u);
  CAF_CHECK_EQUAL(routes[0], "<sip:127.0.0.1:5060;lr>");
  // The retransmission Kamailio sends before the answer reaches it gets the same 200 again.
  out.clear();
  f.uas.receive(text, proxy, f.now, out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  auto again = parsed(out, 0);
  CAF_CHECK_EQUAL(again.status, 200);
  CAF_CHECK_EQUAL(f.core.session_count(), 1u);
}
