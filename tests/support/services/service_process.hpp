#pragma once

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

namespace callgrid::test_support {

/// Error thrown by the service launchers when a server cannot be prepared, started or queried.
/// Its message says what failed and, where a process was involved, its command line, its
/// directory and the last lines of its log files.
class service_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Loopback address every launched service listens on.
inline constexpr const char* service_host = "127.0.0.1";

/// Environment variable that, set to 1, keeps the directories of stopped services.
inline constexpr const char* keep_services_env = "CALLGRID_KEEP_TEST_SERVICES";

/// Default bound for a server to start answering; exceeding it throws service_error.
inline constexpr std::chrono::milliseconds default_start_timeout{30'000};

/// Default bound for a graceful stop; a server still running after it is killed with SIGKILL.
inline constexpr std::chrono::milliseconds default_stop_timeout{10'000};

/// Returns whether CALLGRID_KEEP_TEST_SERVICES is set to 1; never fails.
[[nodiscard]] bool keep_test_services() noexcept;

/// Returns a port of 127.0.0.1 that is free for TCP and UDP right now: binds a socket to port 0,
/// reads the port and closes it. A port is handed out at most once per process, so launchers of
/// one test binary never collide. Throws service_error when no free port is found.
[[nodiscard]] std::uint16_t pick_free_port();

/// Returns the last `max_lines` lines of the text file at `path`, each prefixed with "  | ",
/// or a note saying the file is missing or empty; never fails.
[[nodiscard]] std::string tail_file(const std::filesystem::path& path,
                                    std::size_t max_lines = 40) noexcept;

/// Renders `argv` as a shell command line, quoting words that need it; never fails.
[[nodiscard]] std::string render_command_line(const std::vector<std::string>& argv);

/// A system account a server runs as (PostgreSQL refuses to run as root).
struct user_identity {
  /// Login name, e.g. "postgres".
  std::string name;
  /// User id.
  uid_t uid = 0;
  /// Primary group id.
  gid_t gid = 0;
};

/// Looks up the system account `name`; throws service_error when it does not exist.
[[nodiscard]] user_identity lookup_user(const std::string& name);

/// Fresh directory `$TMPDIR/callgrid-<service>-XXXXXX` (or under /tmp) that is removed on
/// destruction unless CALLGRID_KEEP_TEST_SERVICES=1, in which case its path is printed to stderr.
/// Construction throws service_error when the directory cannot be created.
class temp_dir {
public:
  /// Creates the directory with mode 0700; throws service_error when mkdtemp fails.
  explicit temp_dir(const std::string& service_name);

  /// Removes the directory tree (or keeps and reports it, see the class comment); never fails.
  ~temp_dir();

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&&) = delete;
  temp_dir& operator=(temp_dir&&) = delete;

  /// Returns the absolute path of the directory; never fails.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  /// Hands the directory to `user` (chown); throws service_error when chown fails.
  void chown_to(const user_identity& user) const;

private:
  std::filesystem::path path_;
};

/// How to start a server process with child_process.
struct process_spec {
  /// Program and arguments; the first element must be an absolute path to the executable.
  std::vector<std::string> argv;
  /// Working directory of the process; empty keeps the current one.
  std::filesystem::path working_dir;
  /// File that receives stdout and stderr (appended, created if missing); empty means /dev/null.
  std::filesystem::path output_path;
  /// Account the process runs as; empty keeps the current user.
  std::optional<user_identity> user;
  /// Signal the process receives when the thread that started it dies (PR_SET_PDEATHSIG), so a
  /// crashed or aborted test binary does not leave servers behind.
  int parent_death_signal = SIGKILL;
};

/// A server process started by this library, in its own process group, stdin on /dev/null.
/// Stopping signals only this process, its descendants and its own process group. Construction
/// throws service_error when fork or any step before exec (setuid, chdir, exec, ...) fails.
class child_process {
public:
  /// Creates a handle that owns no process; never fails.
  child_process() noexcept = default;

  /// Starts `spec`; throws service_error naming the failed step, errno text and command line.
  explicit child_process(const process_spec& spec);

  /// Kills the process tree hard (see kill_hard()) if it still runs; never fails.
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Takes over the process of `other`, which then owns none; never fails.
  child_process(child_process&& other) noexcept;

  /// Kills the process owned so far, then takes over the process of `other`; never fails.
  child_process& operator=(child_process&& other) noexcept;

  /// Returns the pid of the owned process, or 0 when none is owned; never fails.
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Returns whether a process is owned and has not exited yet; never fails.
  [[nodiscard]] bool running() const noexcept;

  /// Asks the process to stop with `signal`, waits up to `grace` for it to exit, then kills what
  /// is left of its tree and process group with SIGKILL, reaps it and waits (bounded) until no
  /// member is left. Returns how it ended, e.g. "exited with status 0"; never fails.
  std::string stop(int signal, std::chrono::milliseconds grace) noexcept;

  /// Freezes the process and all its descendants, kills them with SIGKILL, reaps the process and
  /// waits (bounded) until none of them is left. Returns how it ended; never fails.
  std::string kill_hard() noexcept;

  /// Returns how the last owned process ended, or an empty string if it has not; never fails.
  [[nodiscard]] const std::string& exit_description() const noexcept { return exit_description_; }

  /// Returns whether the last owned process exited by itself with status 0; never fails.
  [[nodiscard]] bool exited_successfully() const noexcept { return exited_successfully_; }

private:
  std::string finish(const std::vector<pid_t>& killed) noexcept;

  pid_t pid_ = 0;
  std::string exit_description_;
  bool exited_successfully_ = false;
};

/// Runs `spec` to completion within `timeout`; throws service_error saying that `what` failed,
/// with the exit status, command line and the tail of the output file, when the process cannot
/// start, exits with a non-zero status or is still running at the deadline (it is then killed).
void run_to_completion(const process_spec& spec, std::chrono::milliseconds timeout,
                       const std::string& what);

/// Calls `probe` every 50 ms until it returns true. Throws service_error saying that `what`
/// failed, with the command line of `spec` and the tails of `log_paths`, when `process` exits
/// first or `timeout` passes; the process is killed before throwing. Exceptions thrown by `probe`
/// propagate.
void wait_until_ready(child_process& process, const process_spec& spec,
                      const std::function<bool()>& probe, std::chrono::milliseconds timeout,
                      const std::string& what, const std::vector<std::filesystem::path>& log_paths);

/// Builds the text of a launcher failure: `what`, then the command line of `argv` (if any), the
/// service directory and the tails of `log_paths`; never fails.
[[nodiscard]] std::string describe_failure(const std::string& what,
                                           const std::vector<std::string>& argv,
                                           const std::filesystem::path& directory,
                                           const std::vector<std::filesystem::path>& log_paths);

} // namespace callgrid::test_support
