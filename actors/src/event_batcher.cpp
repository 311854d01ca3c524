#include "actors/event_batcher.hpp"

#include <utility>

#include <caf/send.hpp>

#include "actors/messages.hpp"
#include "esl/frame.hpp"

namespace callgrid::actors {

event_batcher::event_batcher(caf::actor supervisor) : supervisor_(std::move(supervisor)) {
}

void event_batcher::add(esl::frame&& event) {
  if (pending_.capacity() == 0)
    pending_.reserve(4); // one allocation for the events of most reads
  pending_.push_back(std::make_shared<const esl::frame>(std::move(event)));
}

void event_batcher::flush() {
  if (pending_.empty())
    return;
  caf::anon_send(supervisor_, esl_events{std::exchange(pending_, {})});
}

} // namespace callgrid::actors
