#pragma once

#include <string>
#include <vector>

#include "command_common.hpp"

namespace callgrid::ctl {

/// Installs `callgridctl node list|drain|eligibility|force-leave`: the operator's view of the
/// cluster through the coordinator's admin API (docs/callgridctl.md, docs/cluster.md). `drain`
/// watches the drain with timestamped progress lines and exits 0 drained, 1 usage, connection or
/// authentication error, 2 calls were hung up at the deadline, 3 cancelled by another operator,
/// 4 records not flushed in time, 130 interrupted (the drain goes on).
[[nodiscard]] command_runner install_node_command(CLI::App& command);

/// Rewrites Nomad-style single-dash long options after `node` (`-deadline 30m`, `-yes`) into
/// CLI11's double-dash form, in place; single letters (`-m`, `-o`) are left alone.
void accept_single_dash_options(int argc, char** argv, std::vector<std::string>& storage);

} // namespace callgrid::ctl
