#include "actors/io_thread_scheduler.hpp"

#include "esl/write_batch.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace callgrid::actors {

namespace {

/// What CAF's actors see as "the worker they run on": re-enqueues go to the shared queue.
class queue_execution_unit final : public caf::execution_unit {
public:
  queue_execution_unit(caf::actor_system& system, io_thread_scheduler::state& state)
    : caf::execution_unit{&system}, state_{state} {
  }
  void exec_later(caf::resumable* job) override;

private:
  io_thread_scheduler::state& state_;
};

} // namespace

struct io_thread_scheduler::state : std::enable_shared_from_this<state> {
  explicit state(boost::asio::io_context& context) : io{context} {
  }

  boost::asio::io_context& io;
  std::unique_ptr<queue_execution_unit> unit; // set when the actor system makes its scheduler
  size_t max_throughput = 0;

  std::mutex mutex;
  std::condition_variable jobs_waiting; // for the own thread, after leave_io
  std::vector<caf::resumable*> jobs;    // each holds one reference, as in CAF's own queues
  // The batch being run, swapped with `jobs` (both keep their capacity). One drainer uses it at
  // a time: the io thread until leave_io, which comes after that thread is joined; then ours.
  std::vector<caf::resumable*> running;
  bool drain_posted = false;
  // Rounds of one drain before the socket reads get their turn; see drain_from_io.
  static constexpr int drain_rounds = 4;
  bool on_own_thread = false;
  bool stopping = false;
  std::thread own_thread;
  // The state whose run_io runs on this thread: jobs queued here wait for the loop's drain
  // after the current handler instead of a posted one.
  static thread_local const state* running_io;

  void enqueue(caf::resumable* job) {
    bool post = false;
    bool notify = false;
    {
      std::lock_guard guard{mutex};
      jobs.push_back(job);
      if (on_own_thread)
        notify = true;
      else if (running_io != this && !drain_posted)
        post = drain_posted = true;
    }
    if (post)
      boost::asio::post(io, [self = shared_from_this()] { self->drain_from_io(); });
    else if (notify)
      jobs_waiting.notify_one();
  }

  /// Runs `running` (taken from `jobs` under the mutex) and empties it.
  void run_batch() {
    for (auto* job : running)
      run(job);
    running.clear();
  }

  void run(caf::resumable* job) {
    switch (job->resume(unit.get(), max_throughput)) {
      case caf::resumable::resume_later:
        enqueue(job); // keeps its reference
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
        caf::intrusive_ptr_release(job);
        break;
      case caf::resumable::shutdown_execution_unit:
        break; // only CAF's own shutdown helper answers this, and it never comes here
    }
  }

  /// Runs the jobs that wait, and the jobs those queue, for at most `drain_rounds` rounds, then
  /// yields to the socket reads. An event usually takes two hops (the supervisor forwards it to
  /// its call actor): running the second hop in the same drain saves a trip through the
  /// io_context's queue, which polls the sockets (one epoll_wait) before every posted handler.
  void drain_from_io() {
    bool again = false;
    for (int round = 0; round < drain_rounds; ++round) {
      {
        std::lock_guard guard{mutex};
        if (jobs.empty()) {
          drain_posted = false;
          return;
        }
        running.swap(jobs);
      }
      run_batch();
      std::lock_guard guard{mutex};
      again = !jobs.empty() && !on_own_thread;
      if (!again) {
        drain_posted = false;
        break;
      }
    }
    if (again)
      boost::asio::post(io, [self = shared_from_this()] { self->drain_from_io(); });
  }

  /// io_context::run, with a drain after every handler: the jobs a handler queued on this thread
  /// run before the io_context polls the sockets again, with no handler posted for them.
  void run_io() {
    running_io = this;
    for (;;) {
      // The ESL commands the handler and its actors send leave together at the end.
      esl::write_batch batch;
      if (io.run_one() == 0)
        break;
      drain_from_io();
    }
    running_io = nullptr;
  }

  void start_own_thread() {
    {
      std::lock_guard guard{mutex};
      if (on_own_thread)
        return;
      on_own_thread = true;
      drain_posted = false; // a drain still posted to the stopped io_context never runs
    }
    own_thread = std::thread{[this] {
      caf::detail::set_thread_name("cg.actors");
      for (;;) {
        {
          std::unique_lock guard{mutex};
          jobs_waiting.wait(guard, [&] { return stopping || !jobs.empty(); });
          if (jobs.empty())
            return; // stopping
          running.swap(jobs);
        }
        run_batch();
      }
    }};
  }

  /// The actor system ends: stop the own thread and hand back the jobs nobody will run.
  std::vector<caf::resumable*> stop() {
    {
      std::lock_guard guard{mutex};
      stopping = true;
    }
    jobs_waiting.notify_all();
    if (own_thread.joinable())
      own_thread.join();
    std::lock_guard guard{mutex};
    return std::exchange(jobs, {});
  }
};

thread_local const io_thread_scheduler::state* io_thread_scheduler::state::running_io = nullptr;

namespace {

void queue_execution_unit::exec_later(caf::resumable* job) {
  state_.enqueue(job);
}

/// The CAF module: CAF's timer thread as in its own coordinators, jobs to the shared state.
class io_coordinator final : public caf::scheduler::abstract_coordinator {
public:
  io_coordinator(caf::actor_system& system, std::shared_ptr<io_thread_scheduler::state> state)
    : abstract_coordinator{system}, state_{std::move(state)} {
    state_->unit = std::make_unique<queue_execution_unit>(system, *state_);
  }

  void init(caf::actor_system_config& cfg) override {
    abstract_coordinator::init(cfg);
    state_->max_throughput = max_throughput_;
  }

  void start() override {
    timer_ = std::thread{[this] {
      caf::detail::set_thread_name("caf.clock");
      system().thread_started();
      clock_.run_dispatch_loop();
      system().thread_terminates();
    }};
    abstract_coordinator::start();
  }

  void stop() override {
    stop_actors();
    for (auto* job : state_->stop())
      cleanup_and_release(job);
    clock_.cancel_dispatch_loop();
    timer_.join();
  }

  void enqueue(caf::resumable* job) override {
    state_->enqueue(job);
  }

  caf::actor_clock& clock() noexcept override {
    return clock_;
  }

private:
  std::shared_ptr<io_thread_scheduler::state> state_;
  caf::detail::thread_safe_actor_clock clock_;
  std::thread timer_;
};

} // namespace

io_thread_scheduler::io_thread_scheduler(boost::asio::io_context& io)
  : state_{std::make_shared<state>(io)} {
}

io_thread_scheduler::~io_thread_scheduler() {
  // Ends the own thread when no actor system did (callgridd gave up before making one). Jobs
  // are left only when an actor system outlives this object, which install's contract forbids.
  state_->stop();
}

void io_thread_scheduler::install(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back([state = state_](caf::actor_system& system) {
    return static_cast<caf::actor_system::module*>(new io_coordinator{system, state});
  });
}

void io_thread_scheduler::run_io() {
  state_->run_io();
}

void io_thread_scheduler::leave_io() {
  state_->start_own_thread();
}

} // namespace callgrid::actors
