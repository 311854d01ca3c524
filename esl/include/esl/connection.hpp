#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
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
};

/// One established ESL TCP connection, either side of it: writes commands in batches, matches
/// each command/reply, api/response or `connect` reply to the oldest command waiting for
/// one, and hands every other frame (events, notices, log lines, auth requests) to the frame
/// handler. Used by `inbound_client` and `outbound_server`; rarely used alone.
///
/// Threads: all state lives on one strand of the io_context; the public functions may be
/// called from any thread (they post). Handlers run on that strand and must not block.
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

  /// Starts reading. Frames that are not replies go to `on_frame`; `on_close` runs once.
  void start(frame_handler on_frame, close_handler on_close);

  /// Queues `cmd`; `on_reply` gets its reply frame or an error (queue full, link down,
  /// timeout). Thread-safe.
  void send(command cmd, reply_handler on_reply);

  /// Queues `cmd` without caring for the reply (it is still consumed in order).
  void send(command cmd);

  /// Closes the link; waiting commands fail with errc::disconnected. Thread-safe, idempotent.
  void close();

  /// Closes the link once everything queued so far has been written (after `exit`, say).
  void close_after_writes();

  /// The remote endpoint, for logs ("127.0.0.1:8021"), fixed at construction.
  [[nodiscard]] const std::string& peer() const noexcept { return peer_; }

  /// Counters shared with whoever created this connection.
  [[nodiscard]] const connection_counters& counters() const noexcept { return *counters_; }

  /// The executor all handlers run on.
  [[nodiscard]] strand_type executor() const { return strand_; }

private:
  struct waiting_reply {
    reply_handler handler;
    std::chrono::steady_clock::time_point deadline;
  };

  connection(boost::asio::ip::tcp::socket socket, strand_type strand,
             connection_options options, std::shared_ptr<connection_counters> counters);

  void do_send(command cmd, reply_handler on_reply);
  void start_write();
  void start_read();
  void on_read(std::size_t bytes);
  void dispatch(frame&& f);
  void arm_reply_timer();
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
  std::string queued_;
  std::string writing_;
  std::size_t queued_commands_ = 0;
  bool write_in_flight_ = false;
  bool close_when_written_ = false;
  bool closed_ = false;
  std::deque<waiting_reply> waiting_;
};

} // namespace callgrid::esl
