#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cluster/admin.hpp"
#include "cluster/dispatcher_view.hpp"
#include "cluster/errc.hpp"

namespace callgrid::cluster {

/// Steady time of the coordinator; every input of the core carries it explicitly.
using steady_time = std::chrono::steady_clock::time_point;

/// Thresholds of the failure detector and the command retry. Plain value; read by `membership`
/// at construction.
struct membership_settings {
  /// Nodes send a heartbeat this often (the membership client reads it; the registry tells
  /// joining nodes). 1 s: design.md §6, and cheap (one small message per node per second).
  std::chrono::milliseconds heartbeat_interval{1000};
  /// A member whose last heartbeat is older than this becomes `suspect` (still in the dispatcher
  /// set). 3 s = three heartbeats: one lost or late heartbeat, a scheduler hiccup or a 2 s stop
  /// of the process changes nothing.
  std::chrono::milliseconds suspect_after{3000};
  /// A member whose last heartbeat is older than this becomes `down` (inactive in the dispatcher
  /// set). 10 s: long enough to ride out a short network blip or a coordinator failover
  /// (nodes rejoin the new leader within a few seconds), short enough that a dead callgridd stops
  /// receiving calls quickly; Kamailio's own OPTIONS probing catches a dead FreeSWITCH sooner.
  std::chrono::milliseconds down_after{10000};
  /// A drain or cancel command the node's heartbeats do not reflect is sent again after this
  /// long (a node that restarted, or a command lost with a connection).
  std::chrono::milliseconds command_retry{2000};
};

/// Returns what is wrong with `settings` ("" when nothing): positive durations and
/// heartbeat_interval < suspect_after < down_after.
[[nodiscard]] std::string validate(const membership_settings& settings);

/// The load a node reports with every heartbeat (from its node supervisor).
struct load_report {
  int32_t live_calls = 0;
  int64_t calls_total = 0;
  int32_t capacity = 0;
  bool esl_ready = false;
  bool freeswitch_ready = false;
  int32_t session_count = 0;
  int32_t max_sessions = 0;
  double idle_cpu = 0;
  drain_phase phase = drain_phase::none;
  int32_t hung_up_at_deadline = 0;
  int32_t spool_depth = 0;
  /// ESL up and FreeSWITCH ready: the node can take calls.
  [[nodiscard]] bool healthy() const noexcept { return esl_ready && freeswitch_ready; }
  friend bool operator==(const load_report&, const load_report&) = default;
};

/// A node asks to join (or rejoin) the cluster. `incarnation` is chosen by the node at start
/// (its start time in ms): a join with another incarnation means the node restarted.
struct join_request {
  std::string node;
  std::string sip_uri;
  int32_t capacity = 0;
  std::string version;
  uint64_t incarnation = 0;
  /// The node's load when it joins, so that a healthy node becomes active at once.
  load_report load;
  friend bool operator==(const join_request&, const join_request&) = default;
};

/// A node's heartbeat with its load report.
struct heartbeat {
  std::string node;
  uint64_t incarnation = 0;
  load_report load;
  friend bool operator==(const heartbeat&, const heartbeat&) = default;
};

/// A node leaves on its own (after it drained, at shutdown).
struct leave_request {
  std::string node;
  uint64_t incarnation = 0;
  friend bool operator==(const leave_request&, const leave_request&) = default;
};

/// What the registry tells a node to do.
enum class command_kind : uint8_t { start_drain, cancel_drain };

/// A command for a node; the membership client turns it into the node supervisor's
/// `start_drain` / `cancel_drain`.
struct node_command {
  command_kind kind = command_kind::start_drain;
  /// ms since the epoch; 0 = no deadline (only for start_drain).
  int64_t deadline_unix_ms = 0;
  std::string reason;
  friend bool operator==(const node_command&, const node_command&) = default;
};

/// The persisted admin state of one node (`nodes` table): wins over whatever a node says.
struct admin_state {
  std::string node;
  bool eligible = true;
  bool drain_requested = false;
  std::string drain_reason;
  /// ms since the epoch; 0 = none.
  int64_t drain_deadline_unix_ms = 0;
  /// The last admin reason (drain, cancel or eligibility) and who gave it.
  std::string reason;
  std::string changed_by;
  friend bool operator==(const admin_state&, const admin_state&) = default;
};

/// One admin action for the audit log: who did what to which node, and why.
struct admin_action {
  std::string node;
  /// "drain", "cancel_drain", "eligibility", "force_leave".
  std::string action;
  std::string who;
  std::string reason;
  /// Details, e.g. "deadline 2026-11-26T12:00:00Z" or "eligible=false".
  std::string detail;
  friend bool operator==(const admin_action&, const admin_action&) = default;
};

/// The failure detector's verdict on a member.
enum class member_health : uint8_t { alive, suspect, down };

/// The word of `health`. Never fails.
[[nodiscard]] const char* to_string(member_health health) noexcept;

/// Where a member is in its life, apart from the failure detector.
enum class member_lifecycle : uint8_t { joining, active, draining, drained, left };

/// One member of the table. Plain value, owned by `membership`.
struct member {
  std::string node;
  std::string sip_uri;
  std::string version;
  int32_t capacity = 0;
  uint64_t incarnation = 0;
  member_lifecycle lifecycle = member_lifecycle::joining;
  member_health health = member_health::alive;
  /// From the last heartbeat (or the join).
  load_report load;
  steady_time last_heartbeat{};
  /// When a drain or cancel command was last sent (for `command_retry`).
  std::optional<steady_time> last_command;
  /// An admin cancel the node has not confirmed yet (its heartbeats still show a drain).
  bool cancel_pending = false;
  /// The state shown to operators: `left`, else `down`/`suspect` when the detector says so,
  /// else the lifecycle.
  [[nodiscard]] member_state state() const noexcept;
};

/// Send `command` to the node `node` (the registry knows its handle).
struct send_command {
  std::string node;
  node_command command;
  friend bool operator==(const send_command&, const send_command&) = default;
};

/// Write the node's row (SIP URI, capacity, admin state) and, when set, the audit entry.
struct persist_node {
  std::string node;
  std::string sip_uri;
  int32_t capacity = 0;
  admin_state admin;
  std::optional<admin_action> action;
  friend bool operator==(const persist_node&, const persist_node&) = default;
};

/// The dispatcher set changed; `view` is the whole new set.
struct view_changed {
  dispatcher_view view;
  friend bool operator==(const view_changed&, const view_changed&) = default;
};

/// The failure detector changed its verdict on a member (for metrics).
struct health_changed {
  std::string node;
  member_health from = member_health::alive;
  member_health to = member_health::alive;
  friend bool operator==(const health_changed&, const health_changed&) = default;
};

/// A line for the log, with who and why where an operator caused it.
struct log_line {
  enum class level : uint8_t { info, warning };
  level severity = level::info;
  std::string text;
  friend bool operator==(const log_line&, const log_line&) = default;
};

/// Something the owner of the core must do after an input.
using effect = std::variant<send_command, persist_node, view_changed, health_changed, log_line>;

/// The result of one input: an error (`errc::none` when accepted, with a message otherwise) and
/// the effects to execute in order (none when refused).
struct outcome {
  errc error = errc::none;
  std::string message;
  std::vector<effect> effects;
  /// True when the input was accepted.
  [[nodiscard]] bool ok() const noexcept { return error == errc::none; }
};

/// The member table of the cluster and its state machine (design.md §6). Pure: no CAF, no I/O,
/// no clock of its own; every input carries `now` (steady time) and the owner executes the
/// returned effects (send commands, persist, publish the dispatcher set, log). Not
/// thread-safe: one owner (the registry actor). Never throws for bad input: refusals come back
/// as `outcome::error`.
///
/// Rules:
/// - A joining node becomes `active` once its load report says ESL up and FreeSWITCH ready; an
///   active node that reports otherwise goes back to `joining` (not ready).
/// - A member is `draining` while an operator asked for a drain or while the node reports a
///   drain of its own (SIGTERM), and `drained` once the node reports phase drained with no call
///   and an empty record spool.
/// - Heartbeat gap <= `suspect_after`: nothing changes; above it `suspect` (still active at the
///   edge); above `down_after` `down` (inactive). A heartbeat makes the member alive again.
/// - Admin state (restored at start, changed by operators) wins over what a (re)joining node
///   says: a node that comes back without its drain is told again.
///
/// ```cpp
/// membership table{{}};
/// table.restore(store_states, now);                    // at start / on becoming leader
/// auto out = table.join({.node = "fs-1", .sip_uri = "sip:10.0.0.5:5060", .capacity = 200,
///                        .version = "0.1.0", .incarnation = 1764150000000}, now);
/// for (auto& e : out.effects) execute(e);
/// table.apply(heartbeat{...}, now);  table.tick(now);   // every 250 ms
/// ```
class membership {
public:
  /// An empty table using `settings` (check them with `validate` first).
  explicit membership(membership_settings settings = {});

