#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// The pure parts of FreeSWITCH 1.10's `play_and_get_digits`: mod_dptools' argument parsing,
/// switch_ivr_read's verdict on the digits of one try and switch_play_and_get_digits' decision
/// to accept them or play the invalid file and try again. `switch_core` drives the timing
/// (prompt, timeouts, DTMF) and fires the events; these functions only compute. Pure and
/// thread-compatible; nothing here fails (bad input becomes FreeSWITCH's defaults).
///
/// ```
/// auto args = fsemu::parse_play_and_get_digits("1 4 3 5000 # ivr/menu.wav ivr/bad.wav choice \\d+");
/// auto read = fsemu::finish_read(args, "12", '#', fsemu::read_status::success);
/// // read.digits == "12", read.read_result == "success", read.terminator_used == "#"
/// bool accepted = fsemu::accept_try(args, read) == fsemu::try_verdict::accepted;
/// ```
namespace callgrid::fsemu {

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators> <file> <invalid_file>
/// [<var_name> [<regexp> [<digit_timeout> [<transfer_on_failure>]]]]` after mod_dptools'
/// clamping. Plain data.
struct pagd_arguments {
  /// At least this many digits (negative given = 0).
  std::uint32_t min_digits = 0;
  /// At most this many digits (raised to `min_digits` when smaller).
  std::uint32_t max_digits = 0;
  /// How many times the prompt is played (0 = none: the application fails at once).
  std::uint32_t max_tries = 0;
  /// Milliseconds to wait for the first digit after the prompt (at least 1000).
  std::uint32_t timeout_ms = 1000;
  /// Milliseconds to wait for each further digit; switch_ivr_read uses `timeout_ms` when 0.
  std::uint32_t digit_timeout_ms = 0;
  /// The terminator digits ("#" when none given). A leading `=` makes a terminator required;
  /// `+` or `x` before a terminator keeps it in the digits (`x` also ends with "restart").
  std::string terminators = "#";
  /// The prompt; empty or "silence" plays nothing.
  std::string file;
  /// Played after each failed try; empty or "silence" plays nothing.
  std::string invalid_file;
  /// The channel variable the digits go to (empty = none); `<var_name>_invalid` holds digits
  /// that did not match `digits_regex`.
  std::string var_name;
  /// The regular expression the digits must match (empty = any digits).
  std::string digits_regex;
  /// "EXT [DIALPLAN [CONTEXT]]" to transfer to when every try failed (empty = none).
  std::string transfer_on_failure;
};

/// FreeSWITCH's switch_separate_string with a space: words split on runs of `delim`, a word in
/// single quotes keeps its spaces (quotes removed), and the `max_words`-th word holds the rest of
/// the text. Never fails.
[[nodiscard]] std::vector<std::string> separate_string(std::string_view text, char delim,
                                                       std::size_t max_words);

/// Parses the application data of `play_and_get_digits` as mod_dptools does (11 words at most:
/// the last, `transfer_on_failure`, keeps its spaces). Never fails: missing words keep the
/// defaults of `pagd_arguments`, numbers are read as atoi reads them.
[[nodiscard]] pagd_arguments parse_play_and_get_digits(std::string_view data);

/// How one switch_ivr_read ended.
enum class read_status : std::uint8_t {
  /// Enough digits, a terminator, or the prompt broken by a digit.
  success,
  /// The first-digit or inter-digit timeout expired.
  timeout,
  /// Fewer than `min_digits`, or no terminator where one was required.
  too_small,
  /// An `x`-flagged terminator ended the read.
  restart,
};

/// One try's result as switch_ivr_read leaves it. Plain data.
struct read_outcome {
  /// The final status (after the min_digits and terminator checks).
  read_status status = read_status::success;
  /// The digits collected (`var_name` is set to them when not empty).
  std::string digits;
  /// The `read_result` variable: "success", "timeout" or "failure".
  std::string read_result;
  /// The `read_terminator_used` variable when a terminator ended the read; empty otherwise.
  std::string terminator_used;
};

/// switch_ivr_read's tail: the collection ended with `status` (`success` or `timeout`), having
/// gathered `digits` and seen `terminator` ('\0' = none). Applies the `+`/`x` terminator flags,
/// the required terminator, `min_digits`, and the single-digit-terminator rule. Never fails.
[[nodiscard]] read_outcome finish_read(const pagd_arguments& args, std::string digits,
                                       char terminator, read_status status);

/// What switch_play_and_get_digits does after one read.
enum class try_verdict : std::uint8_t {
  /// The digits are accepted: the application ends.
  accepted,
  /// The read ended with "restart": the application ends at once.
  restart,
  /// The digits matched nothing (`invalid_digits` set): play the invalid file, try again.
  invalid,
  /// No usable digits: play the invalid file, try again.
  retry,
};

/// Judges one read as switch_play_and_get_digits does. `terminator_variable_set` says whether
/// the channel has a `read_terminator_used` variable (FreeSWITCH does not clear it between
/// reads). Never fails; a regular expression that does not compile matches nothing.
[[nodiscard]] try_verdict accept_try(const pagd_arguments& args, const read_outcome& read,
                                     bool terminator_variable_set);

/// Whether `digits` match `pattern` somewhere (PCRE-like search with ECMAScript syntax, as
/// switch_regex_match searches). A pattern that does not compile matches nothing.
[[nodiscard]] bool digits_match(std::string_view digits, std::string_view pattern);

/// Whether `file` is a prompt switch_ivr_read would play (not empty, not "silence").
[[nodiscard]] bool plays_prompt(std::string_view file) noexcept;

} // namespace callgrid::fsemu
