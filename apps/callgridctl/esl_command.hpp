#pragma once

#include <functional>

namespace CLI {
class App;
} // namespace CLI

/// `callgridctl` command groups. Each group lives in `<group>_command.hpp/.cpp` and exposes one
/// `install_<group>_command(CLI::App&)` function that main.cpp lists in its table of groups.
namespace callgrid::ctl {

// --- Shared by every command group (moves to its own header when the second group lands). ---

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
  /// Ended by SIGINT (Ctrl-C): 128 + 2, as shells report it.
  exit_interrupted = 130,
  /// Ended by SIGTERM: 128 + 15.
  exit_terminated = 143,
};

/// What main needs of an installed command group: a runner to call once parsing selected it.
/// The runner reads the values CLI11 stored, does the work on the calling thread, prints
/// results to stdout and failures to stderr, and returns the process exit code.
using command_runner = std::function<int()>;

// --- The esl group. ---

/// Fills the (already created) `esl` subcommand with its options, help text and exit-code
/// footer, and returns the runner that executes it: like `fs_cli -x`, it runs ESL commands on
/// one FreeSWITCH node and prints their output, or (`--events`) prints events as they arrive.
/// Runs on the main thread with its own io_context; never retries a failed connection.
[[nodiscard]] command_runner install_esl_command(CLI::App& command);

} // namespace callgrid::ctl