  /// The thresholds in use.
  [[nodiscard]] const membership_settings& settings() const noexcept { return settings_; }

  /// Replaces the admin state of every node with `states` (from the store) and settles the
  /// members already known. Nodes without a row get the default (eligible, no drain).
  outcome restore(std::vector<admin_state> states, steady_time now);

  /// A node joins or rejoins. A new incarnation of a known node is a restart: its lifecycle is
  /// derived afresh. Refused with `invalid_request` for an empty node id or SIP URI.
  outcome join(const join_request& request, steady_time now);

  /// A heartbeat. Refused with `unknown_node` when the node is not a member, has left, or sends
  /// another incarnation than it joined with: it must join again.
  outcome apply(const heartbeat& beat, steady_time now);

  /// A node leaves on its own: state `left` (kept in the table until `force_leave` or a new
  /// join). Refused with `unknown_node`.
  outcome apply(const leave_request& request, steady_time now);

  /// Runs the failure detector over every member. Call it about every 250 ms.
  outcome tick(steady_time now);

  /// Admin: drain a node. `now_unix_ms` is the wall clock, for `force` (deadline = now).
  outcome apply(const request_drain& request, steady_time now, int64_t now_unix_ms);

  /// Admin: cancel a drain.
  outcome apply(const cancel_drain& request, steady_time now);

