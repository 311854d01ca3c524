#include "config/key_schema.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <limits>
#include <type_traits>
#include <utility>

namespace callgrid::config {

namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
using check_result = std::optional<std::pair<std::string, std::string>>;

// --- enumerations -------------------------------------------------------------------------------

std::span<const std::string_view> names_of(daemon_role) { return daemon_role_names; }
std::span<const std::string_view> names_of(event_format) { return event_format_names; }
std::span<const std::string_view> names_of(log_level) { return log_level_names; }
std::span<const std::string_view> names_of(log_format) { return log_format_names; }
std::span<const std::string_view> names_of(scheduler_policy) { return scheduler_policy_names; }
std::span<const std::string_view> names_of(dispatcher_algorithm) {
  return dispatcher_algorithm_names;
}

template <class Enum>
std::string_view enum_name(Enum value) noexcept {
  auto names = names_of(value);
  auto index = static_cast<std::size_t>(value);
  return index < names.size() ? names[index] : "?"sv;
}

// --- binding of keys to daemon_config members ---------------------------------------------------

template <class T>
constexpr value_kind kind_of() {
  if constexpr (std::is_same_v<T, bool>)
    return value_kind::boolean;
  else if constexpr (std::is_enum_v<T>)
    return value_kind::choice;
  else if constexpr (std::is_integral_v<T>)
    return value_kind::integer;
  else if constexpr (std::is_same_v<T, std::chrono::milliseconds>)
    return value_kind::duration;
  else if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return value_kind::string_list;
  else
    return value_kind::string;
}

template <class T>
void assign(T& field, const setting_value& value) {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>
                || std::is_same_v<T, std::chrono::milliseconds>
                || std::is_same_v<T, std::vector<std::string>>) {
    field = std::get<T>(value);
  } else if constexpr (std::is_enum_v<T>) {
    auto names = names_of(T{});
    const auto& word = std::get<std::string>(value);
    auto pos = std::find(names.begin(), names.end(), word);
    if (pos != names.end())
      field = static_cast<T>(pos - names.begin());
  } else {
    static_assert(std::is_integral_v<T>);
    field = static_cast<T>(std::get<std::int64_t>(value));
  }
}

template <class T>
setting_value to_setting(const T& field) {
  if constexpr (std::is_enum_v<T>)
    return std::string{enum_name(field)};
  else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<std::int64_t>(field);
  else
    return field;
}

template <auto Section, auto Field>
struct nested_field {
  static auto& get(daemon_config& config) { return config.*Section.*Field; }
  static const auto& get(const daemon_config& config) { return config.*Section.*Field; }
};

template <auto Field>
struct top_field {
  static auto& get(daemon_config& config) { return config.*Field; }
  static const auto& get(const daemon_config& config) { return config.*Field; }
};

template <class Access>
key_spec bind(key_spec spec) {
  using field_type = std::remove_cvref_t<decltype(Access::get(std::declval<daemon_config&>()))>;
  spec.kind = kind_of<field_type>();
  if constexpr (std::is_enum_v<field_type>)
    spec.choices = names_of(field_type{});
  spec.store = [](daemon_config& config, const setting_value& value) {
    assign(Access::get(config), value);
  };
  spec.load = [](const daemon_config& config) { return to_setting(Access::get(config)); };
  return spec;
}

template <auto Section, auto Field>
key_spec key(key_spec spec) {
  return bind<nested_field<Section, Field>>(spec);
}

// --- string checks ------------------------------------------------------------------------------

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

check_result check_host(std::string_view text) {
  if (text.empty())
    return std::pair{"is empty"s, "write an IP address or a host name, e.g. \"127.0.0.1\""s};
  std::string copy{text};
  in6_addr v6{};
  if (inet_pton(AF_INET6, copy.c_str(), &v6) == 1)
    return std::nullopt;
  if (text.find(':') != std::string_view::npos)
    return std::pair{"\"" + copy + "\" is not an IP address or host name",
                     "write the address alone; the port is a key of its own"s};
  if (!std::all_of(text.begin(), text.end(), is_host_char))
    return std::pair{"\"" + copy + "\" is not an IP address or host name",
                     "use letters, digits, '-', '_' and '.' only"s};
  return std::nullopt;
}

