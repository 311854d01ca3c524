#define CAF_SUITE actors.io_thread_scheduler

// The scheduler that runs CAF's actors on the io_context's thread: actors run there (and only
// there) while the io_context runs, timers still fire, and after the io thread is joined the
// actors go on on a thread of their own, so the actor system still shuts down. Each handler and
// the actors it wakes run inside an esl::write_batch.

#include "actors/io_thread_scheduler.hpp"
#include "esl/write_batch.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/test/unit_test.hpp>

using namespace callgrid::actors;
using namespace std::chrono_literals;

namespace {

/// The names of the threads the actors of a test ran on (names, not ids: a joined thread's id
/// may be given to the next thread).
struct thread_log {
  std::mutex mutex;
  std::set<std::string> names;
  void note() {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    std::lock_guard guard{mutex};
    names.insert(name);
  }
};

/// Answers n with n + 1 after passing it through `hops` fresh actors, noting each thread.
caf::behavior relay(caf::event_based_actor* self, thread_log* log) {
  return {[self, log](int n, int hops) -> caf::result<int> {
    log->note();
    if (hops == 0) {
      self->quit();
      return n + 1;
    }
    auto promise = self->make_response_promise<int>();
    self->request(self->spawn(relay, log), 5s, n + 1, hops - 1)
      .then([self, promise](int answer) mutable {
        promise.deliver(answer);
        self->quit();
      });
    return promise;
  }};
}

/// Answers after a timer of its own, to show CAF's clock reaches actors here.
caf::behavior sleeper(caf::event_based_actor* self, thread_log* log) {
  return {[self, log](caf::get_atom) -> caf::result<int> {
    log->note();
    auto promise = self->make_response_promise<int>();
    self->delayed_send(self, 20ms, caf::ok_atom_v);
    self->become(caf::keep_behavior, [self, promise, log](caf::ok_atom) mutable {
      log->note();
      promise.deliver(7);
      self->quit();
    });
    return promise;
  }};
}

struct io_fixture {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work
    = boost::asio::make_work_guard(io);
  io_thread_scheduler scheduler{io};
  std::thread io_thread{[this] {
    pthread_setname_np(pthread_self(), "test.io");
    scheduler.run_io();
  }};

  void stop_io() {
    work.reset();
    io.stop();
    if (io_thread.joinable())
      io_thread.join();
    scheduler.leave_io();
  }
  ~io_fixture() {
    stop_io();
  }
};

} // namespace

CAF_TEST(actors run on the io thread while it runs) {
  io_fixture fx;
  thread_log log;
  {
    caf::actor_system_config cfg;
    fx.scheduler.install(cfg);
    caf::actor_system system{cfg};
    caf::scoped_actor self{system};
    auto first = system.spawn(relay, &log);
    int answer = 0;
    self->request(first, 5s, 1, 50).receive([&](int n) { answer = n; },
                                            [&](const caf::error& err) {
                                              CAF_FAIL("relay failed: " << to_string(err));
                                            });
    CAF_CHECK_EQUAL(answer, 52);
    auto timed = system.spawn(sleeper, &log);
    self->request(timed, 5s, caf::get_atom_v)
      .receive([&](int n) { answer = n; },
               [&](const caf::error& err) {
                 CAF_FAIL("sleeper failed: " << to_string(err));
               });
    CAF_CHECK_EQUAL(answer, 7);
    fx.stop_io();
  }
  std::lock_guard guard{log.mutex};
  CAF_REQUIRE_EQUAL(log.names.size(), 1u);
  CAF_CHECK_EQUAL(*log.names.begin(), "test.io");
}

CAF_TEST(actors go on after the io thread stops and the system shuts down) {
  io_fixture fx;
  thread_log log;
  std::atomic<int> finished{0};
  std::atomic<int> woke{0}; // waiters whose timer fired before the system was gone
  {
    caf::actor_system_config cfg;
    fx.scheduler.install(cfg);
    caf::actor_system system{cfg};
    auto first = system.spawn(relay, &log);
    fx.stop_io(); // as callgridd does before its actor system ends
    caf::scoped_actor self{system};
    self->request(first, 5s, 1, 10).receive([&](int n) { finished = n; },
                                            [&](const caf::error& err) {
                                              CAF_FAIL("relay failed: " << to_string(err));
                                            });
    // Actors still running when the system ends are waited for, on the scheduler's own thread.
    for (int i = 0; i < 20; ++i)
      system.spawn([&woke](caf::event_based_actor* waiter) -> caf::behavior {
        waiter->delayed_send(waiter, 10ms, 1);
        return {[waiter, &woke](int) {
          ++woke;
          waiter->quit();
        }};
      });
  }
  CAF_CHECK_EQUAL(finished.load(), 12);
  CAF_CHECK_EQUAL(woke.load(), 20);
  std::lock_guard guard{log.mutex};
  CAF_REQUIRE_EQUAL(log.names.size(), 1u);
  CAF_CHECK_EQUAL(*log.names.begin(), "cg.actors");
}

