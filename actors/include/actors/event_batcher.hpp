#pragma once

#include <memory>

#include <caf/actor.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace callgrid::esl {
class frame;
} // namespace callgrid::esl

namespace callgrid::actors {

/// Hands the events of one read on the inbound ESL link to the node supervisor as one
/// `esl_events` message instead of one message each: at high load a read brings a dozen events,
/// and each message costs an allocation, a mailbox push and a run of the supervisor.
///
/// `add` is called by the link for every event; the first event of a batch posts a flush to the
/// `io_context`, which runs after the read's handler, when all its events are in (events that
/// handlers queued before the flush add join the batch, in order). `flush` sends
/// at once: the link calls it before reporting a state change, so the supervisor sees every
/// event of a link before it learns that the link went down. Thread-safe (the link may run on
/// several I/O threads); batches leave in the order their events came.
class event_batcher : public std::enable_shared_from_this<event_batcher> {
public:
  /// A batcher that sends to `supervisor`; `io` runs the posted flushes.
  [[nodiscard]] static std::shared_ptr<event_batcher> make(boost::asio::io_context& io,
                                                           caf::actor supervisor);

  virtual ~event_batcher() = default;

  /// Adds one event to the current batch.
  virtual void add(esl::frame&& event) = 0;

  /// Sends the current batch now (nothing when it is empty).
  virtual void flush() = 0;
};

} // namespace callgrid::actors
