#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "esl/command.hpp"
#include "esl/frame_parser.hpp"
#include "io_thread.hpp"

/// Helpers for the esl suites that run over loopback TCP.
namespace callgrid::esl::testing {

using test_support::io_thread;

/// A thread-safe list that tests wait on.
template <class T>
class collected {
public:
  void add(T value) {
    std::lock_guard<std::mutex> guard{mutex_};
    items_.push_back(std::move(value));
    changed_.notify_all();
  }
  /// Waits until `predicate(items)` holds or the timeout passes; returns whether it held.
  bool wait_for(std::function<bool(const std::vector<T>&)> predicate,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{5'000}) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return predicate(items_); });
  }
  bool wait_size(std::size_t n,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds{5'000}) {
    return wait_for([n](const std::vector<T>& items) { return items.size() >= n; }, timeout);
  }
  /// A copy of the first item (the list must not be empty).
  T first() {
    std::lock_guard<std::mutex> guard{mutex_};
    return items_.front();
  }
  std::vector<T> snapshot() {
    std::lock_guard<std::mutex> guard{mutex_};
    return items_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<T> items_;
};

/// Rebuilds a command from its captured wire bytes through the public encoder, so a replay
/// checks the encoder and the connection together. Handles the commands the captures use.
inline command command_from_wire(const std::string& wire) {
  frame_parser parser{parser_limits{}, stream_direction::to_freeswitch};
  parser.feed(wire);
  frame f;
  auto got = parser.next(f);
  if (!got || !*got)
    throw std::runtime_error("not a command frame: " + wire);
  std::string line{f.command_line()};
  auto rest = [&](std::size_t prefix) { return line.substr(prefix); };
  if (line.starts_with("api "))
    return *command::api(rest(4));
  if (line.starts_with("bgapi "))
    return *command::bgapi(rest(6), f.header("Job-UUID").value_or(""));
  if (line.starts_with("event plain "))
    return *command::event(event_format::plain, rest(12));
  if (line.starts_with("event json "))
    return *command::event(event_format::json, rest(11));
  if (line == "exit")
    return command::exit();
  if (line == "myevents")
    return *command::myevents();
  if (line == "linger")
    return command::linger();
  if (line.starts_with("sendmsg")) {
    sendmsg_args args;
    if (line.size() > 8)
      args.uuid = line.substr(8);
    auto call = f.header("call-command").value_or("");
    args.command = call == "hangup" ? call_command::hangup : call_command::execute;
    args.app_name = std::string{f.header("execute-app-name").value_or("")};
    args.app_arg = std::string{f.header("execute-app-arg").value_or(f.body())};
    args.arg_as_body = !f.body().empty();
    args.event_lock = f.header("event-lock").has_value();
    args.event_uuid = std::string{f.header("Event-UUID").value_or("")};
    args.hangup_cause = std::string{f.header("hangup-cause").value_or("")};
    return *command::sendmsg(args);
  }
  throw std::runtime_error("command_from_wire does not know: " + line);
}

} // namespace callgrid::esl::testing
