#pragma once

#include "command_common.hpp"

namespace callgrid::ctl {

// --- The edge group. ---

/// Fills the (already created) `edge` subcommand with its options and help and returns the
/// runner: `edge render` turns the `[edge]` section of callgridd's configuration into a
/// kamailio.cfg (and, with `-o`, the permissions address file of trusted peers), optionally
/// checked by `kamailio -c`, and with `--reload` makes the running Kamailio reread the address
/// file. Runs on the main thread; exit 0 done, 1 a file could not be written, kamailio not run
/// or the reload failed, 4 the configuration or the rendered file has errors.
[[nodiscard]] command_runner install_edge_command(CLI::App& command);

} // namespace callgrid::ctl
