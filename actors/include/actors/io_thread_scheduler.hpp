#pragma once

#include <memory>

#include <caf/fwd.hpp>

namespace boost::asio {
class io_context;
}

namespace callgrid::actors {

/// A CAF scheduler whose one worker is the thread that runs an Asio io_context (callgridd's
/// `cg.io`: ESL, Redis, HTTP). An event read off the ESL socket is then handled by its call
/// actor on the thread that read it, with no hand-off to a CAF worker thread and no wake-up of
/// one: on this project's machines a wake-up costs tens of µs of CPU (bench/README.md).
///
/// Jobs (actors with mail) wait in one queue. The io_context's thread runs them itself when it
/// runs the io_context with `run_io`: after every handler (an ESL read, a Redis reply) it runs
/// the jobs that handler queued and those they queue, for a few rounds (an event's hop from the
/// supervisor to its call actor is one), before the io_context polls its sockets again. A job
/// queued by another thread posts one drain to the io_context to wake it. When jobs are still
/// left after the rounds, a drain is posted, so socket reads and actors take turns. Actors must
/// not block, as on any CAF scheduler; blocking actors are `caf::detached` and keep their own
/// threads.
///
/// Lifetime: construct it before the actor system and `install` it into the system's config.
/// Call `leave_io` once the io_context's thread has been joined: the actors then go on on a
/// thread of their own until the actor system is destroyed (its shutdown needs them to run).
class io_thread_scheduler {
public:
  explicit io_thread_scheduler(boost::asio::io_context& io);
  ~io_thread_scheduler();
  io_thread_scheduler(const io_thread_scheduler&) = delete;
  io_thread_scheduler& operator=(const io_thread_scheduler&) = delete;

  /// Makes the actor system built from `cfg` use this scheduler (instead of sharing/stealing).
  void install(caf::actor_system_config& cfg);

  /// Runs the io_context on the calling thread until it stops, as `io_context::run` does, and
  /// after each handler the actors it made ready. callgridd's `cg.io` thread runs this.
  void run_io();

  /// The io_context no longer runs (its thread was joined): run the actors on our own thread.
  void leave_io();

  struct state;

private:
  std::shared_ptr<state> state_;
};

} // namespace callgrid::actors
