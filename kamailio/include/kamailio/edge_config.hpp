#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kamailio/errc.hpp"

/// The Kamailio 5.6 configuration of callgrid's SIP edge, rendered from `kamailio.cfg.in`
/// (embedded at build time) and a few settings, plus the permissions module's address file
/// (the trunk allow-list). Pure: no I/O. `callgridctl edge render` writes the results.
///
/// ```
/// kamailio::edge_settings edge;
/// edge.sip_host = "203.0.113.10";
/// edge.trusted_peers = {"198.51.100.7", "192.0.2.0/24"};
/// auto cfg = kamailio::render_edge_config(edge);          // kamailio.cfg text
/// auto allow = kamailio::render_address_list(edge);       // address file text
/// ```
namespace callgrid::kamailio {

/// Everything the template needs. Plain data; the defaults suit one edge on a Debian host.
struct edge_settings {
  /// Address and UDP port Kamailio listens on for SIP.
  std::string sip_host = "127.0.0.1";
  std::uint16_t sip_port = 5060;
  /// The dispatcher list file (absolute; written by callgrid's dispatcher writer).
  std::string dispatcher_list = "/var/lib/callgrid/edge/dispatcher.list";
  /// The permissions module's address file holding the trusted peers (absolute).
  std::string address_list = "/var/lib/callgrid/edge/address.list";
  /// The jsonrpcs datagram control socket (absolute).
  std::string rpc_socket = "/run/kamailio/kamailio_rpc.sock";
  /// Kamailio's runtime directory (`rundir`, absolute).
  std::string runtime_dir = "/run/kamailio";
  /// The dispatcher set calls are spread over.
  int set_id = 1;
  /// How calls are spread: a word of `dispatcher_algorithms()` ("round_robin", "weight", ...).
  std::string algorithm = "round_robin";
  /// Seconds between OPTIONS probes of each node (`ds_ping_interval`).
  int probe_interval_s = 5;
  /// Failed probes before a node is set inactive (`ds_probing_threshold`).
  int probing_threshold = 2;
  /// Answered probes before an inactive node is active again (`ds_inactive_threshold`).
  int inactive_threshold = 2;
  /// Trusted peers (trunks): "ADDRESS", "ADDRESS/PREFIX", "ADDRESS:PORT" or "[IPv6]:PORT".
  /// Everyone else gets 403, and only they skip the flood detector.
  std::vector<std::string> trusted_peers;
  /// Flood detection (pike) for untrusted sources: requests allowed per sampling window of
  /// this many seconds before the source is banned.
  int pike_window_s = 2;
  int pike_requests = 30;
  /// How long a flooding source stays banned (its requests are dropped unanswered), seconds.
  int ban_time_s = 300;
  /// Larger SIP messages are refused with 513.
  int max_message_bytes = 8192;
  /// How long a node may stay silent after an INVITE before the call fails over to the next
  /// node (tm's `fr_timer`), milliseconds.
  int failover_timeout_ms = 3000;
  /// Kamailio worker processes for UDP.
  int children = 4;
};

/// One dispatcher algorithm: the word used in callgrid's settings and Kamailio's number.
struct dispatcher_algorithm {
  std::string_view word;
  int number;
  std::string_view meaning;
};

/// The algorithms callgrid offers (Kamailio's call-load algorithm 10 is left out: it disables
/// `dispatcher.reload`, which callgrid needs). Never fails.
[[nodiscard]] const std::vector<dispatcher_algorithm>& dispatcher_algorithms();

/// Kamailio's number for the algorithm `word`, or `nullopt` when callgrid does not know it.
[[nodiscard]] std::optional<int> algorithm_number(std::string_view word);

/// A trusted peer as the permissions address file holds it. Plain data.
struct trusted_peer {
  std::string address;
  int prefix = 32;
  /// 0 = any port.
  std::uint16_t port = 0;

  friend bool operator==(const trusted_peer&, const trusted_peer&) = default;
};

/// Parses one trusted-peer entry ("192.0.2.7", "192.0.2.0/24", "192.0.2.7:5060",
/// "2001:db8::1", "[2001:db8::1]:5060", "2001:db8::/32"). Only IP addresses: Kamailio does no
/// DNS here. Fails with `errc::invalid_settings` saying what is wrong.
[[nodiscard]] result<trusted_peer> parse_trusted_peer(std::string_view text);

/// Every problem of `settings`, one sentence each naming the setting (empty when it renders).
[[nodiscard]] std::vector<std::string> validate_edge_settings(const edge_settings& settings);

/// Renders kamailio.cfg for `settings`; `errc::invalid_settings` listing every problem.
[[nodiscard]] result<std::string> render_edge_config(const edge_settings& settings);

/// Renders the permissions address file: group 1, one line per trusted peer
/// (`1 ADDRESS PREFIX PORT`); `errc::invalid_settings` for a peer that does not parse.
[[nodiscard]] result<std::string> render_address_list(const edge_settings& settings);

/// The template as embedded at build time (kamailio/kamailio.cfg.in), with its `@@NAME@@`
/// placeholders.
[[nodiscard]] std::string_view edge_config_template() noexcept;

} // namespace callgrid::kamailio