check_result check_sip_uri(std::string_view text) {
  auto has_prefix = text.starts_with("sip:") || text.starts_with("sips:");
  auto body = has_prefix ? text.substr(text.find(':') + 1) : std::string_view{};
  auto has_space = std::any_of(text.begin(), text.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  });
  if (body.empty() || has_space)
    return std::pair{"\"" + std::string{text} + "\" is not a SIP URI",
                     "write it like \"sip:10.0.0.5:5060\""s};
  return std::nullopt;
}

check_result check_node_name(std::string_view text) {
  if (text.size() > 64 || !std::all_of(text.begin(), text.end(), is_host_char))
    return std::pair{"\"" + std::string{text} + "\" is not a valid node name",
                     "use at most 64 letters, digits, '-', '_' and '.', or leave it empty for "
                     "the host name"s};
  return std::nullopt;
}

check_result check_not_empty(std::string_view text) {
  if (text.empty())
    return std::pair{"is empty"s, "write a value, or remove the key to use the default"s};
  return std::nullopt;
}

check_result check_language(std::string_view text) {
  auto is_tag_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  };
  if (text.size() < 2 || text.size() > 35
      || std::isalpha(static_cast<unsigned char>(text.front())) == 0
      || !std::all_of(text.begin(), text.end(), is_tag_char))
    return std::pair{"\"" + std::string{text} + "\" is not a language tag",
                     "write a tag such as \"en\" or \"de-CH\""s};
  return std::nullopt;
}

check_result check_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return std::pair{"\"" + std::string{text} + "\" is not HOST:PORT"s,
                     "write it like \"10.0.0.2:4710\""s};
  auto port = text.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })
      || port.size() > 5 || std::stoi(std::string{port}) < 1 || std::stoi(std::string{port}) > 65535)
    return std::pair{"\"" + std::string{text} + "\" has no valid port"s,
                     "the port is a number from 1 to 65535"s};
  return check_host(text.substr(0, colon));
}

// --- the table ----------------------------------------------------------------------------------

constexpr std::int64_t ms = 1;
constexpr std::int64_t second = 1000 * ms;
constexpr std::int64_t minute = 60 * second;
constexpr std::int64_t hour = 60 * minute;

using dc = daemon_config;

