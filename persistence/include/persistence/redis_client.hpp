#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "persistence/redis_errc.hpp"
#include "persistence/redis_reply.hpp"

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace callgrid::persistence {

/// How a `redis_client` connects, times out and reconnects. Read at construction.
struct redis_client_options {
  /// Server address (IPv4 or IPv6 literal, or a name resolved once per connect attempt).
  std::string host = "127.0.0.1";
  /// Server port.
  uint16_t port = 6379;
  /// Bound for a TCP connect; a slower connect counts as a failed attempt.
  std::chrono::milliseconds connect_timeout{1000};
  /// Bound for one command's reply; the handler then gets `redis_timeout` and a later reply is
  /// dropped. The connection stays up (one slow command does not mean Redis is gone).
  std::chrono::milliseconds command_timeout{200};
  /// When commands time out and nothing at all has come from the server for this long (a
  /// frozen server, a network that drops packets without a reset), the connection is treated as
  /// lost: it is closed, the commands in flight fail with `redis_unavailable` and the client
  /// reconnects. Zero disables it. Keep it well above `command_timeout`.
  std::chrono::milliseconds dead_after{5000};
  /// Wait before the first reconnect attempt after a loss; doubled per failed attempt.
  std::chrono::milliseconds reconnect_initial{50};
  /// Upper bound of the doubled reconnect wait.
  std::chrono::milliseconds reconnect_max{2000};
  /// Fraction of each reconnect wait taken off at random (0.2: wait in [0.8 d, d]), so that a
  /// fleet of daemons does not reconnect in step after a Redis restart.
  double reconnect_jitter = 0.2;
  /// Called on the client's strand after every successful connect (the first one too), before
  /// any command queued after it; the hot state re-registers what it holds there. May be empty.
  std::function<void()> on_connect;
};

/// Counters of one `redis_client` since construction; read with `redis_client::stats()`.
struct redis_client_stats {
  /// Commands written to the connection (queued in hiredis' output buffer).
  uint64_t sent = 0;
  /// Replies received for commands that had not timed out (error replies included).
  uint64_t replies = 0;
  /// Error replies (`-ERR ...`) among `replies`.
  uint64_t error_replies = 0;
  /// Commands failed with `redis_timeout`.
  uint64_t timeouts = 0;
  /// Commands refused or failed with `redis_unavailable` (no connection, or lost in flight).
  uint64_t unavailable = 0;
  /// Replies that arrived after their command had timed out (dropped).
  uint64_t late_replies = 0;
  /// Successful connects after the first one.
  uint64_t reconnects = 0;
  /// Connections closed because the server stayed silent for `dead_after`.
  uint64_t dead_connections = 0;
  /// Commands sent and not answered, timed out or failed yet.
  uint64_t in_flight = 0;
  /// Whether the connection is up right now.
  bool connected = false;
};

/// The handler of one command: the reply, or `redis_timeout` / `redis_unavailable`. An error
/// reply from Redis is a reply (type `error`), not a `caf::error`, so callers can tell the
/// server's "no" from a transport failure. Runs on the client's strand: keep it short.
using redis_reply_handler = std::function<void(caf::expected<redis_reply>)>;

/// Asynchronous Redis client: one hiredis `redisAsyncContext` driven by Boost.Asio on a strand of
/// a caller-given `io_context` (which the caller runs, on one or more threads). Commands are
/// pipelined: each is written to the connection at once and replies are matched in order.
///
/// Owned by whoever constructs it (the hot state, a benchmark); every public function may be
/// called from any thread. Handlers run on the strand, never inside the calling function.
/// Failures are values: a command sent while there is no connection fails at once with
/// `redis_unavailable`; a command without a reply within `command_timeout` fails with
/// `redis_timeout` (the late reply is dropped); when the connection is lost, every command in
/// flight fails with `redis_unavailable` and the client reconnects with capped exponential
/// backoff and jitter, for as long as it lives. It never throws and never blocks.
///
/// ```cpp
/// boost::asio::io_context io;
/// redis_client_options options;
/// options.port = 6379;
/// redis_client redis{io, options};
/// redis.start();
/// redis.command({"SET", "k", "v", "PX", "5000"}, [](caf::expected<redis_reply> r) {
///   if (!r) log(render_redis_error(r.error()));
/// });
/// io.run();
/// ```
///
/// Destroying the client closes the connection; handlers still pending are then called with
/// `redis_unavailable` on the `io_context`, so they must not refer to objects that die with the
/// client. The `io_context` must outlive the client and be run until those handlers ran.
class redis_client {
public:
  /// Prepares the client; nothing connects before `start()`. Never fails.
  redis_client(boost::asio::io_context& io, redis_client_options options);

  /// Stops the client (see `stop()`); never fails.
  ~redis_client();

  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Starts connecting (asynchronously; commands before the connection is up fail with
  /// `redis_unavailable`). Calling it again does nothing. Never fails.
  void start();

  /// Closes the connection and stops reconnecting; commands in flight and later ones fail with
  /// `redis_unavailable`. `start()` may be called again afterwards. Never fails.
  void stop();

  /// Sends one command (`{"SET", key, value}`); `handler` gets the reply or the failure. An empty
  /// `args` fails with `redis_invalid_argument`. Arguments are binary-safe.
  void command(std::vector<std::string> args, redis_reply_handler handler);

  /// Sends several commands with one hand-over to the client's thread (pipelined exactly like
  /// as many `command` calls, in order); `handler` gets each command's reply or failure.
  void commands(std::vector<std::vector<std::string>> batch, redis_reply_handler handler);

  /// Runs `fn` on the client's strand (for callers that keep state beside the client without a
  /// lock). Never fails.
  void post(std::function<void()> fn);

  /// Returns the counters (thread-safe snapshot). Never fails.
  [[nodiscard]] redis_client_stats stats() const;

  /// Returns whether the connection is up right now (it may drop a moment later). Never fails.
  [[nodiscard]] bool connected() const noexcept;

  /// The options in effect.
  [[nodiscard]] const redis_client_options& options() const noexcept;

  /// The connection state shared with the operations in flight (defined in redis_client.cpp).
  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace callgrid::persistence
