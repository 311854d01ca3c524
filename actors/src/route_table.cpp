#include "actors/route_table.hpp"

#include <algorithm>

namespace callgrid::actors {

const char* to_string(route_action action) noexcept {
  switch (action) {
    case route_action::flow:
      return "flow";
    case route_action::bridge:
      return "bridge";
    case route_action::hangup:
      return "hangup";
  }
  return "unknown";
}

bool is_open(const time_window& window, std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  auto instant = floor<seconds>(now);
  auto local = window.zone ? window.zone->to_local(instant) : instant;
  auto day = floor<days>(local);
  auto minute_of_day = static_cast<int>(duration_cast<minutes>(local - day).count());
  auto bit_of = [](sys_days d) { return weekday{d}.iso_encoding() - 1; };
  auto allowed = [&](unsigned bit) { return (window.weekdays & (1u << bit)) != 0; };
  if (window.from_minute <= window.to_minute)
    return allowed(bit_of(day)) && minute_of_day >= window.from_minute
           && minute_of_day < window.to_minute;
  // Crosses midnight: the evening part belongs to today, the morning part to yesterday.
  if (minute_of_day >= window.from_minute)
    return allowed(bit_of(day));
  return minute_of_day < window.to_minute && allowed(bit_of(day - days{1}));
}

std::shared_ptr<const route_table> route_table::build(std::vector<route> routes) {
  auto table = std::make_shared<route_table>();
  for (auto& r : routes) {
    entry e{std::move(r), std::nullopt};
    if (!e.value.caller_pattern.empty()) {
      try {
        e.caller.emplace(e.value.caller_pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& err) {
        table->problems_.push_back("route '" + e.value.name + "': caller_pattern '"
                                   + e.value.caller_pattern + "' is not a valid regex: "
                                   + err.what());
        continue;
      }
    }
    table->entries_.push_back(std::move(e));
  }
  std::sort(table->entries_.begin(), table->entries_.end(), [](const entry& a, const entry& b) {
    if (a.value.match_prefix.size() != b.value.match_prefix.size())
      return a.value.match_prefix.size() > b.value.match_prefix.size();
    if (a.value.priority != b.value.priority)
      return a.value.priority < b.value.priority;
    return a.value.id < b.value.id;
  });
  return table;
}

const route* route_table::match(std::string_view callee, std::string_view caller,
                                std::chrono::system_clock::time_point now) const {
  for (const auto& e : entries_) {
    if (!callee.starts_with(e.value.match_prefix))
      continue;
    if (e.caller && !std::regex_match(caller.begin(), caller.end(), *e.caller))
      continue;
    if (!e.value.windows.empty()
        && std::none_of(e.value.windows.begin(), e.value.windows.end(),
                        [&](const time_window& w) { return is_open(w, now); }))
      continue;
    return &e.value;
  }
  return nullptr;
}

} // namespace callgrid::actors
