#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switch_core.hpp"

/// fsemu's configuration file (`--config FILE`, TOML): the switch's identity and limits, the
/// dialplan, prompt lengths and scripted callers. Parsing only: nothing here opens a socket or
/// reads a clock; `load_config` reads the file it is given.
///
/// ```
/// auto loaded = fsemu::load_config("tools/fsemu/examples/ivr_demo.toml");
/// if (!loaded.problems.empty()) {
///   for (const auto& p : loaded.problems) std::cerr << p.to_string() << '\n';
///   return 2;
/// }
/// fsemu::switch_config config;
/// loaded.config->apply_to(config);
/// ```
namespace callgrid::fsemu {

/// One thing wrong with a configuration file, located. Plain data.
struct config_problem {
  /// The file as given.
  std::string file;
  /// 1-based line and column of the offending key or value (0 when unknown).
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  /// The dotted key, e.g. "callers[0].rate"; empty for a syntax error.
  std::string key;
  /// What is wrong, e.g. "must be a positive number".
  std::string message;

  /// "FILE:LINE:COLUMN: key 'KEY': MESSAGE" (without the key part for syntax errors).
  [[nodiscard]] std::string to_string() const;
};

/// One step of a scripted caller. Plain data.
struct script_step {
  /// What the caller does.
  enum class kind : std::uint8_t {
    /// Wait until the `count`th PLAYBACK_START on the call (at most `timeout_us`).
    wait_prompt,
    /// Wait until the `count`th PLAYBACK_STOP on the call (at most `timeout_us`).
    wait_prompt_end,
    /// Press `digits`, one DTMF every `interval_us` (the first at once).
    press,
    /// Stay silent for `duration_us`.
    pause,
    /// Hang up (a BYE: NORMAL_CLEARING, sip_hangup_disposition=recv_bye). Ends the script.
    hangup,
    /// Wait for the far end to hang up (at most `timeout_us`). Ends the script.
    expect_hangup,
  };
  kind what = kind::pause;
  std::uint32_t count = 1;
  std::string digits;
  std::int64_t interval_us = 200'000;
  std::int64_t duration_us = 0;
  /// For the waiting steps; 0 = the scenario's `wait_timeout`.
  std::int64_t timeout_us = 0;

  friend bool operator==(const script_step&, const script_step&) = default;
};

/// One per-call script of a scenario. Plain data.
struct caller_script {
  /// Shown in the summary; "script<N>" when not given.
  std::string name;
  /// Relative weight when the scenario picks scripts by weight.
  std::uint32_t weight = 1;
  std::vector<script_step> steps;
};

/// A `[[callers]]` scenario: who calls where, how often, and what each caller does. Plain data.
struct caller_scenario {
  std::string name;
  /// The number dialled (Caller-Destination-Number).
  std::string destination;
  /// The dialplan context the calls arrive in.
  std::string context = "default";
  /// Caller-ID number and name.
  std::string caller_id = "0000000000";
  std::string caller_id_name;
  /// New calls per second.
  double rate = 1.0;
  /// The most calls of this scenario up at once.
  std::uint32_t concurrency = 1;
  /// How many calls in all.
  std::uint32_t total = 1;
  /// How long a call may ring before the caller gives up (ORIGINATOR_CANCEL).
  std::int64_t answer_timeout_us = 10'000'000;
  /// The default time limit of wait_prompt, wait_prompt_end and expect_hangup.
  std::int64_t wait_timeout_us = 30'000'000;
  /// When the first call is placed, after the callers start.
  std::int64_t start_after_us = 0;
  /// true: scripts are chosen at random by weight; false: round-robin.
  bool weighted = false;
  /// Channel variables every call carries (e.g. park_timeout).
  std::vector<channel_variable> variables;
  std::vector<caller_script> scripts;
};

/// Everything a configuration file may set; unset options keep the program's defaults (and
/// command-line options override them). Plain data.
struct file_config {
  std::optional<std::string> hostname;
  std::optional<std::uint32_t> max_sessions;
  std::optional<std::int64_t> heartbeat_us;
  std::optional<std::string> listen;
  std::optional<std::uint16_t> esl_port;
  std::optional<std::string> esl_password;
  std::optional<std::string> socket_target;
  /// `[switch] sip_port`: the UDP port of the SIP user agent server (`--sip-port`).
  std::optional<std::uint16_t> sip_port;
  /// `[switch] sip_context`: the dialplan context SIP calls arrive in (`--sip-context`).
  std::optional<std::string> sip_context;
  /// Run the `[[callers]]` at start (as `--run-callers`).
  bool run_callers = false;
  /// `[[dialplan]]` entries replace the built-in dialplan instead of extending it.
  bool replace_default_dialplan = false;
  std::vector<dialplan_extension> dialplan;
  std::optional<std::int64_t> default_prompt_us;
  std::map<std::string, std::int64_t, std::less<>> prompt_lengths_us;
  /// `[prompts] unlisted`: "play" (a file that is not listed plays for `default`) or "missing"
  /// (it exists only on disk; otherwise `file_exists` says false and `playback` fails).
  std::optional<bool> unlisted_files_exist;
  /// `[switch] sounds_dir`: where relative `playback` paths are looked for.
  std::optional<std::string> sounds_dir;
  std::vector<caller_scenario> callers;

  /// Applies the dialplan, prompt lengths and `[switch]` settings to `config`. Never fails.
  void apply_to(switch_config& config) const;
};

/// The outcome of `load_config` / `parse_config`: a configuration, or the problems found (all
/// of them, not just the first). Plain data.
struct config_load_result {
  std::optional<file_config> config;
  std::vector<config_problem> problems;
};

/// Parses `text` as fsemu's TOML configuration, naming `file` in problems. Unknown keys, wrong
/// types and bad values are problems with their location; never throws.
[[nodiscard]] config_load_result parse_config(std::string_view text, const std::string& file);

/// Reads and parses the file at `path`; an unreadable file is one problem. Never throws.
[[nodiscard]] config_load_result load_config(const std::string& path);

/// Parses a duration such as "3s", "200ms", "1.5s", "2m", "100us"; `nullopt` otherwise.
[[nodiscard]] std::optional<std::int64_t> parse_duration_us(std::string_view text);

} // namespace callgrid::fsemu
