// callgridctl: the operator's command-line tool for a callgrid voice platform.
// This file only builds the CLI11 app from the table of command groups and dispatches; each
// group lives in <group>_command.hpp/.cpp.

#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "esl_command.hpp"
#include "flow_command.hpp"
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
  {"flow",
   "Validate IVR flow documents and import them into the catalog (PostgreSQL)",
   install_flow_command},
  {"route",
   "Import inbound routes into the catalog (PostgreSQL) and list them",
   install_route_command},
};

constexpr std::string_view exit_codes_footer =
  "Exit codes: 0 done; 1 could not connect, password rejected, timeout or link lost; 2 usage "
  "error; 3 FreeSWITCH answered a command with -ERR; 4 a flow or route document has errors; "
  "130 interrupted (Ctrl-C).\n"
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 prints the message (or the help) and returns its own codes (100 and up); callers
    // and scripts get the conventional 2 for every usage error.
    auto code = app.exit(error);
    return code == 0 ? exit_ok : exit_usage;
  }
  for (auto& [command, run] : runners)
    if (command->parsed())
      return run();
  return exit_usage;
}
