#include "cluster/membership.hpp"

#include <ctime>
#include <utility>

namespace callgrid::cluster {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

/// "2026-11-26T12:00:00Z" for a wall-clock time in ms since the epoch.
std::string format_unix_ms(int64_t unix_ms) {
  auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts) == 0)
    return std::to_string(unix_ms);
  return text;
}

std::string describe_deadline(int64_t deadline_unix_ms) {
  return deadline_unix_ms == 0 ? "no deadline" : "deadline " + format_unix_ms(deadline_unix_ms);
}

const char* to_string(member_lifecycle lifecycle) noexcept {
  switch (lifecycle) {
    case member_lifecycle::joining: return "joining";
    case member_lifecycle::active: return "active";
    case member_lifecycle::draining: return "draining";
    case member_lifecycle::drained: return "drained";
    case member_lifecycle::left: return "left";
  }
  return "joining";
}

int rank(member_health health) noexcept {
  return static_cast<int>(health);
}

outcome refuse(errc code, std::string message) {
  outcome out;
  out.error = code;
  out.message = std::move(message);
  return out;
}

void log(outcome& out, std::string text, log_line::level severity = log_line::level::info) {
  out.effects.emplace_back(log_line{severity, std::move(text)});
}

/// " by <who>: <reason>" for log lines of admin actions.
std::string by_whom(const std::string& who, const std::string& reason) {
  std::string text = " by " + who;
  if (!reason.empty())
    text += ": " + reason;
  return text;
}

/// The checks every admin request shares; an empty string when it is well-formed.
std::string check_admin_request(const std::string& node, const std::string& who) {
  if (node.empty())
    return "the node id is empty";
  if (who.empty())
    return "who is asking must be given (every admin action is logged with who and why)";
  return {};
}

} // namespace

std::string validate(const membership_settings& settings) {
  using namespace std::chrono_literals;
  if (settings.heartbeat_interval <= 0ms || settings.suspect_after <= 0ms
      || settings.down_after <= 0ms || settings.command_retry <= 0ms)
    return "every cluster interval must be positive";
  if (settings.suspect_after <= settings.heartbeat_interval)
    return "suspect_after must be longer than heartbeat_interval (else every heartbeat is late)";
  if (settings.down_after <= settings.suspect_after)
    return "down_after must be longer than suspect_after";
  return {};
}

const char* to_string(member_health health) noexcept {
  switch (health) {
    case member_health::alive: return "alive";
    case member_health::suspect: return "suspect";
    case member_health::down: return "down";
  }
  return "alive";
}

member_state member::state() const noexcept {
  if (lifecycle == member_lifecycle::left)
    return member_state::left;
  if (health == member_health::down)
    return member_state::down;
  if (health == member_health::suspect)
    return member_state::suspect;
  switch (lifecycle) {
    case member_lifecycle::joining: return member_state::joining;
    case member_lifecycle::active: return member_state::active;
    case member_lifecycle::draining: return member_state::draining;
    case member_lifecycle::drained: return member_state::drained;
    case member_lifecycle::left: return member_state::left;
  }
  return member_state::joining;
}

membership::membership(membership_settings settings) : settings_(settings) {
}

admin_state membership::admin_of(std::string_view node) const {
  if (auto i = admin_.find(node); i != admin_.end())
    return i->second;
  admin_state fresh;
  fresh.node = std::string{node};
  return fresh;
}

admin_state& membership::admin_for(const std::string& node) {
  auto [i, added] = admin_.try_emplace(node);
  if (added)
    i->second.node = node;
  return i->second;
}

const member* membership::find(std::string_view node) const {
  auto i = members_.find(node);
  return i == members_.end() ? nullptr : &i->second;
}

persist_node membership::row_of(const member& m, std::optional<admin_action> action) const {
  return persist_node{m.node, m.sip_uri, m.capacity, admin_of(m.node), std::move(action)};
}

void membership::publish_view(outcome& out) {
  auto next = make_dispatcher_view(*this);
  if (next == view_)
    return;
  view_ = std::move(next);
  out.effects.emplace_back(view_changed{view_});
}

