#pragma once

#include <memory>
#include <vector>

#include <caf/actor.hpp>

namespace callgrid::esl {
class frame;
} // namespace callgrid::esl

namespace callgrid::actors {

/// Hands the events of one read on the inbound ESL link to the node supervisor as one
/// `esl_events` message instead of one message each: at high load a read brings a dozen events,
/// and each message costs an allocation, a mailbox push and a run of the supervisor.
///
/// The link calls `add` for each event of a read and `flush` when the read's events are all in
/// (`inbound_client::handlers::on_read_end`), and before it reports a state change, so the
/// supervisor sees every event of a link before it learns that the link went down. Called on
/// the link's strand only; batches leave in the order their events came.
class event_batcher {
public:
  /// A batcher that sends to `supervisor`.
  explicit event_batcher(caf::actor supervisor);

  /// Adds one event to the current batch.
  void add(esl::frame&& event);

  /// Sends the current batch now (nothing when it is empty).
  void flush();

private:
  caf::actor supervisor_;
  std::vector<std::shared_ptr<const esl::frame>> pending_;
};

} // namespace callgrid::actors
