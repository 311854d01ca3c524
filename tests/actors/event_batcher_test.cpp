#define CAF_SUITE actors.event_batcher

// The node supervisor gets the events of one read on its ESL link as one message: the batcher
// gathers what the read's handler adds and sends it when the handler is done, in order, and a
// flush (before a link state) sends at once.

#include "actors/event_batcher.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
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

CAF_TEST(the events added by one handler reach the supervisor as one message in order) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  caf::scoped_actor test{system};
  boost::asio::io_context io{1};
  auto batcher = event_batcher::make(io, caf::actor{test});
  boost::asio::post(io, [&] {
    for (const char* id : {"a", "b", "c"})
      batcher->add(json_event(id, "CHANNEL_EXECUTE_COMPLETE", {}));
  });
  io.run();
  CAF_CHECK_EQUAL(next_batch(test), (std::vector<std::string>{"a", "b", "c"}));
  // A later read's events make the next batch.
  boost::asio::post(io, [&] { batcher->add(json_event("d", "CHANNEL_HANGUP_COMPLETE", {})); });
  io.restart();
  io.run();
  CAF_CHECK_EQUAL(next_batch(test), (std::vector<std::string>{"d"}));
  test->receive([](esl_events&) { CAF_FAIL("a third batch came"); }, caf::after(50ms) >> [] {});
}

CAF_TEST(a flush sends the gathered events at once and the posted flush then sends nothing) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  caf::scoped_actor test{system};
  boost::asio::io_context io{1};
  auto batcher = event_batcher::make(io, caf::actor{test});
  batcher->add(json_event("e", "CHANNEL_PARK", {}));
  batcher->add(json_event("f", "CHANNEL_ANSWER", {}));
  batcher->flush();
  CAF_CHECK_EQUAL(next_batch(test), (std::vector<std::string>{"e", "f"}));
  io.run();
  test->receive([](esl_events&) { CAF_FAIL("the posted flush sent an empty batch"); },
                caf::after(50ms) >> [] {});
}
