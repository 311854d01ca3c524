// callgridctl: the operator's command-line tool for a callgrid voice platform.
// This file only builds the CLI11 app from the table of command groups and dispatches; each
// group lives in <group>_command.hpp/.cpp.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "call_command.hpp"
#include "edge_command.hpp"
#include "esl_command.hpp"
#include "flow_command.hpp"
#include "node_command.hpp"
#include "route_command.hpp"

namespace {

using namespace callgrid::ctl;

/// One command group of callgridctl: its name, its one-line help and the function that
/// installs its options into the subcommand and returns the runner.
struct command_group {
  std::string_view name;
  std::string_view help;
  command_runner (*install)(CLI::App& command);
};

/// Every command group, in the order `callgridctl --help` lists them.
constexpr command_group command_groups[] = {
  {"esl",
   "Run ESL commands on a FreeSWITCH node and print their output (like fs_cli -x), or print "
   "its events as they arrive",
   install_esl_command},
  {"edge",
   "Render the Kamailio SIP edge's kamailio.cfg and trusted-peer file from callgridd's "
   "configuration",
   install_edge_command},
  {"flow",
   "Validate IVR flow documents and import them into the catalog (PostgreSQL)",
   install_flow_command},
  {"route",
   "Import inbound routes into the catalog (PostgreSQL) and list them",
   install_route_command},
  {"node",
   "List, drain, enable or remove cluster nodes through the coordinator's admin API",
   install_node_command},
  {"call",
   "Place outbound calls on a node through its call API",
   install_call_command},
};

constexpr std::string_view exit_codes_footer =
  "Exit codes: 0 done; 1 could not connect, password rejected, timeout or link lost; 2 usage "
  "error; 3 FreeSWITCH answered a command with -ERR; 4 a flow or route document or the edge "
  "configuration has errors; 130 interrupted (Ctrl-C).\n"
  "Run 'callgridctl COMMAND --help' for the options of a command.";

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"callgridctl: the operator's command-line tool for a callgrid voice platform.",
               "callgridctl"};
  app.require_subcommand(1);
  app.footer(std::string{exit_codes_footer});
  std::vector<std::pair<CLI::App*, command_runner>> runners;
  for (const auto& group : command_groups) {
    auto* command = app.add_subcommand(std::string{group.name}, std::string{group.help});
    runners.emplace_back(command, group.install(*command));
  }
  std::vector<std::string> rewritten_options;
  accept_single_dash_options(argc, argv, rewritten_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 prints the message (or the help) and returns its own codes (100 and up); callers
    // and scripts get the conventional 2 for every usage error, except `node`, whose exit code
    // 2 means "calls were hung up at the deadline" (issue 6): its usage errors are 1.
    auto code = app.exit(error);
    if (code == 0)
      return exit_ok;
    return argc > 1 && std::string_view{argv[1]} == "node" ? exit_failure : exit_usage;
  }
  for (auto& [command, run] : runners)
    if (command->parsed())
      return run();
  return exit_usage;
}
