#include "cluster/admin.hpp"

#include <nlohmann/json.hpp>

namespace callgrid::cluster {

const char* to_string(member_state state) noexcept {
  switch (state) {
    case member_state::joining: return "joining";
    case member_state::active: return "active";
    case member_state::suspect: return "suspect";
    case member_state::draining: return "draining";
    case member_state::drained: return "drained";
    case member_state::down: return "down";
    case member_state::left: return "left";
  }
  return "joining";
}

const char* to_string(drain_phase phase) noexcept {
  switch (phase) {
    case drain_phase::none: return "none";
    case drain_phase::draining: return "draining";
    case drain_phase::flushing: return "flushing";
    case drain_phase::drained: return "drained";
  }
  return "none";
}

void to_json(nlohmann::json& out, const member_view& view) {
  out = nlohmann::json{
    {"node", view.node},
    {"sip_uri", view.sip_uri},
    {"version", view.version},
    {"state", to_string(view.state)},
    {"eligible", view.eligible},
    {"drain_requested", view.drain_requested},
    {"drain_deadline_unix_ms", nullptr},
    {"phase", to_string(view.phase)},
    {"live_calls", view.live_calls},
    {"capacity", view.capacity},
    {"load", view.load},
    {"idle_cpu", view.idle_cpu},
    {"spool_depth", view.spool_depth},
    {"hung_up_at_deadline", view.hung_up_at_deadline},
    {"reason", view.reason},
    {"changed_by", view.changed_by},
    {"last_heartbeat_age_ms", view.last_heartbeat_age_ms},
  };
  if (view.drain_deadline_unix_ms != 0)
    out["drain_deadline_unix_ms"] = view.drain_deadline_unix_ms;
}

} // namespace callgrid::cluster
