#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sip_message.hpp"
#include "switch_core.hpp"

/// fsemu's SIP user agent server as a pure state machine: datagrams and switch events in,
/// datagrams out. No sockets, no clock (times come in). Good enough for a caller such as sipp
/// and for Kamailio's dispatcher in front: INVITE (100 Trying, then 200 OK with a minimal SDP
/// once the channel answers, or a final error from the hangup cause; 503 "Maximum Calls In
/// Progress" with Retry-After while paused or full), ACK, BYE, CANCEL (487 for the INVITE),
/// OPTIONS (200, 503 while paused), INFO with `application/dtmf-relay`. No media.
///
/// ```
/// fsemu::sip_uas uas{core, {.address = "127.0.0.1", .port = 5080}};
/// std::vector<fsemu::sip_datagram> out;
/// uas.receive(datagram, {"127.0.0.1", 5061}, now_us, out);     // INVITE -> 100, 200
/// for (auto& ev : core.take_events(now_us)) uas.observe(ev, now_us, out);   // hangup -> BYE
/// for (auto& d : out) socket.send_to(d.text, d.to);
/// ```
namespace callgrid::fsemu {

/// A UDP peer. Plain data.
struct sip_peer {
  std::string address;
  std::uint16_t port = 0;
};

/// One datagram to send. Plain data.
struct sip_datagram {
  sip_peer to;
  std::string text;
};

/// How the UAS presents itself. Plain data.
struct sip_uas_config {
  /// The address and port it listens on (Contact, Via of its BYEs, SDP).
  std::string address = "127.0.0.1";
  std::uint16_t port = 5080;
  /// The dialplan context its calls arrive in (the captured box routes `internal` to "default").
  std::string context = "default";
  /// User-Agent / Server header.
  std::string user_agent = "FreeSWITCH-mod_sofia/1.10.12-release~64bit";
};

/// The SIP calls of one switch. Owned by the program's SIP socket (one per process); used on
/// the listener's I/O thread only; holds a reference to the switch, which must outlive it.
/// Never fails: malformed datagrams are dropped (requests that parse but lack what the method
/// needs get a 400), requests for unknown dialogs a 481. Responses go back to the datagram's
/// source. Not done: retransmissions (of 200 OK until ACK, of BYE until its 200) — fine on
/// loopback, not on a lossy network; TCP/TLS; authentication; re-INVITE changes (answered 200
/// with the same SDP).
class sip_uas {
public:
  /// A UAS for `core` presenting itself as `config` says.
  sip_uas(switch_core& core, sip_uas_config config);

  /// Handles one datagram from `from` received at `now_us`; appends the datagrams to send.
  void receive(std::string_view datagram, const sip_peer& from, std::int64_t now_us,
               std::vector<sip_datagram>& out);

  /// Sees one switch event: the answer of a SIP channel sends its 200 OK; the hangup of a SIP
  /// channel sends a final error (not answered yet) or a BYE (answered, not hung up by the
  /// caller).
  void observe(const switch_event& event, std::int64_t now_us, std::vector<sip_datagram>& out);

  /// Whether `observe` needs events of this name (CHANNEL_ANSWER, CHANNEL_HANGUP).
  [[nodiscard]] static bool observes(std::string_view event_name) noexcept;

  /// When `advance` has work: forgetting ended dialogs (32 s after the end, RFC 3261 Timer
  /// F/H), or `nullopt`.
  [[nodiscard]] std::optional<std::int64_t> next_due() const;

  /// Forgets dialogs whose time is up at `now_us`.
  void advance(std::int64_t now_us);

  /// Dialogs known now (calls up, and ended ones not yet forgotten).
  [[nodiscard]] std::size_t dialog_count() const noexcept { return dialogs_.size(); }

private:
  enum class dialog_state : std::uint8_t { early, answered, ended };
  struct dialog {
    std::string channel_uuid;
    std::string call_id;
    std::uint32_t invite_cseq = 0;
    std::string invite_branch;
    sip_peer source;
    /// The INVITE's Via, From, To (with our tag), Call-ID, CSeq and Record-Route lines.
    std::vector<std::string> vias;
    std::string from;
    std::string to;
    std::vector<std::string> record_route;
    /// The caller's Contact (remote target of our BYE).
    std::string remote_contact;
    dialog_state state = dialog_state::early;
    /// The last response to the INVITE, resent for a retransmitted INVITE.
    std::string invite_response;
    bool caller_hung_up = false;
    std::uint32_t local_cseq = 1;
    std::int64_t forget_at_us = 0;
  };

  void on_invite(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                 std::vector<sip_datagram>& out);
  void on_bye(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
              std::vector<sip_datagram>& out);
  void on_cancel(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
                 std::vector<sip_datagram>& out);
  void on_info(const sip_message& msg, const sip_peer& from, std::int64_t now_us,
               std::vector<sip_datagram>& out);
  void send_bye(dialog& d, std::int64_t now_us, std::vector<sip_datagram>& out);
  void end(dialog& d, std::int64_t now_us);
  [[nodiscard]] std::string response(const sip_message& request, int status,
                                     std::string_view reason, std::string_view to_tag,
                                     std::vector<std::string> extra_headers = {},
                                     std::string_view content_type = {},
                                     std::string_view body = {}) const;
  [[nodiscard]] std::string invite_response(const dialog& d, int status,
                                            std::string_view reason) const;
  [[nodiscard]] std::string sdp() const;
  [[nodiscard]] std::string new_tag();
  dialog* find(std::string_view call_id);

  switch_core* core_;
  sip_uas_config config_;
  /// Dialogs by Call-ID.
  std::map<std::string, dialog, std::less<>> dialogs_;
  /// SIP channel UUID -> Call-ID.
  std::unordered_map<std::string, std::string> by_channel_;
};

} // namespace callgrid::fsemu
