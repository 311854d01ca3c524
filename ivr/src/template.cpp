#include "template.hpp"

namespace callgrid::ivr::internal {

bool valid_variable_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64)
    return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0]))
    return false;
  for (char c : name)
    if (!alpha(c) && !(c >= '0' && c <= '9'))
      return false;
  return true;
}

std::optional<std::string> check_template(std::string_view text) {
  std::size_t i = 0;
  while ((i = text.find("${", i)) != std::string_view::npos) {
    const auto close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      return "unterminated '${' in '" + std::string{text} + "'";
    const auto name = text.substr(i + 2, close - i - 2);
    if (!valid_variable_name(name))
      return "bad variable name '" + std::string{name} + "' in '" + std::string{text} + "'";
    i = close + 1;
  }
  return std::nullopt;
}

} // namespace callgrid::ivr::internal