const std::vector<key_spec>& table() {
  static const std::vector<key_spec> keys{
    bind<top_field<&dc::role>>({
      .name = "role", .default_toml = R"("all")",
      .description = "What this process does: `node` (owns the calls of the local FreeSWITCH), "
                     "`coordinator` (cluster registry, campaigns, admin API) or `all` (both, "
                     "for a single box and the demo).",
    }),

    key<&dc::node, &node_settings::name>({
      .name = "node.name", .default_toml = R"("")",
      .description = "Name of this node in the cluster; empty means the host name. At most 64 "
                     "letters, digits, `-`, `_` and `.`.",
      .check = check_node_name,
    }),
    key<&dc::node, &node_settings::sip_uri>({
      .name = "node.sip_uri", .default_toml = R"("sip:127.0.0.1:5060")",
      .description = "SIP URI of the local FreeSWITCH that Kamailio's dispatcher sends calls "
                     "to.",
      .check = check_sip_uri,
    }),
    key<&dc::node, &node_settings::capacity>({
      .name = "node.capacity", .default_toml = "1000", .unit = "calls", .restart = false,
      .description = "Maximum number of live calls on this node; also its dispatcher weight.",
      .min = 1, .max = 1'000'000,
    }),
    key<&dc::node, &node_settings::park_timeout>({
      .name = "node.park_timeout", .default_toml = R"("30s")", .restart = false,
      .description = "The `park_timeout` callgridd sets on the channels it originates: one "
                     "nobody takes over is hung up by FreeSWITCH after it. Inbound channels get "
                     "theirs from the dialplan (docs/callgridd.md).",
      .min = 1 * second, .max = 1 * hour,
    }),
    key<&dc::node, &node_settings::answer_timeout>({
      .name = "node.answer_timeout", .default_toml = R"("60s")", .restart = false,
      .description = "How long a leg callgridd dials may ring before FreeSWITCH gives it up "
                     "with NO_ANSWER: a bridge (route or flow; `originate_timeout` in its dial "
                     "string unless the dial string sets one) and a call placed with `POST "
                     "/v1/calls` without a `timeout`.",
      .min = 1 * second, .max = 10 * minute,
    }),

    key<&dc::esl, &esl_settings::host>({
      .name = "esl.host", .default_toml = R"("127.0.0.1")",
      .description = "Address of FreeSWITCH's event socket. Must be loopback (127.0.0.0/8, "
                     "`::1`, `localhost`) unless `esl.allow_remote` is true.",
      .check = check_host,
    }),
    key<&dc::esl, &esl_settings::port>({
      .name = "esl.port", .default_toml = "8021", .unit = "TCP port",
      .description = "Port of FreeSWITCH's event socket.",
      .min = 1, .max = 65535,
    }),
    key<&dc::esl, &esl_settings::password>({
      .name = "esl.password",
      .description = "Event socket password (required). Refused when it is FreeSWITCH's "
                     "default `ClueCon` (any case), empty or shorter than 12 characters. Masked "
                     "in the effective configuration.",
    }),
    key<&dc::esl, &esl_settings::allow_remote>({
      .name = "esl.allow_remote", .default_toml = "false",
      .description = "Permits a non-loopback `esl.host`. The event socket controls every call "
                     "in clear text: use it only on a private network.",
    }),
    key<&dc::esl, &esl_settings::connect_timeout>({
      .name = "esl.connect_timeout", .default_toml = R"("5s")",
      .description = "Time allowed for connecting and authenticating to the event socket.",
      .min = 100 * ms, .max = 5 * minute,
    }),
    key<&dc::esl, &esl_settings::reconnect_max>({
      .name = "esl.reconnect_max", .default_toml = R"("15s")",
      .description = "Upper bound of the reconnect backoff after the event socket link is "
                     "lost.",
      .min = 100 * ms, .max = 1 * hour,
    }),
    key<&dc::esl, &esl_settings::events>({
      .name = "esl.events", .default_toml = R"("plain")",
      .description = "Event format requested from FreeSWITCH.",
    }),

    key<&dc::outbound, &outbound_settings::enabled>({
      .name = "outbound.enabled", .default_toml = "true",
      .description = "Runs the listener for FreeSWITCH's `socket` application (outbound ESL, "
                     "one connection per channel).",
    }),
    key<&dc::outbound, &outbound_settings::listen>({
      .name = "outbound.listen", .default_toml = R"("127.0.0.1")",
      .description = "Address the outbound listener binds to. Must be loopback unless "
                     "`outbound.allow_remote` is true.",
      .check = check_host,
    }),
    key<&dc::outbound, &outbound_settings::port>({
      .name = "outbound.port", .default_toml = "8084", .unit = "TCP port",
      .description = "Port of the outbound listener (the dialplan's `socket <host>:<port>`).",
      .min = 1, .max = 65535,
    }),
    key<&dc::outbound, &outbound_settings::linger>({
      .name = "outbound.linger", .default_toml = "true",
      .description = "Sends `linger` on each outbound session; without it the session never "
                     "sees CHANNEL_HANGUP_COMPLETE.",
    }),
    key<&dc::outbound, &outbound_settings::allow_remote>({
      .name = "outbound.allow_remote", .default_toml = "false",
      .description = "Permits a non-loopback `outbound.listen`: whoever connects there is "
                     "treated as FreeSWITCH.",
    }),

    key<&dc::database, &database_settings::conninfo>({
      .name = "database.conninfo", .default_toml = R"("")",
      .description = "libpq connection string (`host=... dbname=...` or a `postgresql://` "
                     "URI); empty means not configured. A password in it is masked in the "
                     "effective configuration.",
    }),
    key<&dc::database, &database_settings::connect_timeout>({
      .name = "database.connect_timeout", .default_toml = R"("5s")",
      .description = "Time allowed for opening one PostgreSQL connection.",
      .min = 1 * second, .max = 5 * minute,
    }),

    key<&dc::redis, &redis_settings::enabled>({
      .name = "redis.enabled", .default_toml = "true",
      .description = "Uses Redis for hot state (sessions, counters, rate limits, dedup keys).",
    }),
    key<&dc::redis, &redis_settings::host>({
      .name = "redis.host", .default_toml = R"("127.0.0.1")",
      .description = "Address of the Redis server.",
      .check = check_host,
    }),
    key<&dc::redis, &redis_settings::port>({
      .name = "redis.port", .default_toml = "6379", .unit = "TCP port",
      .description = "Port of the Redis server.",
      .min = 1, .max = 65535,
    }),
    key<&dc::redis, &redis_settings::timeout>({
      .name = "redis.timeout", .default_toml = R"("50ms")",
      .description = "Time budget of one Redis operation on the call path; when it is "
                     "exceeded the key class's failure policy applies.",
      .min = 1 * ms, .max = 10 * second,
    }),

    key<&dc::records, &records_settings::spool_dir>({
      .name = "records.spool_dir", .default_toml = R"("/var/spool/callgrid/records")",
      .description = "Directory of the durable call-record spool.",
      .check = check_not_empty,
    }),
    key<&dc::records, &records_settings::batch_size>({
      .name = "records.batch_size", .default_toml = "1000", .unit = "records",
      .description = "Records sent to PostgreSQL in one batch.",
      .min = 1, .max = 100'000,
    }),
    key<&dc::records, &records_settings::max_delay>({
      .name = "records.max_delay", .default_toml = R"("200ms")",
      .description = "Longest time a record waits for its batch to fill before it is sent. "
                     "The writer ships as soon as one of its connections is free, so records "
                     "usually wait only for the shipment before them (p99 47 ms at 1,000/s).",
      .min = 1 * ms, .max = 1 * minute,
    }),
    key<&dc::records, &records_settings::retry_max>({
      .name = "records.retry_max", .default_toml = R"("10s")",
      .description = "Upper bound of the retry backoff while PostgreSQL is unavailable "
                     "(records keep spooling meanwhile).",
      .min = 100 * ms, .max = 1 * hour,
    }),
    key<&dc::records, &records_settings::group_window>({
      .name = "records.group_window", .default_toml = R"("100ms")",
      .description = "Longest time a finished call's record waits before it is appended to "
                     "the spool; the records of one window share one fdatasync. Longer costs "
                     "less CPU and fewer disk flushes per call (at 1,000 calls/s, 100 ms "
                     "instead of 20 ms saved ~15 us of CPU per call), shorter makes records "
                     "durable sooner; nothing is lost meanwhile (the session journal keeps the "
                     "call until its record is in the spool).",
      .min = 1 * ms, .max = 1 * second,
    }),
    key<&dc::records, &records_settings::ship_connections>({
      .name = "records.ship_connections", .default_toml = "2", .unit = "connections",
      .description = "Threads that ship the spool to PostgreSQL, each with a connection of its "
                     "own. With two, one batch's COPY runs while the previous one waits for its "
                     "commit; more help only when PostgreSQL is far away. The catalog watcher "
                     "and a coordinator's cluster state use connections of their own.",
      .min = 1, .max = 16,
    }),

    key<&dc::http, &http_settings::listen>({
      .name = "http.listen", .default_toml = R"("127.0.0.1")",
      .description = "Address of the HTTP listener (`/metrics`, `/healthz`, `/readyz`, admin "
                     "API). Must be loopback unless `http.allow_remote` is true.",
      .check = check_host,
    }),
    key<&dc::http, &http_settings::port>({
      .name = "http.port", .default_toml = "9464", .unit = "TCP port",
      .description = "Port of the HTTP listener.",
      .min = 1, .max = 65535,
    }),
    key<&dc::http, &http_settings::allow_remote>({
      .name = "http.allow_remote", .default_toml = "false",
      .description = "Permits a non-loopback `http.listen` (e.g. for a Prometheus server on "
                     "another host).",
    }),

    key<&dc::log, &log_settings::level>({
      .name = "log.level", .default_toml = R"("info")", .restart = false,
      .description = "Lowest level written.",
    }),
    key<&dc::log, &log_settings::format>({
      .name = "log.format", .default_toml = R"("auto")",
      .description = "`json` (one object per line), `text`, or `auto`: JSON when "
                     "`JOURNAL_STREAM` is set (running under systemd), text otherwise.",
    }),

    key<&dc::scheduler, &scheduler_settings::threads>({
      .name = "scheduler.threads", .default_toml = "1", .unit = "threads",
      .description = "Worker threads of CAF's scheduler (`caf.scheduler.max-threads`) for the "
                     "`sharing` and `stealing` policies; `io` ignores it (its one worker is the "
                     "I/O thread). With more than one, the messages between the supervisor and "
                     "the call actors cross threads and wake them (bench/README.md, engine).",
      .min = 1, .max = 256,
    }),
    key<&dc::scheduler, &scheduler_settings::policy>({
      .name = "scheduler.policy", .default_toml = R"("io")",
      .description = "Where the actors run. `io`: on callgridd's I/O thread (ESL, Redis, HTTP), "
                     "so an event is handled on the thread that read it, with no hand-off and "
                     "no wake-up of another thread; blocking work (records, cluster elections) "
                     "keeps threads of its own. `sharing` (one shared queue) or `stealing`: on "
                     "CAF's worker threads (`scheduler.threads`).",
    }),

    key<&dc::ivr, &ivr_settings::default_language>({
      .name = "ivr.default_language", .default_toml = R"("en")",
      .description = "Which row of the catalog's `prompts` table plays when a flow names a "
                     "catalog prompt that has rows in several languages and none in the flow's "
                     "own `language`: the row in this language, else the one with the smallest "
                     "language code.",
      .check = check_language,
    }),

    key<&dc::cluster, &cluster_settings::listen>({
      .name = "cluster.listen", .default_toml = R"("127.0.0.1")",
      .description = "Address where the coordinator listens for node daemons (CAF remote "
                     "actors over TCP). Must be loopback unless `cluster.allow_remote` is true.",
      .check = check_host,
    }),
    key<&dc::cluster, &cluster_settings::port>({
      .name = "cluster.port", .default_toml = "4710", .unit = "TCP port",
      .description = "Port where the coordinator listens for node daemons.",
      .min = 1, .max = 65535,
    }),
    key<&dc::cluster, &cluster_settings::allow_remote>({
      .name = "cluster.allow_remote", .default_toml = "false",
      .description = "Permits a non-loopback `cluster.listen`. Without `cluster.tls_*` the "
                     "cluster link is plain TCP (a warning says so): use a private network or "
                     "TLS.",
    }),
    key<&dc::cluster, &cluster_settings::coordinators>({
      .name = "cluster.coordinators", .default_toml = R"(["127.0.0.1:4710"])",
      .description = "Coordinators a node daemon tries, each `HOST:PORT`; the one holding the "
                     "leader lock accepts it, the others point it to the leader. Empty: the "
                     "node runs standalone, outside any cluster.",
      .check = check_host_port,
    }),
    key<&dc::cluster, &cluster_settings::heartbeat_interval>({
      .name = "cluster.heartbeat_interval", .default_toml = R"("1s")",
      .description = "How often a node daemon reports its load to the coordinator.",
      .min = 100 * ms, .max = 1 * minute,
    }),
    key<&dc::cluster, &cluster_settings::suspect_after>({
      .name = "cluster.suspect_after", .default_toml = R"("3s")",
      .description = "A node silent for longer is `suspect`: reported, but still sent calls "
                     "(a short pause changes nothing).",
      .min = 200 * ms, .max = 10 * minute,
    }),
    key<&dc::cluster, &cluster_settings::down_after>({
      .name = "cluster.down_after", .default_toml = R"("10s")",
      .description = "A node silent for longer is `down`: Kamailio's dispatcher marks it "
                     "inactive and sends it no more calls. Must exceed `cluster.suspect_after`.",
      .min = 500 * ms, .max = 1 * hour,
    }),
    key<&dc::cluster, &cluster_settings::drain_deadline>({
      .name = "cluster.drain_deadline", .default_toml = R"("30m")",
      .description = "Deadline of `callgridctl node drain` when the operator gives none: calls "
                     "still up then are hung up with SYSTEM_SHUTDOWN.",
      .min = 1 * second, .max = 7 * 24 * hour,
    }),
    key<&dc::cluster, &cluster_settings::admin_token_file>({
      .name = "cluster.admin_token_file", .default_toml = R"("")",
      .description = "File holding the bearer token of the coordinator's admin API (one line). "
                     "Empty disables the admin API.",
    }),
    key<&dc::cluster, &cluster_settings::tls_certificate>({
      .name = "cluster.tls_certificate", .default_toml = R"("")", .unit = "PEM file",
      .description = "This daemon's certificate (chain, its own first) for TLS on the cluster "
                     "link, through CAF's OpenSSL module. Set together with `cluster.tls_key` "
                     "and `cluster.tls_ca_file` on the coordinators and on every node; empty: "
                     "plain TCP.",
    }),
    key<&dc::cluster, &cluster_settings::tls_key>({
      .name = "cluster.tls_key", .default_toml = R"("")", .unit = "PEM file",
      .description = "Private key of `cluster.tls_certificate`, not encrypted (keep the file "
                     "mode 0600).",
    }),
    key<&dc::cluster, &cluster_settings::tls_ca_file>({
      .name = "cluster.tls_ca_file", .default_toml = R"("")", .unit = "PEM file",
      .description = "CA certificate(s) a peer's certificate must chain to; a peer without one "
                     "is refused in the TLS handshake. Use a CA of the cluster's own: any "
                     "certificate it signed is admitted (no host name check).",
    }),

    key<&dc::edge, &edge_settings::enabled>({
      .name = "edge.enabled", .default_toml = "true",
      .description = "Whether the coordinator writes Kamailio's dispatcher list and tells "
                     "Kamailio about changes. Off for a single box without Kamailio (the demo).",
    }),
    key<&dc::edge, &edge_settings::sip_listen>({
      .name = "edge.sip_listen", .default_toml = R"("127.0.0.1")",
      .description = "Address of Kamailio's SIP listener (UDP).",
      .check = check_host,
    }),
    key<&dc::edge, &edge_settings::sip_port>({
      .name = "edge.sip_port", .default_toml = "5060", .unit = "UDP port",
      .description = "Port of Kamailio's SIP listener.",
      .min = 1, .max = 65535,
    }),
    key<&dc::edge, &edge_settings::dispatcher_list>({
      .name = "edge.dispatcher_list", .default_toml = R"("/var/lib/callgrid/dispatcher.list")",
      .description = "Dispatcher list file: written atomically by the coordinator, read by "
                     "Kamailio.",
      .check = check_not_empty,
    }),
    key<&dc::edge, &edge_settings::address_list>({
      .name = "edge.address_list", .default_toml = R"("/var/lib/callgrid/address.list")",
      .description = "Kamailio's permissions address file: the trusted peers, written by "
                     "`callgridctl edge render`.",
      .check = check_not_empty,
    }),
    key<&dc::edge, &edge_settings::rpc_socket>({
      .name = "edge.rpc_socket", .default_toml = R"("/run/kamailio/kamailio_rpc.sock")",
      .description = "Kamailio's JSON-RPC datagram socket (jsonrpcs module), used for "
                     "`dispatcher.set_state`, `dispatcher.reload` and `dispatcher.list`.",
      .check = check_not_empty,
    }),
    key<&dc::edge, &edge_settings::runtime_dir>({
      .name = "edge.runtime_dir", .default_toml = R"("/run/kamailio")",
      .description = "Kamailio's runtime directory (`rundir`).",
      .check = check_not_empty,
    }),
    key<&dc::edge, &edge_settings::dispatcher_set>({
      .name = "edge.dispatcher_set", .default_toml = "1",
      .description = "Dispatcher set id of the media nodes.",
      .min = 1, .max = 65535,
    }),
    key<&dc::edge, &edge_settings::algorithm>({
      .name = "edge.algorithm", .default_toml = R"("weight")",
      .description = "How the dispatcher picks a node: `weight` (by capacity), `round_robin`, "
                     "`hash_callid` or `random` (not `call_load`: it disables Kamailio's "
                     "`dispatcher.reload`, which the coordinator needs).",
    }),
    key<&dc::edge, &edge_settings::probe_interval>({
      .name = "edge.probe_interval", .default_toml = R"("5s")",
      .description = "Interval of Kamailio's OPTIONS probes to the nodes (its own failure "
                     "detection, which keeps working without a coordinator).",
      .min = 1 * second, .max = 10 * minute,
    }),
    key<&dc::edge, &edge_settings::probe_failures>({
      .name = "edge.probe_failures", .default_toml = "3",
      .description = "Failed probes in a row before Kamailio marks a node inactive.",
      .min = 1, .max = 100,
    }),
    key<&dc::edge, &edge_settings::probe_successes>({
      .name = "edge.probe_successes", .default_toml = "1",
      .description = "Answered probes in a row before an inactive node is active again.",
      .min = 1, .max = 100,
    }),
    key<&dc::edge, &edge_settings::failover_timeout>({
      .name = "edge.failover_timeout", .default_toml = R"("3s")",
      .description = "How long an INVITE waits for a reply from a node before Kamailio tries "
                     "the next one (failover happens only on this timeout and on 500).",
      .min = 100 * ms, .max = 1 * minute,
    }),
    key<&dc::edge, &edge_settings::trusted_peers>({
      .name = "edge.trusted_peers", .default_toml = R"(["127.0.0.1"])",
      .description = "Trunk addresses allowed to send calls (IP or CIDR); everyone else gets "
                     "403. Trusted peers also skip flood detection.",
      .check = check_not_empty,
    }),
    key<&dc::edge, &edge_settings::pike_requests>({
      .name = "edge.pike_requests", .default_toml = "30",
      .description = "Requests from one untrusted address per `edge.pike_interval` before it "
                     "is banned.",
      .min = 1, .max = 100'000,
    }),
    key<&dc::edge, &edge_settings::pike_interval>({
      .name = "edge.pike_interval", .default_toml = R"("2s")",
      .description = "Sampling interval of the flood detection (pike).",
      .min = 1 * second, .max = 1 * minute,
    }),
    key<&dc::edge, &edge_settings::ban_time>({
      .name = "edge.ban_time", .default_toml = R"("5m")",
      .description = "How long a flooding address stays banned.",
      .min = 1 * second, .max = 24 * hour,
    }),
    key<&dc::edge, &edge_settings::max_message_size>({
      .name = "edge.max_message_size", .default_toml = "8192", .unit = "bytes",
      .description = "Largest SIP message Kamailio accepts; larger ones are refused with 513 Message Too Large.",
      .min = 1024, .max = 65535,
    }),
  };
  return keys;
}

} // namespace

