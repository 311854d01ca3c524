#pragma once

#include "command_common.hpp"

namespace callgrid::ctl {

// --- The esl group. ---

/// Fills the (already created) `esl` subcommand with its options, help text and exit-code
/// footer, and returns the runner that executes it: like `fs_cli -x`, it runs ESL commands on
/// one FreeSWITCH node and prints their output, or (`--events`) prints events as they arrive.
/// Runs on the main thread with its own io_context; never retries a failed connection.
[[nodiscard]] command_runner install_esl_command(CLI::App& command);

} // namespace callgrid::ctl
