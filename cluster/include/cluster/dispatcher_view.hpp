#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace callgrid::cluster {

class membership;

/// How the edge must treat a member (Kamailio dispatcher flags: active, or `d` admin-disabled).
/// There is no "inactive" here on purpose: the edge probes every node with OPTIONS
/// (`ds_probing_mode` 1), and an inactive node whose FreeSWITCH still answers would be brought
/// back into service by the probing even though its callgridd is gone.
enum class dispatcher_state : uint8_t {
  /// Receives new calls: lifecycle `active`, eligible, heartbeats arriving (`suspect` included:
  /// a few missed heartbeats are not yet a reason to move traffic).
  active,
  /// Receives no new calls and Kamailio's probing must not bring it back: `joining` (not healthy
  /// yet), `draining`, `drained`, `down` (heartbeats missing for longer than `down_after`), or
  /// not eligible. Only the registry re-enables it.
  admin_disabled,
};

/// The word of `state`: "active" or "admin_disabled". Never fails.
[[nodiscard]] const char* to_string(dispatcher_state state) noexcept;

/// One destination of the dispatcher set.
struct dispatcher_entry {
  std::string node;
  std::string sip_uri;
  /// The node's capacity (concurrent calls) as last reported.
  int32_t capacity = 0;
  /// Share of the set's total capacity in percent, 1..100 (Kamailio's `weight` attribute for the
  /// weight-based algorithms). Computed over every listed entry, whatever its state, so that a
  /// node going down does not change the weights of the others.
  int32_t weight = 1;
  dispatcher_state state = dispatcher_state::admin_disabled;
  /// Why the entry is not active, e.g. "draining" or "not eligible"; empty when active.
  std::string why;
  friend bool operator==(const dispatcher_entry&, const dispatcher_entry&) = default;
};

/// The dispatcher set the registry wants the edge to have, ordered by node id. Plain value; the
/// kamailio component renders it into the list file and RPC calls. `left` members are not in it.
struct dispatcher_view {
  std::vector<dispatcher_entry> entries;
  friend bool operator==(const dispatcher_view&, const dispatcher_view&) = default;
};

/// Derives the dispatcher set from the member table. Pure; never fails.
[[nodiscard]] dispatcher_view make_dispatcher_view(const membership& members);

} // namespace callgrid::cluster
