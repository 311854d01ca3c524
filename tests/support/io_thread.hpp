#pragma once

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace callgrid::test_support {

/// An io_context running on its own thread for the lifetime of the object, for tests that
/// drive Asio-based code (the ESL client and server) from the test thread.
class io_thread {
public:
  io_thread() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {
  }
  ~io_thread() { stop(); }
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  boost::asio::io_context& io() { return io_; }

  /// Stops the loop and joins its thread; after this no handler runs any more. Fixtures call
  /// it first in their destructor, before the state that handlers touch goes away.
  void stop() {
    if (!thread_.joinable())
      return;
    guard_.reset();
    io_.stop();
    thread_.join();
  }

private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

} // namespace callgrid::test_support