  /// Admin: set eligibility (idempotent: the same value again is accepted and changes nothing).
  outcome apply(const set_eligibility& request, steady_time now);

  /// Admin: remove a member.
  outcome apply(const force_leave& request, steady_time now);

  /// Every member as operators see it, ordered by node id.
  [[nodiscard]] std::vector<member_view> list(steady_time now) const;

  /// The member `node`, or null.
  [[nodiscard]] const member* find(std::string_view node) const;

  /// The member table, ordered by node id.
  [[nodiscard]] const std::map<std::string, member, std::less<>>& members() const noexcept {
    return members_;
  }

  /// The admin state of `node` (the default when there is none).
  [[nodiscard]] admin_state admin_of(std::string_view node) const;

  /// The dispatcher set as of now (same as `make_dispatcher_view(*this)`).
  [[nodiscard]] const dispatcher_view& view() const noexcept { return view_; }

private:
  void settle(member& m, steady_time now, outcome& out);
  void publish_view(outcome& out);
  persist_node row_of(const member& m, std::optional<admin_action> action) const;
  admin_state& admin_for(const std::string& node);

  membership_settings settings_;
  std::map<std::string, member, std::less<>> members_;
  std::map<std::string, admin_state, std::less<>> admin_;
  dispatcher_view view_;
};

} // namespace callgrid::cluster
