#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/daemon_config.hpp"
#include "config/diagnostic.hpp"

namespace callgrid::config {

/// The process environment as name → value.
using environment = std::map<std::string, std::string>;

/// The outcome of loading the configuration. Plain data owned by the caller. `config` is set
/// exactly when `problems` holds no error; `problems` lists every error and warning found, in the
/// order of the sources (files, then environment, then cross-key checks).
struct load_result {
  std::optional<daemon_config> config;
  std::vector<diagnostic> problems;
};

/// A copy of the calling process's environment (`environ`). Call it from the main thread before
/// other threads start (POSIX does not make `environ` thread-safe); never fails.
[[nodiscard]] environment process_environment();

/// Loads callgridd's configuration: the defaults, then `file`, then every `*.toml` in the
/// `conf.d` directory next to `file` in lexical order (hidden files skipped; later wins, key by
/// key), then the `CALLGRID_` variables of `env`, then the safety checks. Runs in the caller's
/// thread and reads only the file system. Every problem becomes a diagnostic: a missing or
/// unreadable file or directory (with its path), a TOML syntax error (file:line:column), an
/// unknown key (with a "did you mean" where one is close), a wrong type, an out-of-range value,
/// a bad duration, a refused password or address. Unknown `CALLGRID_` variables are warnings.
[[nodiscard]] load_result load_daemon_config(const std::filesystem::path& file,
                                             const environment& env);

/// Like `load_daemon_config`, for one TOML text and no drop-ins: `file_name` only labels the
/// diagnostics. Touches nothing but `gethostname` (for an empty `node.name`); never throws.
[[nodiscard]] load_result parse_daemon_config(std::string_view toml_text,
                                              std::string_view file_name,
                                              const environment& env);

/// The dotted names of the keys whose values differ between `before` and `after`, in schema
/// order (a SIGHUP reports them; only names, so secrets stay out of the log). Pure.
[[nodiscard]] std::vector<std::string> changed_keys(const daemon_config& before,
                                                    const daemon_config& after);

/// Whether `render_effective` prints secrets.
enum class secrets { masked, shown };

/// The configuration as a complete TOML document, every key with its value, section by section.
/// With `secrets::masked` (for logs and `--check-config`) `esl.password` and any password in
/// `database.conninfo` are replaced by `********`. Pure; never fails.
[[nodiscard]] std::string render_effective(const daemon_config& config,
                                           secrets show = secrets::masked);

/// Resolves `log_format::automatic`: JSON when `JOURNAL_STREAM` is in `env` (callgridd runs under
/// systemd), text otherwise; other formats are returned as they are. Pure.
[[nodiscard]] log_format effective_log_format(log_format configured, const environment& env);

} // namespace callgrid::config
