#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "esl/command.hpp"
#include "esl/connection_counters.hpp"
#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "esl/write_batch.hpp"

namespace callgrid::esl {

/// Settings of one established ESL connection.
struct connection_options {
  /// Most bytes of commands waiting to be written; more are refused with errc::queue_full.
  std::size_t max_queued_bytes = 4 * 1024 * 1024;
  /// How long a command may wait for its reply before the link is declared dead and closed
  /// (replies come in command order, so one lost reply leaves every later one unmatched).
  /// Use bgapi for API commands that take long, such as `fsctl shutdown elegant`.
  std::chrono::milliseconds reply_timeout{30'000};
  /// Parser bounds (frame size, header block size).
  parser_limits limits;
  /// Plain events dropped unread, by name (`frame_parser::skip_plain_events`): events a client
  /// subscribes to only to be woken by their arrival. Counted in
  /// `connection_counters::events_skipped`.
  std::vector<std::string> skipped_events;
};

/// One established ESL TCP connection, either side of it: writes commands in batches, matches
/// each command/reply, api/response or `connect` reply to the oldest command waiting for
/// one, and hands every other frame (events, notices, log lines, auth requests) to the frame
/// handler. Used by `inbound_client` and `outbound_server`; rarely used alone.
///
/// Threads: reading, parsing and every handler run on one strand of the io_context; handlers
/// must not block. `send` may be called from any thread and writes on the caller's thread when
/// nothing is queued (one non-blocking send(2), no hand-over to the I/O thread: the hand-over
/// cost a thread wake-up per command); what the socket does not take at once is queued and
/// written from the strand. Inside a `write_batch` the write waits for the batch's end. The
/// write side and the reply queue are guarded by one mutex.
/// Fails by closing: a socket error, a corrupt stream or a reply timeout closes the link, fails
/// every waiting command with errc::disconnected and calls the close handler once.
class connection : public std::enable_shared_from_this<connection> {
public:
  /// Receives the reply frame of a command, or the error that prevented it.
  using reply_handler = std::function<void(caf::expected<frame>)>;
  /// Receives every frame that is not a reply.
  using frame_handler = std::function<void(frame&&)>;
  /// Receives the reason the link closed (errc::disconnected for a clean EOF).
  using close_handler = std::function<void(const caf::error&)>;
  /// Runs after the frames of one socket read went to their handlers, before the next read.
  using read_end_handler = std::function<void()>;

  /// The strand type every handler of a connection runs on.
  using strand_type = boost::asio::strand<boost::asio::any_io_executor>;

  /// Wraps a connected socket; all its work runs on `strand` (an owner that shares the
  /// strand can touch its own state from the handlers without locks). `counters` may be
  /// shared by several connections in turn.
  [[nodiscard]] static std::shared_ptr<connection>
  make(boost::asio::ip::tcp::socket socket, strand_type strand, connection_options options,
       std::shared_ptr<connection_counters> counters);

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts reading. Frames that are not replies go to `on_frame`; `on_close` runs once;
  /// `on_read_end` (may be empty) after each read's frames, so that an owner can pass on what
  /// `on_frame` gathered in one go.
  void start(frame_handler on_frame, close_handler on_close, read_end_handler on_read_end = {});

  /// Writes `cmd` (or queues it behind earlier ones); `on_reply` gets its reply frame or an
  /// error (queue full, link down, timeout), always on the strand. Thread-safe; commands
  /// leave in the order the calls to `send` took the connection's lock.
  void send(command cmd, reply_handler on_reply);

  /// Queues `cmd` without caring for the reply (it is still consumed in order).
  void send(command cmd);

  /// Closes the link; waiting commands fail with errc::disconnected. Thread-safe, idempotent.
  void close();

  /// From now on, drops the plain CHANNEL_EXECUTE_COMPLETE events of `applications` unread
  /// (`frame_parser::skip_plain_completions`), counted with the skipped events; a connection
  /// starts reading them all. Thread-safe: takes effect on the strand (at once when called
  /// there), for the reads parsed after it.
  void skip_completions(std::vector<std::string> applications);

  /// Closes the link once everything queued so far has been written (after `exit`, say).
  void close_after_writes();

  /// The remote endpoint, for logs ("127.0.0.1:8021"), fixed at construction.
  [[nodiscard]] const std::string& peer() const noexcept { return peer_; }

  /// Counters shared with whoever created this connection.
  [[nodiscard]] const connection_counters& counters() const noexcept { return *counters_; }

  /// The executor all handlers run on.
  [[nodiscard]] strand_type executor() const { return strand_; }

private:
  friend class write_batch;

  struct waiting_reply {
    reply_handler handler;
    std::chrono::steady_clock::time_point deadline;
  };

  connection(boost::asio::ip::tcp::socket socket, strand_type strand,
             connection_options options, std::shared_ptr<connection_counters> counters);

  /// Writes as much of `wire` as the socket takes now; returns the bytes written, or -1 with
  /// errno set. Called with mutex_ held.
  [[nodiscard]] long write_now(std::string_view wire) noexcept;
  /// Counts a failed write and closes the link from the strand.
  void fail_write(int write_errno);
  /// Hands `reason` to `on_reply` on the strand.
  void refuse(reply_handler on_reply, caf::error reason);
  void start_write();
  /// Writes what a write_batch held back (called when the batch ends, on its thread).
  void flush_held() noexcept;
  void start_read();
  void on_read(std::size_t bytes);
  void dispatch(frame&& f);
  /// Checks the oldest waiting command's deadline every watchdog interval while any wait.
  void arm_reply_watchdog();
  void shut_down(caf::error reason);

  strand_type strand_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer reply_timer_;
  connection_options options_;
  std::shared_ptr<connection_counters> counters_;
  std::string peer_;
  frame_parser parser_;
  frame_handler on_frame_;
  close_handler on_close_;
  read_end_handler on_read_end_;
  std::string writing_; // strand only: the bytes of the async write in flight

  /// Guards the write side (the socket's writes and its close) and the reply queue.
  std::mutex mutex_;
  std::string queued_;   // bytes waiting behind an async write in flight, or held by a batch
  std::size_t queued_commands_ = 0;
  bool write_in_flight_ = false;
  bool held_by_batch_ = false; // queued_ waits for a write_batch to end
  bool watchdog_armed_ = false;
  bool close_when_written_ = false;
  bool closed_ = false; // written under mutex_ on the strand; the strand reads it without
  std::deque<waiting_reply> waiting_;
};

} // namespace callgrid::esl
