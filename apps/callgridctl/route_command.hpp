#pragma once

#include "command_common.hpp"

namespace callgrid::ctl {

/// Fills the `route` subcommand: `route import FILE` upserts the inbound routes of a YAML file
/// into PostgreSQL (by name; flows named by their flow name), `route list` prints the routes.
/// Runs on the main thread; blocking libpq. The file format is in docs/callgridctl.md.
[[nodiscard]] command_runner install_route_command(CLI::App& command);

} // namespace callgrid::ctl
