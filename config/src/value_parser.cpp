#include "value_parser.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "suggestion.hpp"

namespace callgrid::config::internal {

namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string expected_text(const key_spec& spec) {
  switch (spec.kind) {
    case value_kind::string: return "a string";
    case value_kind::integer: return "an integer";
    case value_kind::boolean: return "true or false";
    case value_kind::duration: return "a duration (a string such as \"30s\")";
    case value_kind::choice: return "a string";
    case value_kind::string_list: return "an array of strings";
  }
  return "a value";
}

std::string choice_list(const key_spec& spec) {
  std::string out;
  for (auto word : spec.choices) {
    if (!out.empty())
      out += ", ";
    out += word;
  }
  return out;
}

value_problem wrong_type(const key_spec& spec, toml::node_type got) {
  value_problem problem{"expects " + expected_text(spec) + ", got " + std::string{type_name(got)},
                        ""};
  if (spec.kind == value_kind::duration && got == toml::node_type::integer)
    problem.hint = "write the number as a string with a unit: ms, s, m or h, e.g. \"30s\"";
  else if ((spec.kind == value_kind::integer || spec.kind == value_kind::boolean)
           && got == toml::node_type::string)
    problem.hint = "write the value without quotes";
  else if (spec.kind == value_kind::string_list && got == toml::node_type::string)
    problem.hint = "write an array, e.g. " + std::string{spec.default_toml};
  else if (spec.kind == value_kind::string || spec.kind == value_kind::choice)
    problem.hint = "put the value in double quotes";
  return problem;
}

std::string duration_text(std::int64_t millis) {
  return format_duration(std::chrono::milliseconds{millis});
}

// Range, choice and string checks shared by both sources.
parsed_value validate(setting_value value, const key_spec& spec) {
  switch (spec.kind) {
    case value_kind::integer: {
      auto number = std::get<std::int64_t>(value);
      if (number < spec.min || number > spec.max)
        return value_problem{std::to_string(number) + " is out of range",
                             "use a value from " + std::to_string(spec.min) + " to "
                               + std::to_string(spec.max)};
      break;
    }
    case value_kind::duration: {
      auto millis = std::get<std::chrono::milliseconds>(value).count();
      if (millis < spec.min || millis > spec.max)
        return value_problem{duration_text(millis) + " is out of range",
                             "use a duration from " + duration_text(spec.min) + " to "
                               + duration_text(spec.max)};
      break;
    }
    case value_kind::choice: {
      const auto& word = std::get<std::string>(value);
      if (std::find(spec.choices.begin(), spec.choices.end(), word) == spec.choices.end()) {
        std::vector<std::string> words(spec.choices.begin(), spec.choices.end());
        auto near = closest_match(word, words);
        return value_problem{quoted(word) + " is not one of " + choice_list(spec),
                             near ? "did you mean " + quoted(*near) + "?" : ""};
      }
      break;
    }
    case value_kind::string:
      if (spec.check != nullptr)
        if (auto refused = spec.check(std::get<std::string>(value)))
          return value_problem{std::move(refused->first), std::move(refused->second)};
      break;
    case value_kind::string_list:
      if (spec.check != nullptr)
        for (const auto& element : std::get<std::vector<std::string>>(value))
          if (auto refused = spec.check(element))
            return value_problem{"element " + quoted(element) + ": " + refused->first,
                                 std::move(refused->second)};
      break;
    case value_kind::boolean:
      break;
  }
  return value;
}

parsed_value parse_duration_text(std::string_view text, const key_spec& spec) {
  auto duration = parse_duration(text);
  if (!duration)
    return value_problem{quoted(text) + " is not a duration",
                         "write whole numbers with units in decreasing order (h, m, s, ms), "
                         "e.g. \"30s\", \"250ms\" or \"1m30s\""};
  return validate(*duration, spec);
}

} // namespace

parsed_value parse_toml_value(const toml::node& node, const key_spec& spec,
                              toml::source_position& where) {
  where = node.source().begin;
  switch (spec.kind) {
    case value_kind::integer:
      if (auto number = node.as_integer())
        return validate(number->get(), spec);
      return wrong_type(spec, node.type());
    case value_kind::boolean:
      if (auto flag = node.as_boolean())
        return flag->get();
      return wrong_type(spec, node.type());
    case value_kind::duration:
      if (auto text = node.as_string())
        return parse_duration_text(text->get(), spec);
      return wrong_type(spec, node.type());
    case value_kind::string:
    case value_kind::choice:
      if (auto text = node.as_string())
        return validate(text->get(), spec);
      return wrong_type(spec, node.type());
    case value_kind::string_list: {
      auto array = node.as_array();
      if (array == nullptr)
        return wrong_type(spec, node.type());
      std::vector<std::string> elements;
      for (const auto& element : *array) {
        auto text = element.as_string();
        if (text == nullptr) {
          where = element.source().begin;
          return value_problem{"expects an array of strings, got an element that is "
                                 + std::string{type_name(element.type())},
                               "put every element in double quotes"};
        }
        if (spec.check != nullptr) {
          if (auto refused = spec.check(text->get())) {
            where = element.source().begin;
            return value_problem{"element " + quoted(text->get()) + ": " + refused->first,
                                 std::move(refused->second)};
          }
        }
        elements.push_back(text->get());
      }
      return elements;
    }
  }
  return value_problem{"has an unsupported type", ""};
}

parsed_value parse_env_value(std::string_view text, const key_spec& spec) {
  switch (spec.kind) {
    case value_kind::integer: {
      std::int64_t number = 0;
      const auto* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, number);
      if (text.empty() || ec != std::errc{} || ptr != end)
        return value_problem{quoted(text) + " is not an integer",
                             "write a decimal number, e.g. " + std::to_string(spec.min)};
      return validate(number, spec);
    }
    case value_kind::boolean:
      if (text == "true" || text == "1")
        return true;
      if (text == "false" || text == "0")
        return false;
      return value_problem{quoted(text) + " is not a boolean", "write true or false"};
    case value_kind::duration:
      return parse_duration_text(text, spec);
    case value_kind::string:
    case value_kind::choice:
      return validate(std::string{text}, spec);
    case value_kind::string_list: {
      std::vector<std::string> elements;
      // Commas separate the elements: the array keys hold "HOST:PORT" and IPv6 addresses.
      while (!text.empty()) {
        auto comma = text.find(',');
        elements.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos)
          break;
        text.remove_prefix(comma + 1);
        if (text.empty())
          elements.emplace_back();
      }
      return validate(std::move(elements), spec);
    }
  }
  return value_problem{"has an unsupported type", ""};
}

} // namespace callgrid::config::internal
