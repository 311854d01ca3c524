#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "esl/command.hpp"
#include "esl/connection.hpp"
#include "esl/connection_counters.hpp"
#include "esl/frame.hpp"

namespace callgrid::esl {

/// Where the outbound server listens and what it asks of each new channel socket.
struct outbound_options {
  std::string listen_address = "127.0.0.1";
  /// 0 picks a free port (see `outbound_server::port()`).
  std::uint16_t port = 8084;
  /// Send `myevents` so the socket receives its channel's events.
  bool myevents = true;
  /// Event format for `myevents` (e.g. json); empty sends plain `myevents`.
  std::optional<event_format> myevents_format;
  /// Send `linger` so the final events (CHANNEL_HANGUP_COMPLETE) still arrive after hangup;
  /// without it FreeSWITCH closes right after CHANNEL_HANGUP.
  bool linger = true;
  /// Linger time in seconds; empty lingers until this side closes the socket.
  std::optional<int> linger_seconds;
  /// Deadline for connect, myevents and linger to be answered.
  std::chrono::milliseconds handshake_timeout{5'000};
  /// Sockets beyond this many live sessions are closed at once (FreeSWITCH then continues
  /// the dialplan or hangs up, as its `socket` application is configured).
  std::size_t max_sessions = 20'000;
  /// Per-connection settings.
  connection_options connection;
};

/// One channel that FreeSWITCH's `socket` application handed over, after the `connect`,
/// `myevents` and `linger` exchange. Owned by whoever received it from the server.
///
/// Frames that arrive before `start()` are kept and delivered by it, so nothing between the
/// handshake and the owner's first look is lost. A disconnect-notice with
/// `Content-Disposition: linger` means the channel hung up and the final events follow; one
/// with `disconnect` means FreeSWITCH closes the socket. Both are delivered as frames.
/// Threads: like `connection`, on its own strand; public functions may be called from any
/// thread.
class outbound_session : public std::enable_shared_from_this<outbound_session> {
public:
  ~outbound_session();

  /// The `connect` reply: the channel's data (variables, caller, destination, ...).
  [[nodiscard]] const frame& channel_data() const noexcept { return channel_data_; }

  /// The channel's UUID (Unique-ID of the channel data).
  [[nodiscard]] std::string_view channel_uuid() const noexcept {
    return channel_data_.unique_id();
  }

  /// Starts delivering frames (earlier ones first) and the close notification.
  void start(connection::frame_handler on_frame, connection::close_handler on_close);

  /// Sends a command to this channel's socket (sendmsg without a UUID acts on it).
  void send(command cmd, connection::reply_handler on_reply);
  void send(command cmd);

  /// Closes the socket. With linger, FreeSWITCH waits for this after the final events.
  void close();

  /// The underlying connection (counters, peer, executor).
  [[nodiscard]] connection& link() noexcept { return *link_; }

private:
  friend class outbound_server;
  outbound_session() = default;

  std::shared_ptr<connection> link_;
  frame channel_data_;
  std::vector<frame> early_frames_;
  connection::frame_handler on_frame_;
  connection::close_handler on_close_;
  caf::error early_close_;
  bool started_ = false;
  bool closed_early_ = false;
};

/// Accepts FreeSWITCH's outbound event socket connections (dialplan: `socket HOST:PORT async
/// full`), runs the handshake on each and hands every ready channel to the session handler.
/// Threads: accepts on its own strand of the io_context; handlers run on the session's strand.
/// Fails: `listen` returns an error when the address cannot be bound; a failed handshake
/// closes that one socket and is reported to the error handler.
class outbound_server : public std::enable_shared_from_this<outbound_server> {
public:
  using session_handler = std::function<void(std::shared_ptr<outbound_session>)>;
  using error_handler = std::function<void(const caf::error&)>;

  /// Binds and starts accepting.
  [[nodiscard]] static caf::expected<std::shared_ptr<outbound_server>>
  listen(boost::asio::io_context& io, outbound_options options, session_handler on_session,
         error_handler on_error = {});

  ~outbound_server();
  outbound_server(const outbound_server&) = delete;
  outbound_server& operator=(const outbound_server&) = delete;

  /// The port actually bound.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Stops accepting; established sessions are not touched. Thread-safe.
  void stop();

  /// Totals over all sessions.
  [[nodiscard]] const connection_counters& counters() const noexcept { return *counters_; }

  /// Sessions whose socket is still open.
  [[nodiscard]] std::size_t live_sessions() const noexcept { return live_->load(); }

private:
  outbound_server(boost::asio::io_context& io, outbound_options options,
                  session_handler on_session, error_handler on_error);

  void accept();
  void handshake(boost::asio::ip::tcp::socket socket);
  void report(const caf::error& err);

  boost::asio::io_context& io_;
  connection::strand_type strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  outbound_options options_;
  session_handler on_session_;
  error_handler on_error_;
  std::shared_ptr<connection_counters> counters_;
  std::shared_ptr<std::atomic<std::size_t>> live_;
  std::uint16_t port_ = 0;
};

} // namespace callgrid::esl
