#include "cluster/dispatcher_view.hpp"

#include <algorithm>
#include <cmath>

#include "cluster/membership.hpp"

namespace callgrid::cluster {

const char* to_string(dispatcher_state state) noexcept {
  switch (state) {
    case dispatcher_state::active: return "active";
    case dispatcher_state::admin_disabled: return "admin_disabled";
  }
  return "admin_disabled";
}

dispatcher_view make_dispatcher_view(const membership& members) {
  dispatcher_view view;
  int64_t total_capacity = 0;
  for (const auto& [node, m] : members.members())
    if (m.lifecycle != member_lifecycle::left)
      total_capacity += std::max(m.capacity, 0);
  for (const auto& [node, m] : members.members()) {
    if (m.lifecycle == member_lifecycle::left)
      continue;
    dispatcher_entry entry;
    entry.node = node;
    entry.sip_uri = m.sip_uri;
    entry.capacity = m.capacity;
    if (total_capacity > 0) {
      auto share = std::lround(100.0 * std::max(m.capacity, 0) / static_cast<double>(total_capacity));
      entry.weight = static_cast<int32_t>(std::clamp<long>(share, 1, 100));
    }
    const auto admin = members.admin_of(node);
    if (m.health == member_health::down) {
      entry.state = dispatcher_state::admin_disabled;
      entry.why = "down";
    } else if (m.lifecycle == member_lifecycle::joining) {
      entry.state = dispatcher_state::admin_disabled;
      entry.why = "not ready";
    } else if (m.lifecycle == member_lifecycle::draining) {
      entry.state = dispatcher_state::admin_disabled;
      entry.why = "draining";
    } else if (m.lifecycle == member_lifecycle::drained) {
      entry.state = dispatcher_state::admin_disabled;
      entry.why = "drained";
    } else if (!admin.eligible) {
      entry.state = dispatcher_state::admin_disabled;
      entry.why = "not eligible";
    } else {
      entry.state = dispatcher_state::active;
    }
    view.entries.push_back(std::move(entry));
  }
  return view;
}

} // namespace callgrid::cluster