CAF_TEST(an actor with a long mailbox lets the others run after max throughput messages) {
  io_fixture fx;
  std::atomic<int> busy_handled{0};
  std::atomic<int> busy_handled_when_other_ran{-1};
  {
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-throughput", size_t{10});
    fx.scheduler.install(cfg);
    caf::actor_system system{cfg};
    auto busy = system.spawn([&busy_handled]() -> caf::behavior {
      return {[&busy_handled](int) { ++busy_handled; }};
    });
    auto other = system.spawn([&](caf::event_based_actor* self) -> caf::behavior {
      return {[&, self](caf::ok_atom) {
        busy_handled_when_other_ran = busy_handled.load();
        self->quit();
      }};
    });
    // The io thread is held while the mail is queued, so both actors wait in one batch.
    std::promise<void> entered;
    std::promise<void> release;
    auto held = release.get_future().share();
    boost::asio::post(fx.io, [&entered, held] {
      entered.set_value();
      held.wait();
    });
    entered.get_future().wait();
    for (int i = 0; i < 1000; ++i)
      caf::anon_send(busy, i);
    caf::anon_send(other, caf::ok_atom_v);
    release.set_value();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((busy_handled < 1000 || busy_handled_when_other_ran < 0)
           && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    caf::anon_send_exit(busy, caf::exit_reason::user_shutdown);
    fx.stop_io();
  }
  CAF_CHECK_EQUAL(busy_handled.load(), 1000);
  CAF_MESSAGE("the other actor ran after " << busy_handled_when_other_ran.load()
                                           << " of the busy one's 1000 messages");
  CAF_CHECK_GREATER_OR_EQUAL(busy_handled_when_other_ran.load(), 0);
  CAF_CHECK_LESS_OR_EQUAL(busy_handled_when_other_ran.load(), 10);
}

CAF_TEST(an actor a handler wakes runs before the handlers queued after it) {
  io_fixture fx;
  std::mutex mutex;
  std::vector<std::string> order;
  auto note = [&](std::string what) {
    std::lock_guard guard{mutex};
    order.push_back(std::move(what));
  };
  {
    caf::actor_system_config cfg;
    fx.scheduler.install(cfg);
    caf::actor_system system{cfg};
    auto woken = system.spawn([&note](caf::event_based_actor* self) -> caf::behavior {
      return {[&note, self](int) {
        note("actor");
        self->quit();
      }};
    });
    std::promise<void> done;
    // As an ESL read does: a handler hands mail to an actor while another handler is queued
    // (here posted first, so a drain posted for the actor would come after it).
    boost::asio::post(fx.io, [&] {
      boost::asio::post(fx.io, [&] {
        note("next handler");
        done.set_value();
      });
      caf::anon_send(woken, 1);
    });
    CAF_REQUIRE(done.get_future().wait_for(5s) == std::future_status::ready);
    fx.stop_io();
  }
  std::lock_guard guard{mutex};
  CAF_REQUIRE_EQUAL(order.size(), 2u);
  CAF_CHECK_EQUAL(order[0], "actor");
  CAF_CHECK_EQUAL(order[1], "next handler");
}

CAF_TEST(io handlers and the actors they wake send their ESL commands in one write batch) {
  io_fixture fx;
  std::atomic<int> batch_in_handler{-1};
  std::atomic<int> batch_in_actor{-1};
  {
    caf::actor_system_config cfg;
    fx.scheduler.install(cfg);
    caf::actor_system system{cfg};
    std::promise<void> done;
    auto woken = system.spawn([&](caf::event_based_actor* self) -> caf::behavior {
      return {[&, self](int) {
        batch_in_actor = callgrid::esl::write_batch::open() ? 1 : 0;
        done.set_value();
        self->quit();
      }};
    });
    boost::asio::post(fx.io, [&] {
      batch_in_handler = callgrid::esl::write_batch::open() ? 1 : 0;
      caf::anon_send(woken, 1);
    });
    CAF_REQUIRE(done.get_future().wait_for(5s) == std::future_status::ready);
    fx.stop_io();
  }
  // Commands sent there leave together when the handler's turn ends (esl::write_batch).
  CAF_CHECK_EQUAL(batch_in_handler.load(), 1);
  CAF_CHECK_EQUAL(batch_in_actor.load(), 1);
  CAF_CHECK(!callgrid::esl::write_batch::open());
}
