#include "event_filter.hpp"

#include "ascii_text.hpp"

namespace callgrid::fsemu {

bool passes_filters(const std::vector<event_filter>& filters,
                    const std::vector<std::optional<std::string>>& header_values) {
  bool passes = filters.empty();
  for (std::size_t i = 0; i < filters.size() && i < header_values.size(); ++i) {
    const auto& filter = filters[i];
    const auto& value = header_values[i];
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