std::string_view to_string(daemon_role value) noexcept { return enum_name(value); }
std::string_view to_string(event_format value) noexcept { return enum_name(value); }
std::string_view to_string(log_level value) noexcept { return enum_name(value); }
std::string_view to_string(log_format value) noexcept { return enum_name(value); }
std::string_view to_string(scheduler_policy value) noexcept { return enum_name(value); }
std::string_view to_string(dispatcher_algorithm value) noexcept { return enum_name(value); }

std::string_view to_string(value_kind kind) noexcept {
  switch (kind) {
    case value_kind::string: return "string";
    case value_kind::integer: return "integer";
    case value_kind::boolean: return "boolean";
    case value_kind::duration: return "duration";
    case value_kind::choice: return "choice";
    case value_kind::string_list: return "array of strings";
  }
  return "?";
}

std::span<const key_spec> key_schema() noexcept { return table(); }

const key_spec* find_key(std::string_view dotted_name) noexcept {
  for (const auto& spec : table())
    if (spec.name == dotted_name)
      return &spec;
  return nullptr;
}

std::string env_name(std::string_view dotted_name) {
  std::string out{"CALLGRID_"};
  for (char c : dotted_name)
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  struct unit {
    std::string_view suffix;
    std::int64_t factor;
    int rank;
  };
  // "ms" before "m" and "s", so that "250ms" is not read as 250 minutes followed by "s".
  static constexpr unit units[] = {{"h", hour, 3}, {"ms", ms, 0}, {"m", minute, 2},
                                   {"s", second, 1}};
  constexpr auto limit = std::numeric_limits<std::int64_t>::max();
  if (text.empty())
    return std::nullopt;
  std::int64_t total = 0;
  int last_rank = 4;
  while (!text.empty()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])) != 0) {
      auto digit = static_cast<std::int64_t>(text[digits] - '0');
      if (number > (limit - digit) / 10)
        return std::nullopt;
      number = number * 10 + digit;
      ++digits;
    }
    if (digits == 0)
      return std::nullopt;
    text.remove_prefix(digits);
    const auto* found = std::find_if(std::begin(units), std::end(units),
                                     [&](const unit& u) { return text.starts_with(u.suffix); });
    if (found == std::end(units) || found->rank >= last_rank)
      return std::nullopt;
    last_rank = found->rank;
    text.remove_prefix(found->suffix.size());
    if (number > (limit - total) / found->factor)
      return std::nullopt;
    total += number * found->factor;
  }
  return std::chrono::milliseconds{total};
}

std::string format_duration(std::chrono::milliseconds value) {
  auto left = value.count();
  if (left <= 0)
    return std::to_string(left) + "ms";
  std::string out;
  for (auto [factor, suffix] : {std::pair{hour, "h"}, std::pair{minute, "m"},
                                std::pair{second, "s"}, std::pair{ms, "ms"}}) {
    if (left >= factor) {
      out += std::to_string(left / factor);
      out += suffix;
      left %= factor;
    }
  }
  return out;
}

} // namespace callgrid::config
