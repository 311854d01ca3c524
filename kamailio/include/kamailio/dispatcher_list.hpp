#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kamailio/errc.hpp"

/// Kamailio dispatcher list files (dispatcher module, `list_file`) as values: render a set of
/// targets into the file Kamailio reads, parse such a file back with located problems, and
/// validate a list before it is written. Pure: no I/O, no clock.
///
/// ```
/// std::vector<kamailio::dispatcher_target> targets{
///   {.set = 1, .uri = "sip:10.0.0.11:5060", .weight = 50, .node_id = "fs-a"},
///   {.set = 1, .uri = "sip:10.0.0.12:5060", .state = kamailio::target_state::disabled,
///    .weight = 50, .node_id = "fs-b"}};
/// auto problems = kamailio::validate_dispatcher_list(targets, {.required_sets = {1}});
/// if (problems.empty())
///   write_file_atomically(path, kamailio::render_dispatcher_list(targets));
/// ```
namespace callgrid::kamailio {

/// The administrative state of one target as written into the list file's flags column.
/// Kamailio keeps `dispatcher.set_state` changes in memory only and rereads the flags on every
/// reload, so the state callgrid wants must be in the file (platform-notes.md).
enum class target_state : std::uint8_t {
  /// Selectable (flags 0).
  active,
  /// Not selected until probing finds it alive again (flags 1).
  inactive,
  /// Admin-disabled: never selected, never probed (flags 4); what a drain sets.
  disabled,
  /// Selectable and probed with OPTIONS whatever `ds_probing_mode` says (flags 8).
  probing,
};

/// The name of `state` ("active", "inactive", "disabled", "probing"). Never fails.
[[nodiscard]] const char* to_string(target_state state) noexcept;

/// The flags column for `state` (0, 1, 4 or 8). Never fails.
[[nodiscard]] int to_flags(target_state state) noexcept;

/// The state a flags value means: 4 (disabled) wins, then 1 (inactive), then 8 (probing);
/// 2 (trying) and 16 (skip DNS) alone are active. Never fails.
[[nodiscard]] target_state state_from_flags(int flags) noexcept;

/// The letter `dispatcher.set_state` takes for `state`: a, i, d, or "ap" for probing.
[[nodiscard]] const char* rpc_state_letters(target_state state) noexcept;

/// One destination of a dispatcher set: one line of the list file. Plain data.
struct dispatcher_target {
  /// The set (group) id: first column, what `ds_select_dst(set, ...)` picks from.
  int set = 1;
  /// The SIP URI Kamailio relays to, e.g. "sip:10.0.0.11:5060".
  std::string uri;
  /// The state, written as the flags column.
  target_state state = target_state::active;
  /// Share for the weight algorithm (attribute `weight`, 1 to 100).
  int weight = 1;
  /// Initial order inside the set (priority column; higher first for the priority algorithm).
  int priority = 0;
  /// The callgrid node behind the URI (attribute `duid`; no blanks, `;` or `=`); may be empty.
  std::string node_id;

  friend bool operator==(const dispatcher_target&, const dispatcher_target&) = default;
};

/// Where in a list file a problem is: 1-based line and column. Plain data.
struct list_location {
  std::size_t line = 0;
  std::size_t column = 0;

  friend bool operator==(const list_location&, const list_location&) = default;
};

/// One problem of a list (parse or validation): where, and what is wrong. For validation of
/// targets in memory, `line` is the 1-based index of the target and `column` 0.
struct list_problem {
  list_location where;
  std::string message;
};

/// Renders `problems` one per line as "NAME:LINE:COLUMN: message" (`name` labels the source,
/// e.g. the file path). Never fails.
[[nodiscard]] std::string render_problems(const std::vector<list_problem>& problems,
                                          std::string_view name);

/// The outcome of parsing a list file: the targets of every well-formed line, and a problem
/// for every other line. Plain data.
struct parsed_dispatcher_list {
  std::vector<dispatcher_target> targets;
  std::vector<list_problem> problems;
};

/// Parses a dispatcher list file: `setid uri [flags [priority [attrs]]]` per line, `#`
/// comments and blank lines skipped. Attributes other than `weight` and `duid` are ignored.
/// Never throws; a line that does not parse becomes a located problem and is left out.
[[nodiscard]] parsed_dispatcher_list parse_dispatcher_list(std::string_view text);

/// What `validate_dispatcher_list` insists on beyond well-formed targets. Plain data.
struct list_validation {
  /// Sets that must keep at least one usable (active or probing) target. Kamailio accepts a
  /// reload that leaves a set empty and then routes nothing: the empty-set trap.
  std::vector<int> required_sets;
};

/// Checks `targets` before they are written: set ids not negative, URIs
/// `sip:`/`sips:` without blanks, weights 1 to 100, priorities non-negative, node ids without
/// blanks, `;` or `=`, no URI twice in a set, and every required set usable. Pure; returns
/// every problem (empty when the list may be written).
[[nodiscard]] std::vector<list_problem>
validate_dispatcher_list(const std::vector<dispatcher_target>& targets,
                         const list_validation& rules = {});

/// Renders `targets` as a list file in the given order, with a header comment: one line
/// `set uri flags priority weight=N;duid=NODE` each (`duid` left out when empty). Kamailio
/// lists a set's targets in reverse file order; the order here is the caller's. Does not
/// validate; call `validate_dispatcher_list` first. Never fails.
[[nodiscard]] std::string render_dispatcher_list(const std::vector<dispatcher_target>& targets);

/// Validates and renders in one step: the text, or `errc::invalid_list` listing every problem.
[[nodiscard]] result<std::string>
render_valid_dispatcher_list(const std::vector<dispatcher_target>& targets,
                             const list_validation& rules = {});

} // namespace callgrid::kamailio
