#pragma once

#include "command_common.hpp"

namespace callgrid::ctl {

/// Installs `callgridctl call originate`: asks a node daemon's call API (`POST /v1/calls`,
/// docs/callgridctl.md) to place an outbound call that runs a route or a flow once answered.
/// Prints the call's UUID and the FreeSWITCH Job-UUID; exits 0 when the node accepted the call,
/// 1 when it refused it (draining, ESL down, at capacity, bad request) or could not be reached,
/// 2 for a wrong command line.
[[nodiscard]] command_runner install_call_command(CLI::App& command);

} // namespace callgrid::ctl
