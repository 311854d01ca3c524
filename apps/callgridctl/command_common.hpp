#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
} // namespace CLI

/// `callgridctl` command groups. Each group lives in `<group>_command.hpp/.cpp` and exposes one
/// `install_<group>_command(CLI::App&)` function that main.cpp lists in its table of groups.
/// This header holds what every group shares.
namespace callgrid::ctl {

/// The process exit codes of callgridctl; `--help` and docs/callgridctl.md document them.
enum exit_code : int {
  /// Everything asked for was done.
  exit_ok = 0,
  /// Could not do the job: connection refused, password rejected, timeout, link lost.
  exit_failure = 1,
  /// The command line was wrong (CLI11's own errors are mapped to this too).
  exit_usage = 2,
  /// Connected fine, but FreeSWITCH answered at least one command with -ERR or -USAGE.
  exit_command_failed = 3,
  /// A document (flow or route file) has errors; each is printed with its file:line:column.
  exit_invalid_document = 4,
  /// Ended by SIGINT (Ctrl-C): 128 + 2, as shells report it.
  exit_interrupted = 130,
  /// Ended by SIGTERM: 128 + 15.
  exit_terminated = 143,
};

/// What main needs of an installed command group: a runner to call once parsing selected it.
/// The runner reads the values CLI11 stored, does the work on the calling thread, prints
/// results to stdout and failures to stderr, and returns the process exit code.
using command_runner = std::function<int()>;

/// The PostgreSQL connection string for commands that use the database: `--db` when given,
/// else the environment variable CALLGRID_DATABASE_CONNINFO (the same variable callgridd reads);
/// empty when neither is set.
[[nodiscard]] std::string database_conninfo(const std::string& from_option);

} // namespace callgrid::ctl
