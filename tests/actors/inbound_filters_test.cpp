#define CAF_SUITE actors.inbound_filters

// The inbound link's `filter` commands (node_supervisor.hpp): every subscribed event passes by
// name, and the dialplan park's completion is filtered out (fsemu.event_filter has the rules).

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "actors/node_supervisor.hpp"

using namespace callgrid::actors;

namespace {

bool has(const std::vector<std::pair<std::string, std::string>>& filters, const std::string& header,
         const std::string& value) {
  return std::find(filters.begin(), filters.end(), std::pair{header, value}) != filters.end();
}

} // namespace

CAF_TEST(every subscribed event has a positive filter and park completions a negative one) {
  auto filters = node_supervisor_filters(true);
  for (const char* name : {"CHANNEL_PARK", "CHANNEL_ANSWER", "CHANNEL_EXECUTE_COMPLETE",
                           "CHANNEL_HANGUP_COMPLETE", "DTMF", "HEARTBEAT", "BACKGROUND_JOB"})
    CAF_CHECK(has(filters, "Event-Name", name));
  CAF_CHECK(has(filters, "Application", "-park"));
  // The answer's completion still comes: it wakes the I/O thread just before CHANNEL_PARK.
  CAF_CHECK(!has(filters, "Application", "-answer"));
  CAF_CHECK_EQUAL(filters.size(), 8u);
}

CAF_TEST(without background jobs there is no filter for them) {
  auto filters = node_supervisor_filters(false);
  CAF_CHECK(!has(filters, "Event-Name", "BACKGROUND_JOB"));
  CAF_CHECK_EQUAL(filters.size(), 7u);
}
