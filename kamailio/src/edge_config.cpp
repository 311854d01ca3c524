#include "kamailio/edge_config.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include <arpa/inet.h>

#include "kamailio/internal/edge_template.hpp"

namespace callgrid::kamailio {

namespace {

bool is_ipv4(const std::string& text) {
  in_addr addr{};
  return ::inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr addr{};
  return ::inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size())
    return std::nullopt;
  return value;
}

/// A path Kamailio can take inside a quoted string: absolute, no quote, no control character.
bool usable_path(const std::string& path) {
  return !path.empty() && path.front() == '/'
         && std::none_of(path.begin(), path.end(), [](char c) {
              return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
            });
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

error invalid(const std::vector<std::string>& problems) {
  std::string message = "the edge settings cannot be rendered:";
  for (const auto& p : problems)
    message += "\n  " + p;
  return make_error(errc::invalid_settings, std::move(message));
}

} // namespace

const std::vector<dispatcher_algorithm>& dispatcher_algorithms() {
  static const std::vector<dispatcher_algorithm> table{
    {"hash_callid", 0, "hash over the Call-ID"},
    {"hash_from", 1, "hash over the From URI"},
    {"hash_to", 2, "hash over the To URI"},
    {"hash_request_uri", 3, "hash over the Request-URI user"},
    {"round_robin", 4, "round robin"},
    {"hash_auth_user", 5, "hash over the authorization user (round robin without one)"},
    {"random", 6, "random"},
    {"priority", 8, "highest priority first (serial)"},
    {"weight", 9, "by the weight attribute (percent of calls)"},
    {"relative_weight", 11, "by relative weight among active nodes"},
    {"latency", 13, "round robin among the best-latency nodes"},
  };
  return table;
}

std::optional<int> algorithm_number(std::string_view word) {
  for (const auto& a : dispatcher_algorithms())
    if (a.word == word)
      return a.number;
  return std::nullopt;
}

result<trusted_peer> parse_trusted_peer(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_settings,
                      "trusted peer '" + std::string{text} + "': " + why);
  };
  trusted_peer peer;
  std::string_view host = text;
  std::optional<std::string_view> port_text;
  std::optional<std::string_view> prefix_text;
  if (auto slash = host.find('/'); slash != std::string_view::npos) {
    prefix_text = host.substr(slash + 1);
    host = host.substr(0, slash);
  }
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos)
      return bad("'[' without ']'");
    auto rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return bad("expected ':PORT' after ']'");
      port_text = rest.substr(1);
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    auto colon = host.find(':');
    port_text = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  peer.address = std::string{host};
  bool v4 = is_ipv4(peer.address);
  bool v6 = !v4 && is_ipv6(peer.address);
  if (!v4 && !v6)
    return bad("not an IPv4 or IPv6 address (no host names: Kamailio matches addresses only)");
  peer.prefix = v4 ? 32 : 128;
  if (prefix_text) {
    auto prefix = parse_int(*prefix_text);
    if (!prefix || *prefix < 0 || *prefix > peer.prefix)
      return bad("the prefix length must be 0 to " + std::to_string(peer.prefix));
    peer.prefix = *prefix;
  }
  if (port_text) {
    auto port = parse_int(*port_text);
    if (!port || *port < 1 || *port > 65535)
      return bad("the port must be 1 to 65535");
    peer.port = static_cast<std::uint16_t>(*port);
  }
  if (v6)
    peer.address = "[" + peer.address + "]";
  return peer;
}

