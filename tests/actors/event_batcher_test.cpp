#define CAF_SUITE actors.event_batcher

// The node supervisor gets the events of one read on its ESL link as one message: the batcher
// gathers what the link adds and sends it, in order, when the link flushes it (at the end of
// the read, and before a state change).

#include "actors/event_batcher.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/messages.hpp"
#include "esl/frame.hpp"
#include "json_event.hpp"

using namespace callgrid::actors;
using callgrid::test_support::json_event;
using namespace std::chrono_literals;

namespace {

/// The Unique-IDs of the frames of the next esl_events `test` receives ("timeout" if none).
std::vector<std::string> next_batch(caf::scoped_actor& test) {
  std::vector<std::string> ids;
  test->receive(
    [&](esl_events& batch) {
      for (const auto& frame : batch.frames)
        ids.emplace_back(frame->unique_id());
    },
    caf::after(5s) >> [&] { ids.emplace_back("timeout"); });
  return ids;
}

} // namespace

CAF_TEST(the events added before a flush reach the supervisor as one message in order) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  caf::scoped_actor test{system};
  event_batcher batcher{caf::actor{test}};
  for (const char* id : {"a", "b", "c"})
    batcher.add(json_event(id, "CHANNEL_EXECUTE_COMPLETE", {}));
  test->receive([](esl_events&) { CAF_FAIL("a batch left before the flush"); },
                caf::after(50ms) >> [] {});
  batcher.flush();
  CAF_CHECK_EQUAL(next_batch(test), (std::vector<std::string>{"a", "b", "c"}));
  batcher.add(json_event("d", "CHANNEL_HANGUP_COMPLETE", {}));
  batcher.flush();
  CAF_CHECK_EQUAL(next_batch(test), (std::vector<std::string>{"d"}));
  batcher.flush();
  test->receive([](esl_events&) { CAF_FAIL("a flush with nothing gathered sent a batch"); },
                caf::after(50ms) >> [] {});
}
