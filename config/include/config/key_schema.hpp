#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/daemon_config.hpp"

namespace callgrid::config {

/// The TOML type a key takes.
enum class value_kind {
  /// A string.
  string,
  /// An integer within `key_spec::min`..`key_spec::max`.
  integer,
  /// `true` or `false`.
  boolean,
  /// A string of whole numbers with units, e.g. "250ms", "5s", "1m30s", within
  /// `key_spec::min`..`key_spec::max` milliseconds.
  duration,
  /// One of the strings in `key_spec::choices`.
  choice,
  /// An array of strings.
  string_list,
};

/// The name of a kind as the reference documentation shows it, e.g. "duration". Pure.
[[nodiscard]] std::string_view to_string(value_kind kind) noexcept;

/// A value of any key after validation; the alternative follows `value_kind`
/// (a choice is a `std::string`).
using setting_value = std::variant<std::string, std::int64_t, bool, std::chrono::milliseconds,
                                   std::vector<std::string>>;

/// A check of a string value beyond its type. Returns an empty optional when the value is
/// acceptable, else a message and a hint (in that order). Pure.
using string_check = std::optional<std::pair<std::string, std::string>> (*)(std::string_view);

/// One configuration key: its documentation, validation and binding to `daemon_config`.
/// The table of all keys (`key_schema()`) is static, immutable and safe to read from any thread.
struct key_spec {
  /// Dotted name, e.g. "esl.connect_timeout".
  std::string_view name{};
  value_kind kind = value_kind::string;
  /// The default as a TOML value literal (`"5s"`, `8021`, `true`, `[]`); empty for a required
  /// key.
  std::string_view default_toml{};
  /// Unit for integers ("calls", "connections"); empty when the type says it all.
  std::string_view unit{};
  /// True when a change takes effect only after a restart of callgridd; false when a SIGHUP
  /// applies it to the running daemon.
  bool restart = true;
  /// What the key does, in one or two sentences.
  std::string_view description{};
  /// Inclusive range of an integer, or of a duration in milliseconds.
  std::int64_t min = 0;
  std::int64_t max = 0;
  /// Allowed words of a choice.
  std::span<const std::string_view> choices{};
  /// Extra check of a string or of each element of a string list; may be null.
  string_check check = nullptr;
  /// Stores a validated value into the configuration.
  void (*store)(daemon_config&, const setting_value&) = nullptr;
  /// Reads the key's value from the configuration.
  setting_value (*load)(const daemon_config&) = nullptr;
};

/// The key schema: every configuration key, in documentation order. Static table, safe from any
/// thread; never fails.
[[nodiscard]] std::span<const key_spec> key_schema() noexcept;

/// The key named `dotted_name`, or null. Pure.
[[nodiscard]] const key_spec* find_key(std::string_view dotted_name) noexcept;

/// The environment variable that overrides a key: `CALLGRID_` plus the dotted name with dots
/// turned into underscores, upper case (`esl.connect_timeout` → `CALLGRID_ESL_CONNECT_TIMEOUT`).
/// Pure; never fails.
[[nodiscard]] std::string env_name(std::string_view dotted_name);

/// Parses a duration such as "250ms", "5s", "2m", "1h" or "1m30s" (units in decreasing order,
/// each at most once, whole numbers only). Empty optional when the text is not a duration or
/// overflows. Pure.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Writes a duration in the largest unit that represents it exactly ("30s", "250ms", "2m",
/// "1m30s"). Pure; never fails.
[[nodiscard]] std::string format_duration(std::chrono::milliseconds value);

/// The reference documentation of every key as Markdown, generated from the key schema;
/// docs/configuration.md is exactly this text. Pure; never fails.
[[nodiscard]] std::string render_reference_markdown();

} // namespace callgrid::config