std::vector<std::string> validate_edge_settings(const edge_settings& s) {
  std::vector<std::string> problems;
  if (s.sip_host.empty()
      || !(is_ipv4(s.sip_host) || is_ipv6(s.sip_host)))
    problems.push_back("sip_host '" + s.sip_host + "' is not an IPv4 or IPv6 address");
  if (s.sip_port == 0)
    problems.push_back("sip_port must be 1 to 65535");
  auto check_path = [&](const std::string& name, const std::string& path) {
    if (!usable_path(path))
      problems.push_back(name + " '" + path
                         + "' must be an absolute path without quotes or control characters");
  };
  check_path("dispatcher_list", s.dispatcher_list);
  check_path("address_list", s.address_list);
  check_path("rpc_socket", s.rpc_socket);
  check_path("runtime_dir", s.runtime_dir);
  // sockaddr_un holds 107 bytes of path.
  if (s.rpc_socket.size() > 107)
    problems.push_back("rpc_socket is longer than 107 bytes (a unix socket path limit)");
  if (s.set_id < 0)
    problems.push_back("set_id must not be negative");
  if (!algorithm_number(s.algorithm)) {
    std::string words;
    for (const auto& a : dispatcher_algorithms())
      words += (words.empty() ? "" : ", ") + std::string{a.word};
    problems.push_back("algorithm '" + s.algorithm + "' is not one of " + words
                       + (s.algorithm == "call_load"
                            ? " (call_load disables dispatcher.reload in Kamailio)"
                            : ""));
  }
  auto in_range = [&](const std::string& name, int value, int low, int high) {
    if (value < low || value > high)
      problems.push_back(name + " is " + std::to_string(value) + ", must be " + std::to_string(low)
                         + " to " + std::to_string(high));
  };
  in_range("probe_interval", s.probe_interval_s, 1, 3600);
  in_range("probing_threshold", s.probing_threshold, 1, 100);
  in_range("inactive_threshold", s.inactive_threshold, 1, 100);
  in_range("pike_window", s.pike_window_s, 1, 3600);
  in_range("pike_requests", s.pike_requests, 1, 1'000'000);
  in_range("ban_time", s.ban_time_s, 1, 86'400 * 7);
  // Kamailio's receive buffer (BUF_SIZE) is 65535 bytes; below 1024 even small INVITEs fail
  // (the same bounds as the configuration's edge.max_message_size).
  in_range("max_message_bytes", s.max_message_bytes, 1024, 65'535);
  in_range("failover_timeout", s.failover_timeout_ms, 100, 120'000);
  in_range("children", s.children, 1, 64);
  for (const auto& peer : s.trusted_peers)
    if (auto parsed = parse_trusted_peer(peer); !parsed)
      problems.push_back(parsed.error().message);
  return problems;
}

result<std::string> render_edge_config(const edge_settings& s) {
  if (auto problems = validate_edge_settings(s); !problems.empty())
    return invalid(problems);
  auto host = is_ipv6(s.sip_host) ? "[" + s.sip_host + "]" : s.sip_host;
  const std::map<std::string, std::string> values{
    {"SIP_HOST", host},
    {"SIP_PORT", std::to_string(s.sip_port)},
    {"PING_FROM", "sip:edge@" + host},
    {"DISPATCHER_LIST", s.dispatcher_list},
    {"ADDRESS_LIST", s.address_list},
    {"RPC_SOCKET", s.rpc_socket},
    {"RUNTIME_DIR", s.runtime_dir},
    {"SET_ID", std::to_string(s.set_id)},
    {"ALGORITHM", std::to_string(*algorithm_number(s.algorithm))},
    {"ALGORITHM_WORD", s.algorithm},
    {"PROBE_INTERVAL", std::to_string(s.probe_interval_s)},
    {"PROBING_THRESHOLD", std::to_string(s.probing_threshold)},
    {"INACTIVE_THRESHOLD", std::to_string(s.inactive_threshold)},
    {"PIKE_WINDOW", std::to_string(s.pike_window_s)},
    {"PIKE_REQUESTS", std::to_string(s.pike_requests)},
    {"BAN_TIME", std::to_string(s.ban_time_s)},
    {"MAX_MESSAGE_BYTES", std::to_string(s.max_message_bytes)},
    {"CHILDREN", std::to_string(s.children)},
    {"FAILOVER_TIMEOUT", std::to_string(s.failover_timeout_ms)},
  };
  std::string out{edge_config_template()};
  for (const auto& [name, value] : values)
    replace_all(out, "@@" + name + "@@", value);
  return out;
}

result<std::string> render_address_list(const edge_settings& s) {
  std::string out =
    "# Trusted SIP peers of the callgrid edge (permissions address file, group 1), rendered by\n"
    "# callgridctl edge render. Format: group address prefix port (port 0 = any).\n";
  std::vector<std::string> problems;
  for (const auto& text : s.trusted_peers) {
    auto peer = parse_trusted_peer(text);
    if (!peer) {
      problems.push_back(peer.error().message);
      continue;
    }
    out += "1 " + peer->address + " " + std::to_string(peer->prefix) + " "
           + std::to_string(peer->port) + "\n";
  }
  if (!problems.empty())
    return invalid(problems);
  return out;
}

std::string_view edge_config_template() noexcept {
  return internal::edge_config_template_text;
}

} // namespace callgrid::kamailio
