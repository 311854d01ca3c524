#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <toml++/toml.h>

#include "config/key_schema.hpp"

namespace callgrid::config::internal {

/// Why a value was refused: what is wrong, and how to fix it (may be empty).
struct value_problem {
  std::string message;
  std::string hint;
};

/// A validated value, or why it was refused.
using parsed_value = std::variant<setting_value, value_problem>;

/// A TOML value as the value of `spec`: type, range, choice and string checks. When an element of
/// an array is refused, `where` is set to that element's source region. Pure; never throws.
[[nodiscard]] parsed_value parse_toml_value(const toml::node& node, const key_spec& spec,
                                            toml::source_position& where);

/// The text of an environment variable as the value of `spec`: a string as it is, an integer in
/// decimal, a boolean as true/false/1/0, a duration as in TOML, an array of strings separated by
/// ':' (empty text: empty array). Pure; never throws.
[[nodiscard]] parsed_value parse_env_value(std::string_view text, const key_spec& spec);

} // namespace callgrid::config::internal
