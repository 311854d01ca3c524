#define CAF_SUITE fsemu.event_filter

// mod_event_socket's filter rules (FreeSWITCH 1.10), on header values given as a map.

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "event_filter.hpp"

using namespace callgrid::fsemu;

namespace {

/// Whether an event with `headers` passes `filters`.
bool passes(const std::vector<event_filter>& filters,
            const std::map<std::string, std::string>& headers) {
  std::vector<std::optional<std::string>> values;
  for (const auto& filter : filters) {
    values.emplace_back();
    for (const auto& [header, value] : headers)
      if (header.size() == filter.header.size()
          && std::equal(header.begin(), header.end(), filter.header.begin(),
                        [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        values.back() = value;
  }
  return passes_filters(filters, values);
}

const std::map<std::string, std::string> answer_done{
  {"Event-Name", "CHANNEL_EXECUTE_COMPLETE"}, {"Application", "answer"}};
const std::map<std::string, std::string> playback_done{
  {"Event-Name", "CHANNEL_EXECUTE_COMPLETE"}, {"Application", "playback"}};
const std::map<std::string, std::string> park{{"Event-Name", "CHANNEL_PARK"}};

} // namespace

CAF_TEST(without filters every event passes) {
  CAF_CHECK(passes({}, park));
}

CAF_TEST(an event passes when a positive filter matches ignoring case) {
  CAF_CHECK(passes({{"Event-Name", "channel_park"}}, park));
  CAF_CHECK(passes({{"event-name", "+CHANNEL_PARK"}}, park));
  CAF_CHECK(!passes({{"Event-Name", "CHANNEL_ANSWER"}}, park));
  // A filter on a header the event lacks neither lets it pass nor stops it.
  CAF_CHECK(!passes({{"Application", "answer"}}, park));
  CAF_CHECK(passes({{"Application", "answer"}, {"Event-Name", "CHANNEL_PARK"}}, park));
}

CAF_TEST(a matching negative filter stops an event wherever it stands) {
  std::vector<event_filter> completions_but_answer{
    {"Event-Name", "CHANNEL_EXECUTE_COMPLETE"}, {"Event-Name", "CHANNEL_PARK"},
    {"Application", "-answer"}};
  CAF_CHECK(!passes(completions_but_answer, answer_done));
  CAF_CHECK(passes(completions_but_answer, playback_done));
  CAF_CHECK(passes(completions_but_answer, park));
  std::vector<event_filter> negative_first{{"Application", " - ANSWER"},
                                           {"Event-Name", "CHANNEL_EXECUTE_COMPLETE"}};
  CAF_CHECK(!passes(negative_first, answer_done));
  CAF_CHECK(passes(negative_first, playback_done));
  // Negative filters alone let nothing pass: an event needs a positive match.
  CAF_CHECK(!passes({{"Application", "-answer"}}, playback_done));
}