void membership::settle(member& m, steady_time now, outcome& out) {
  if (m.lifecycle == member_lifecycle::left)
    return;
  const auto admin = admin_of(m.node);
  const auto& load = m.load;
  // A drain is wanted while an operator asked for one, and also while the node drains on its own
  // (SIGTERM) or has not yet confirmed a cancel: its FreeSWITCH is paused either way.
  const bool wants_drain = admin.drain_requested || load.phase != drain_phase::none;
  member_lifecycle next;
  if (wants_drain)
    next = load.phase == drain_phase::drained && load.live_calls == 0 && load.spool_depth == 0
             ? member_lifecycle::drained
             : member_lifecycle::draining;
  else
    next = load.healthy() ? member_lifecycle::active : member_lifecycle::joining;
  if (next != m.lifecycle) {
    std::string why;
    if (next == member_lifecycle::active)
      why = "ESL up and FreeSWITCH ready";
    else if (next == member_lifecycle::joining)
      why = std::string{"not ready (ESL "} + (load.esl_ready ? "up" : "down") + ", FreeSWITCH "
            + (load.freeswitch_ready ? "ready" : "not ready") + ")";
    else if (next == member_lifecycle::drained)
      why = "no calls left and records flushed";
    else if (!admin.drain_requested)
      why = std::string{"the node reports "} + to_string(load.phase) + " on its own";
    else
      why = std::to_string(load.live_calls) + " calls left";
    log(out, "node " + m.node + ": " + to_string(m.lifecycle) + " -> " + to_string(next) + " ("
               + why + ")");
    m.lifecycle = next;
  }
  if (m.health == member_health::down)
    return; // unreachable: commands wait until it is back
  const bool due = !m.last_command || now - *m.last_command >= settings_.command_retry;
  if (admin.drain_requested && load.phase == drain_phase::none && due) {
    if (m.last_command)
      log(out, "node " + m.node + " does not report its drain yet: sending start_drain again",
          log_line::level::warning);
    out.effects.emplace_back(send_command{
      m.node, node_command{command_kind::start_drain, admin.drain_deadline_unix_ms,
                           admin.drain_reason}});
    m.last_command = now;
  }
  if (m.cancel_pending) {
    if (load.phase == drain_phase::none) {
      m.cancel_pending = false;
    } else if (due) {
      log(out, "node " + m.node + " still reports " + to_string(load.phase)
                 + ": sending cancel_drain again",
          log_line::level::warning);
      out.effects.emplace_back(send_command{m.node, node_command{command_kind::cancel_drain, 0, {}}});
      m.last_command = now;
    }
  }
}

