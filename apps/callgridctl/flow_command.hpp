#pragma once

#include "command_common.hpp"

namespace callgrid::ctl {

/// Fills the `flow` subcommand: `flow validate FILE...` checks IVR flow documents (YAML or
/// JSON) and prints every problem with its location; `flow import FILE...` validates them
/// against the prompt catalog and stores each as a new version in PostgreSQL (ivr_flows),
/// unchanged documents keeping their version. Runs on the main thread; blocking libpq.
[[nodiscard]] command_runner install_flow_command(CLI::App& command);

} // namespace callgrid::ctl
