#include "event_filter.hpp"

namespace callgrid::fsemu {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; };
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

} // namespace

bool passes_filters(const std::vector<event_filter>& filters, const header_lookup& value_of) {
  if (filters.empty())
    return true;
  bool passes = false;
  for (const auto& filter : filters) {
    auto value = value_of(filter.header);
    if (!value)
      continue;
    std::string_view wanted = filter.value;
    bool positive = true;
    while (!wanted.empty() && (wanted.front() == '+' || wanted.front() == '-'
                               || wanted.front() == ' ')) {
      if (wanted.front() != ' ')
        positive = wanted.front() == '+';
      wanted.remove_prefix(1);
    }
    if (passes && positive)
      continue;
    if (!equal_ignoring_case(*value, wanted))
      continue;
    if (!positive)
      return false;
    passes = true;
  }
  return passes;
}

} // namespace callgrid::fsemu