outcome membership::restore(std::vector<admin_state> states, steady_time now) {
  outcome out;
  admin_.clear();
  for (auto& state : states) {
    auto node = state.node;
    admin_.insert_or_assign(std::move(node), std::move(state));
  }
  log(out, "admin state restored for " + std::to_string(admin_.size()) + " nodes");
  for (auto& [node, m] : members_)
    settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::join(const join_request& request, steady_time now) {
  if (request.node.empty())
    return refuse(errc::invalid_request, "join without a node id");
  if (request.sip_uri.empty())
    return refuse(errc::invalid_request, "node " + request.node + " joins without a SIP URI");
  outcome out;
  auto i = members_.find(request.node);
  const bool known = i != members_.end();
  const bool restarted = known && i->second.incarnation != request.incarnation;
  const bool came_back = known && i->second.lifecycle == member_lifecycle::left;
  if (!known)
    i = members_.emplace(request.node, member{}).first;
  auto& m = i->second;
  m.node = request.node;
  m.sip_uri = request.sip_uri;
  m.version = request.version;
  m.capacity = request.load.capacity > 0 ? request.load.capacity : request.capacity;
  if (!known || restarted || came_back) {
    m.incarnation = request.incarnation;
    m.lifecycle = member_lifecycle::joining;
    m.cancel_pending = false;
  }
  // A new connection: whatever was sent on the old one may be lost.
  m.last_command.reset();
  m.load = request.load;
  m.last_heartbeat = now;
  if (m.health != member_health::alive) {
    out.effects.emplace_back(health_changed{m.node, m.health, member_health::alive});
    m.health = member_health::alive;
  }
  std::string how = !known ? "joined" : restarted ? "rejoined after a restart" : "rejoined";
  log(out, "node " + m.node + " " + how + " (" + m.sip_uri + ", capacity "
             + std::to_string(m.capacity) + ", version " + m.version + ", incarnation "
             + std::to_string(m.incarnation) + ")");
  out.effects.emplace_back(row_of(m, std::nullopt));
  settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::apply(const heartbeat& beat, steady_time now) {
  auto i = members_.find(beat.node);
  if (i == members_.end() || i->second.lifecycle == member_lifecycle::left)
    return refuse(errc::unknown_node, "node " + beat.node + " is not a member: join first");
  auto& m = i->second;
  if (m.incarnation != beat.incarnation)
    return refuse(errc::unknown_node, "node " + beat.node + " joined as incarnation "
                                        + std::to_string(m.incarnation) + ", not "
                                        + std::to_string(beat.incarnation) + ": join again");
  outcome out;
  if (m.health != member_health::alive) {
    auto gap = duration_cast<milliseconds>(now - m.last_heartbeat).count();
    log(out, "node " + m.node + " is back (" + to_string(m.health) + ", no heartbeat for "
               + std::to_string(gap) + " ms)");
    out.effects.emplace_back(health_changed{m.node, m.health, member_health::alive});
    m.health = member_health::alive;
  }
  m.last_heartbeat = now;
  m.load = beat.load;
  if (beat.load.capacity > 0)
    m.capacity = beat.load.capacity;
  settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::apply(const leave_request& request, steady_time) {
  auto i = members_.find(request.node);
  if (i == members_.end() || i->second.incarnation != request.incarnation)
    return refuse(errc::unknown_node, "node " + request.node + " is not a member");
  outcome out;
  auto& m = i->second;
  if (m.lifecycle != member_lifecycle::left) {
    log(out, "node " + m.node + " left (" + to_string(m.state()) + " before)");
    m.lifecycle = member_lifecycle::left;
  }
  publish_view(out);
  return out;
}

outcome membership::tick(steady_time now) {
  outcome out;
  for (auto& [node, m] : members_) {
    if (m.lifecycle == member_lifecycle::left)
      continue;
    const auto gap = now - m.last_heartbeat;
    auto verdict = m.health;
    if (gap > settings_.down_after)
      verdict = member_health::down;
    else if (gap > settings_.suspect_after)
      verdict = member_health::suspect;
    // Only a heartbeat makes a member healthier; the detector only makes it worse.
    if (rank(verdict) <= rank(m.health))
      continue;
    log(out, "node " + node + " is " + to_string(verdict) + ": no heartbeat for "
               + std::to_string(duration_cast<milliseconds>(gap).count()) + " ms",
        log_line::level::warning);
    out.effects.emplace_back(health_changed{node, m.health, verdict});
    m.health = verdict;
  }
  publish_view(out);
  return out;
}

outcome membership::apply(const request_drain& request, steady_time now, int64_t now_unix_ms) {
  if (auto problem = check_admin_request(request.node, request.who); !problem.empty())
    return refuse(errc::invalid_request, problem);
  if (request.deadline_unix_ms < 0)
    return refuse(errc::invalid_request, "the drain deadline is negative");
  auto i = members_.find(request.node);
  if (i == members_.end() || i->second.lifecycle == member_lifecycle::left)
    return refuse(errc::unknown_node, "no member named " + request.node);
  auto& m = i->second;
  auto& admin = admin_for(m.node);
  if (admin.drain_requested && m.lifecycle == member_lifecycle::drained)
    return refuse(errc::already_drained, "node " + m.node + " is already drained");
  outcome out;
  const auto deadline = request.force ? now_unix_ms : request.deadline_unix_ms;
  admin.drain_requested = true;
  admin.drain_reason = request.reason;
  admin.drain_deadline_unix_ms = deadline;
  admin.reason = request.reason;
  admin.changed_by = request.who;
  m.cancel_pending = false;
  const auto detail = request.force ? std::string{"force (hang up now)"} : describe_deadline(deadline);
  log(out, "drain of node " + m.node + " requested" + by_whom(request.who, request.reason) + " ("
             + detail + ")");
  if (m.health == member_health::down) {
    log(out, "node " + m.node + " is down: it is told to drain when it is back",
        log_line::level::warning);
  } else {
    out.effects.emplace_back(
      send_command{m.node, node_command{command_kind::start_drain, deadline, request.reason}});
    m.last_command = now;
  }
  out.effects.emplace_back(
    row_of(m, admin_action{m.node, "drain", request.who, request.reason, detail}));
  settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::apply(const cancel_drain& request, steady_time now) {
  if (auto problem = check_admin_request(request.node, request.who); !problem.empty())
    return refuse(errc::invalid_request, problem);
  auto i = members_.find(request.node);
  if (i == members_.end() || i->second.lifecycle == member_lifecycle::left)
    return refuse(errc::unknown_node, "no member named " + request.node);
  auto& m = i->second;
  auto& admin = admin_for(m.node);
  if (!admin.drain_requested && m.load.phase == drain_phase::none)
    return refuse(errc::not_draining, "node " + m.node + " is not draining");
  outcome out;
  admin.drain_requested = false;
  admin.drain_reason.clear();
  admin.drain_deadline_unix_ms = 0;
  admin.reason = request.reason;
  admin.changed_by = request.who;
  m.cancel_pending = true;
  log(out, "drain of node " + m.node + " cancelled" + by_whom(request.who, request.reason));
  if (m.health != member_health::down) {
    out.effects.emplace_back(send_command{m.node, node_command{command_kind::cancel_drain, 0, {}}});
    m.last_command = now;
  }
  out.effects.emplace_back(
    row_of(m, admin_action{m.node, "cancel_drain", request.who, request.reason, {}}));
  settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::apply(const set_eligibility& request, steady_time now) {
  if (auto problem = check_admin_request(request.node, request.who); !problem.empty())
    return refuse(errc::invalid_request, problem);
  auto i = members_.find(request.node);
  if (i == members_.end() || i->second.lifecycle == member_lifecycle::left)
    return refuse(errc::unknown_node, "no member named " + request.node);
  auto& m = i->second;
  auto& admin = admin_for(m.node);
  outcome out;
  if (admin.eligible == request.eligible)
    return out;
  admin.eligible = request.eligible;
  admin.reason = request.reason;
  admin.changed_by = request.who;
  const std::string word = request.eligible ? "eligible" : "ineligible";
  log(out, "node " + m.node + " made " + word + by_whom(request.who, request.reason));
  out.effects.emplace_back(row_of(m, admin_action{m.node, "eligibility", request.who,
                                                  request.reason, "eligible=" + std::string{
                                                    request.eligible ? "true" : "false"}}));
  settle(m, now, out);
  publish_view(out);
  return out;
}

outcome membership::apply(const force_leave& request, steady_time) {
  if (auto problem = check_admin_request(request.node, request.who); !problem.empty())
    return refuse(errc::invalid_request, problem);
  auto i = members_.find(request.node);
  if (i == members_.end())
    return refuse(errc::unknown_node, "no member named " + request.node);
  const auto state = i->second.state();
  if (!request.force && state != member_state::down && state != member_state::left)
    return refuse(errc::member_alive, "node " + request.node + " is " + to_string(state)
                                        + ", not down or left: drain it, or force");
  outcome out;
  auto row = row_of(i->second, admin_action{request.node, "force_leave", request.who,
                                            request.reason,
                                            std::string{"was "} + to_string(state)});
  members_.erase(i);
  log(out, "node " + request.node + " removed (was " + to_string(state) + ")"
             + by_whom(request.who, request.reason));
  out.effects.emplace_back(std::move(row));
  publish_view(out);
  return out;
}

std::vector<member_view> membership::list(steady_time now) const {
  std::vector<member_view> out;
  out.reserve(members_.size());
  for (const auto& [node, m] : members_) {
    const auto admin = admin_of(node);
    member_view view;
    view.node = node;
    view.sip_uri = m.sip_uri;
    view.version = m.version;
    view.state = m.state();
    view.eligible = admin.eligible;
    view.drain_requested = admin.drain_requested;
    view.drain_deadline_unix_ms = admin.drain_deadline_unix_ms;
    view.phase = m.load.phase;
    view.live_calls = m.load.live_calls;
    view.capacity = m.capacity;
    view.load = m.capacity > 0 ? static_cast<double>(m.load.live_calls) / m.capacity : 0.0;
    view.idle_cpu = m.load.idle_cpu;
    view.spool_depth = m.load.spool_depth;
    view.hung_up_at_deadline = m.load.hung_up_at_deadline;
    view.reason = admin.reason;
    view.changed_by = admin.changed_by;
    view.last_heartbeat_age_ms = duration_cast<milliseconds>(now - m.last_heartbeat).count();
    out.push_back(std::move(view));
  }
  return out;
}

} // namespace callgrid::cluster
