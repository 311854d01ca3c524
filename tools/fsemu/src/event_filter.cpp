#include "event_filter.hpp"

#include "ascii_text.hpp"

namespace callgrid::fsemu {

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
    if (!iequals(*value, wanted))
      continue;
    if (!positive)
      return false;
    passes = true;
  }
  return passes;
}

} // namespace callgrid::fsemu
