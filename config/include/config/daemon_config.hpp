#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace callgrid::config {

/// What one callgridd process does (design.md section 1).
enum class daemon_role { node, coordinator, all };

/// Format of the events callgridd subscribes to on the inbound ESL link.
enum class event_format { plain, json };

/// Lowest log level that is written.
enum class log_level { trace, debug, info, warn, error };

/// Log line format: `automatic` means JSON when `JOURNAL_STREAM` is set (under systemd) and text
/// otherwise; see `effective_log_format`.
enum class log_format { automatic, json, text };

/// Where the actors run: CAF's own schedulers, or callgridd's I/O thread (`io`).
enum class scheduler_policy { sharing, stealing, io };

/// How Kamailio's dispatcher picks a node (its `ds_select_dst` algorithm, see docs/edge.md).
enum class dispatcher_algorithm { weight, round_robin, hash_callid, random };

/// The names of the enumerators as written in the configuration, indexed by enumerator value.
inline constexpr std::array<std::string_view, 3> daemon_role_names{"node", "coordinator", "all"};
inline constexpr std::array<std::string_view, 2> event_format_names{"plain", "json"};
inline constexpr std::array<std::string_view, 5> log_level_names{"trace", "debug", "info", "warn",
                                                                 "error"};
inline constexpr std::array<std::string_view, 3> log_format_names{"auto", "json", "text"};
inline constexpr std::array<std::string_view, 3> scheduler_policy_names{"sharing", "stealing",
                                                                      "io"};
inline constexpr std::array<std::string_view, 4> dispatcher_algorithm_names{
  "weight", "round_robin", "hash_callid", "random"};

/// The configuration word of an enumerator, e.g. "coordinator". Pure; never fails.
[[nodiscard]] std::string_view to_string(daemon_role value) noexcept;
/// The configuration word of an enumerator, e.g. "json". Pure; never fails.
[[nodiscard]] std::string_view to_string(event_format value) noexcept;
/// The configuration word of an enumerator, e.g. "warn". Pure; never fails.
[[nodiscard]] std::string_view to_string(log_level value) noexcept;
/// The configuration word of an enumerator, e.g. "auto". Pure; never fails.
[[nodiscard]] std::string_view to_string(log_format value) noexcept;
/// The configuration word of an enumerator, e.g. "sharing". Pure; never fails.
[[nodiscard]] std::string_view to_string(scheduler_policy value) noexcept;
/// The configuration word of an enumerator, e.g. "round_robin". Pure; never fails.
[[nodiscard]] std::string_view to_string(dispatcher_algorithm value) noexcept;

