#include "actors/bridge_legs.hpp"

#include <array>
#include <charconv>
#include <vector>

#include "actors/call_state.hpp"
#include "esl/frame.hpp"

namespace callgrid::actors {

std::string with_originate_timeout(std::string_view dial_string, std::chrono::seconds timeout) {
  auto setting = "originate_timeout=" + std::to_string(timeout.count());
  // `<...>` (enterprise variables) and `${...}` (expanded by FreeSWITCH, possibly into a dial
  // string with its own block) are left as they are: their own timeout or FreeSWITCH's applies.
  if (dial_string.starts_with('<') || dial_string.starts_with('$'))
    return std::string{dial_string};
  if (!dial_string.starts_with('{'))
    return "{" + setting + "}" + std::string{dial_string};
  auto close = dial_string.find('}');
  if (close == std::string_view::npos)
    return std::string{dial_string}; // malformed: FreeSWITCH will refuse it as it is
  // The block's variables are comma-separated `name=value`; is one of them ours?
  auto block = dial_string.substr(1, close - 1);
  for (std::size_t start = 0; start <= block.size();) {
    auto comma = block.find(',', start);
    auto item = block.substr(start, comma == std::string_view::npos ? block.npos : comma - start);
    if (item.starts_with("originate_timeout="))
      return std::string{dial_string};
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  std::string out{"{"};
  out += setting;
  if (!block.empty())
    out += ',';
  out += dial_string.substr(1);
  return out;
}

named_dial_string name_far_legs(std::string_view dial_string, std::string_view call_uuid,
                                int32_t first_leg, std::chrono::seconds timeout) {
  auto timed = with_originate_timeout(dial_string, timeout);
  // Only `<...>`, `${...}` and a malformed block come back without a leading, closed block.
  auto close = timed.find('}');
  if (!timed.starts_with('{') || close == std::string::npos)
    return {std::move(timed), 0};
  // The block holds originate_timeout at least, so the call's UUID follows a comma.
  std::string out = timed.substr(0, close);
  out += ',';
  out += far_leg_call_variable;
  out += '=';
  out += call_uuid;
  out += '}';
  std::string_view endpoints = std::string_view{timed}.substr(close + 1);
  out.reserve(out.size() + endpoints.size() + 24);
  int32_t leg = first_leg;
  int depth = 0;
  bool endpoint_starts = true;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    char c = endpoints[i];
    if (endpoint_starts) {
      endpoint_starts = false;
      std::string tag{far_leg_number_variable};
      tag += '=';
      tag += std::to_string(leg++);
      if (c == '[') {
        // The endpoint's own block: the number goes first in it.
        out += '[';
        out += tag;
        if (i + 1 < endpoints.size() && endpoints[i + 1] != ']')
          out += ',';
        depth = 1;
        continue;
      }
      out += '[';
      out += tag;
      out += ']';
    }
    out += c;
    if (c == '\\' && i + 1 < endpoints.size()) {
      out += endpoints[++i]; // an escaped character separates nothing
    } else if (c == '[' || c == '{' || c == '<') {
      ++depth;
    } else if ((c == ']' || c == '}' || c == '>') && depth > 0) {
      --depth;
    } else if (depth == 0 && (c == ',' || c == '|')) {
      endpoint_starts = true;
    }
  }
  return {std::move(out), leg - first_leg};
}

const char* unanswered_disposition(std::string_view cause) noexcept {
  if (cause == "USER_BUSY")
    return "busy";
  if (cause == "NO_ANSWER" || cause == "NO_USER_RESPONSE" || cause == "ORIGINATOR_CANCEL"
      || cause == "ALLOTTED_TIMEOUT" || cause == "LOSE_RACE")
    return "no_answer";
  return "failed";
}

std::optional<persistence::call_record> far_leg_record(const esl::frame& final_event,
                                                       const std::string& node) {
  if (final_event.event_name() != "CHANNEL_HANGUP_COMPLETE")
    return std::nullopt;
  // `variable_` + far_leg_call_variable and far_leg_number_variable, as events carry them.
  enum slot { call, leg, direction, caller, callee, slots };
  static constexpr std::array<std::string_view, slots> names{
    "variable_callgrid_call", "variable_callgrid_leg", "Call-Direction",
    "Caller-Caller-ID-Number", "Caller-Destination-Number"};
  std::array<std::optional<std::string_view>, slots> found;
  final_event.find_fields(names, found);
  if (!found[call] || found[call]->empty() || !found[leg]
      || found[direction] != std::optional<std::string_view>{"outbound"})
    return std::nullopt;
  int32_t number = 0;
  const auto* end = found[leg]->data() + found[leg]->size();
  auto [stop, ec] = std::from_chars(found[leg]->data(), end, number);
  if (ec != std::errc{} || stop != end || number <= 0)
    return std::nullopt;

  // The leg's times, cause and SIP code come out of its final event as for any leg.
  call_setup setup;
  setup.uuid = std::string{final_event.unique_id()};
  setup.caller = std::string{found[caller].value_or("")};
  setup.callee = std::string{found[callee].value_or("")};
  setup.direction = persistence::call_direction::outbound;
  setup.mode = persistence::esl_mode::inbound;
  setup.node = node;
  setup.watch_only_as = "far_leg";
  call_state leg_state{std::move(setup)};
  std::vector<call_action> none;
  leg_state.start(std::chrono::system_clock::now(), none);
  leg_state.on_event(final_event, none);
  auto record = leg_state.make_record();
  record.call_uuid = std::string{*found[call]};
  record.leg = number;
  record.disposition =
    record.answered_us ? "answered" : unanswered_disposition(record.hangup_cause);
  return record;
}

} // namespace callgrid::actors