/// Settings of `[node]`: this node's identity and call limits. Plain data, part of a
/// `daemon_config`; not synchronised.
struct node_settings {
  /// Node name in the cluster; the loader replaces an empty name by the host name.
  std::string name;
  /// SIP URI that Kamailio's dispatcher sends this node's calls to.
  std::string sip_uri = "sip:127.0.0.1:5060";
  /// Maximum number of live calls on this node.
  std::int32_t capacity = 1000;
  /// How long a call may stay parked before FreeSWITCH hangs it up.
  std::chrono::milliseconds park_timeout{30'000};
  /// How long an outgoing leg (bridge, campaign attempt) may ring before it is given up.
  std::chrono::milliseconds answer_timeout{60'000};
  friend bool operator==(const node_settings&, const node_settings&) = default;
};

/// Settings of `[esl]`: the inbound Event Socket link to the local FreeSWITCH. Plain data, part
/// of a `daemon_config`.
struct esl_settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8021;
  /// Required; the loader refuses FreeSWITCH's default, an empty and a short password.
  std::string password;
  /// Permits a non-loopback `host`.
  bool allow_remote = false;
  std::chrono::milliseconds connect_timeout{5'000};
  /// Upper bound of the reconnect backoff.
  std::chrono::milliseconds reconnect_max{15'000};
  event_format events = event_format::plain;
  friend bool operator==(const esl_settings&, const esl_settings&) = default;
};

/// Settings of `[outbound]`: the listener FreeSWITCH's `socket` application connects to. Plain
/// data, part of a `daemon_config`.
struct outbound_settings {
  bool enabled = true;
  std::string listen = "127.0.0.1";
  std::uint16_t port = 8084;
  /// Sends `linger` on every outbound session, so CHANNEL_HANGUP_COMPLETE is seen.
  bool linger = true;
  /// Permits a non-loopback `listen` address.
  bool allow_remote = false;
  friend bool operator==(const outbound_settings&, const outbound_settings&) = default;
};

/// Settings of `[database]`: PostgreSQL. Plain data, part of a `daemon_config`.
struct database_settings {
  /// libpq connection string; empty means "not configured".
  std::string conninfo;
  std::chrono::milliseconds connect_timeout{5'000};
  friend bool operator==(const database_settings&, const database_settings&) = default;
};

/// Settings of `[redis]`. Plain data, part of a `daemon_config`.
struct redis_settings {
  bool enabled = true;
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  /// Time budget of one Redis operation on the call path.
  std::chrono::milliseconds timeout{50};
  friend bool operator==(const redis_settings&, const redis_settings&) = default;
};

/// Settings of `[records]`: the call-record spool and the batcher that ships it to PostgreSQL.
/// Plain data, part of a `daemon_config`.
struct records_settings {
  std::string spool_dir = "/var/spool/callgrid/records";
  std::int32_t batch_size = 1000;
  std::chrono::milliseconds max_delay{200};
  std::chrono::milliseconds retry_max{10'000};
  std::chrono::milliseconds group_window{100};
  /// Shipping threads, each with its own PostgreSQL connection.
  std::int32_t ship_connections = 2;
  friend bool operator==(const records_settings&, const records_settings&) = default;
};

/// Settings of `[http]`: the listener for /metrics, /healthz, /readyz and the admin API. Plain
/// data, part of a `daemon_config`.
struct http_settings {
  std::string listen = "127.0.0.1";
  std::uint16_t port = 9464;
  /// Permits a non-loopback `listen` address.
  bool allow_remote = false;
  friend bool operator==(const http_settings&, const http_settings&) = default;
};

/// Settings of `[log]`. Plain data, part of a `daemon_config`.
struct log_settings {
  log_level level = log_level::info;
  log_format format = log_format::automatic;
  friend bool operator==(const log_settings&, const log_settings&) = default;
};

/// Settings of `[scheduler]`: CAF's scheduler, pinned (platform-notes.md). Plain data, part of a
/// `daemon_config`.
struct scheduler_settings {
  std::int32_t threads = 1;
  scheduler_policy policy = scheduler_policy::io;
  friend bool operator==(const scheduler_settings&, const scheduler_settings&) = default;
};

/// Settings of `[ivr]`. Plain data, part of a `daemon_config`.
struct ivr_settings {
  /// The language of the catalog prompt played for a prompt name that has rows in several
  /// languages.
  std::string default_language = "en";
  friend bool operator==(const ivr_settings&, const ivr_settings&) = default;
};

/// Settings of `[cluster]`: how nodes find the coordinator, how the coordinator listens, the
/// failure detector's thresholds and the admin API's token. Plain data, part of a
/// `daemon_config`.
struct cluster_settings {
  /// Where the coordinator listens for node daemons (CAF remote actors over TCP).
  std::string listen = "127.0.0.1";
  std::uint16_t port = 4710;
  /// Permits a non-loopback `listen` address.
  bool allow_remote = false;
  /// Coordinators a node tries, "HOST:PORT" each; the one holding the leader lock answers.
  std::vector<std::string> coordinators{"127.0.0.1:4710"};
  std::chrono::milliseconds heartbeat_interval{1'000};
  /// A node silent for longer is `suspect` (still receives calls).
  std::chrono::milliseconds suspect_after{3'000};
  /// A node silent for longer is `down` (Kamailio stops sending it calls).
  std::chrono::milliseconds down_after{10'000};
  /// Deadline of `callgridctl node drain` when none is given.
  std::chrono::milliseconds drain_deadline{30 * 60'000};
  /// File holding the admin API's bearer token; empty disables the admin API.
  std::string admin_token_file;
  /// TLS on the cluster link: this daemon's PEM certificate (chain), its unencrypted PEM key
  /// and the PEM CA file peers are verified against. All empty: plain TCP; set all or none.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca_file;
  friend bool operator==(const cluster_settings&, const cluster_settings&) = default;
};

/// Settings of `[edge]`: the Kamailio in front of the nodes, as `callgridctl edge render`
/// writes its configuration and the coordinator updates its dispatcher. Plain data, part of a
/// `daemon_config`.
struct edge_settings {
  /// Whether the coordinator keeps a Kamailio's dispatcher up to date (off for a single box
  /// without Kamailio, such as the demo).
  bool enabled = true;
  /// Kamailio's SIP listener.
  std::string sip_listen = "127.0.0.1";
  std::uint16_t sip_port = 5060;
  /// The dispatcher list file the coordinator writes and Kamailio reads.
  std::string dispatcher_list = "/var/lib/callgrid/dispatcher.list";
  /// The permissions module's address file: the trusted peers, written by `edge render`.
  std::string address_list = "/var/lib/callgrid/address.list";
  /// Kamailio's JSON-RPC datagram socket (jsonrpcs module).
  std::string rpc_socket = "/run/kamailio/kamailio_rpc.sock";
  /// Kamailio's runtime directory (`rundir`).
  std::string runtime_dir = "/run/kamailio";
  /// Dispatcher set id of the media nodes.
  std::int32_t dispatcher_set = 1;
  dispatcher_algorithm algorithm = dispatcher_algorithm::weight;
  /// Interval of Kamailio's OPTIONS probes to the nodes.
  std::chrono::milliseconds probe_interval{5'000};
  /// Failed probes before a node is inactive, and good ones before it is active again.
  std::int32_t probe_failures = 3;
  std::int32_t probe_successes = 1;
  /// How long an INVITE waits for a reply from a node before it fails over to the next.
  std::chrono::milliseconds failover_timeout{3'000};
  /// Trunk (peer) addresses allowed to send calls; everyone else gets 403.
  std::vector<std::string> trusted_peers{"127.0.0.1"};
  /// Requests per `pike_interval` from one untrusted address before it is banned.
  std::int32_t pike_requests = 30;
  std::chrono::milliseconds pike_interval{2'000};
  std::chrono::milliseconds ban_time{300'000};
  /// Largest SIP message accepted, in bytes.
  std::int32_t max_message_size = 8192;
  friend bool operator==(const edge_settings&, const edge_settings&) = default;
};

/// The whole configuration of callgridd. Plain data, owned by whoever loaded it (callgridd's
/// main) and not synchronised: share it read-only or copy it. The member defaults equal the
/// defaults of the key schema (a unit test holds them together); the meaning, unit and range of
/// every member are documented in the key schema and in docs/configuration.md.
struct daemon_config {
  daemon_role role = daemon_role::all;
  node_settings node;
  esl_settings esl;
  outbound_settings outbound;
  database_settings database;
  redis_settings redis;
  records_settings records;
  http_settings http;
  log_settings log;
  scheduler_settings scheduler;
  ivr_settings ivr;
  cluster_settings cluster;
  edge_settings edge;
  friend bool operator==(const daemon_config&, const daemon_config&) = default;
};

} // namespace callgrid::config
