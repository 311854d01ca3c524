#include "persistence/redis_client.hpp"

#include "persistence/redis_protocol.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <caf/error.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace callgrid::persistence {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

caf::error make_redis_error(redis_errc code, std::string context) {
  return caf::make_error(code, std::move(context));
}

/// Copies hiredis' reply tree into an owned value.
redis_reply convert(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_INTEGER: return redis_reply::make_integer(r.integer);
    case REDIS_REPLY_STRING: return redis_reply::make_string(std::string{r.str, r.len});
    case REDIS_REPLY_STATUS: return redis_reply::make_status(std::string{r.str, r.len});
    case REDIS_REPLY_ERROR: return redis_reply::make_error(std::string{r.str, r.len});
    case REDIS_REPLY_ARRAY: {
      std::vector<redis_reply> elements;
      elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i)
        elements.push_back(r.element[i] != nullptr ? convert(*r.element[i])
                                                   : redis_reply::make_nil());
      return redis_reply::make_array(std::move(elements));
    }
    default: return redis_reply::make_nil();
  }
}

} // namespace

/// Everything of a client lives here, shared with the asynchronous operations in flight. All
/// members without `std::atomic` are touched only on `strand`.
struct redis_client::impl : std::enable_shared_from_this<impl> {
  /// A command waiting for its reply. Replies come in command order, and timeouts take the
  /// oldest first, so `pending` is a queue ordered by id.
  struct pending_command {
    uint64_t id;
    redis_reply_handler handler;
    clock_type::time_point deadline;
    std::string name;
  };

  impl(asio::io_context& io_ctx, redis_client_options opts)
    : io(io_ctx),
      strand(asio::make_strand(io_ctx)),
      options(std::move(opts)),
      connect_timer(strand),
      reconnect_timer(strand),
      timeout_timer(strand),
      rng(std::random_device{}()) {
  }

  ~impl() {
    // Only reached when no operation holds the impl any more, e.g. the io_context was destroyed
    // with the teardown still queued. hiredis must not call back into a dying object.
    if (ctx != nullptr) {
      auto* c = ctx;
      ctx = nullptr;
      c->data = nullptr;
      release_socket();
      c->ev.data = nullptr;
      redisAsyncFree(c);
    }
  }

  // -- connection ---------------------------------------------------------------------------

  void start() {
    if (running)
      return;
    running = true;
    failed_attempts = 0;
    connect();
  }

  void stop() {
    running = false;
    connect_timer.cancel();
    reconnect_timer.cancel();
    drop_connection();
    fail_all(redis_errc::redis_unavailable, "client stopped");
  }

  void connect() {
    if (!running || ctx != nullptr)
      return;
    auto* c = redisAsyncConnect(options.host.c_str(), options.port);
    if (c == nullptr) {
      schedule_reconnect();
      return;
    }
    if (c->err != 0) {
      redisAsyncFree(c);
      schedule_reconnect();
      return;
    }
    ctx = c;
    ++generation;
    ctx->data = this;
    boost::system::error_code ec;
    socket.emplace(io);
    socket->assign(ctx->c.fd, ec);
    if (ec) {
      socket.reset();
      drop_connection();
      schedule_reconnect();
      return;
    }
    ctx->ev.data = this;
    ctx->ev.addRead = &impl::on_add_read;
    ctx->ev.delRead = &impl::on_del_read;
    ctx->ev.addWrite = &impl::on_add_write;
    ctx->ev.delWrite = &impl::on_del_write;
    ctx->ev.cleanup = &impl::on_cleanup;
    redisAsyncSetDisconnectCallback(ctx, &impl::on_disconnected);
    // Adds the write interest whose first event completes the non-blocking connect.
    redisAsyncSetConnectCallback(ctx, &impl::on_connected);
    connect_timer.expires_after(options.connect_timeout);
    connect_timer.async_wait([self = shared_from_this(), gen = generation](auto ec2) {
      if (ec2 || gen != self->generation || self->ctx == nullptr || self->connected)
        return;
      self->drop_connection();
      self->schedule_reconnect();
    });
  }

  /// Frees the context (hiredis fails its callbacks with a null reply) and forgets it.
  void drop_connection() {
    set_connected(false);
    if (ctx == nullptr)
      return;
    auto* c = ctx;
    ctx = nullptr;
    redisAsyncFree(c);
  }

  void schedule_reconnect() {
    if (!running || reconnect_scheduled)
      return;
    reconnect_scheduled = true;
    auto base = options.reconnect_initial.count();
    for (uint32_t i = 0; i < failed_attempts && base < options.reconnect_max.count(); ++i)
      base *= 2;
    base = std::min<int64_t>(base, options.reconnect_max.count());
    std::uniform_real_distribution<double> jitter{0.0,
                                                  std::clamp(options.reconnect_jitter, 0.0, 1.0)};
    auto delay = std::chrono::milliseconds{
      static_cast<int64_t>(static_cast<double>(base) * (1.0 - jitter(rng)))};
    ++failed_attempts;
    reconnect_timer.expires_after(delay);
    reconnect_timer.async_wait([self = shared_from_this()](auto ec) {
      self->reconnect_scheduled = false;
      if (!ec)
        self->connect();
    });
  }

  void set_connected(bool value) {
    connected = value;
    connected_flag.store(value, std::memory_order_relaxed);
  }

  static impl* from(const redisAsyncContext* c) { return static_cast<impl*>(c->data); }

  static void on_connected(const redisAsyncContext* c, int status) {
    auto* self = from(c);
    if (self == nullptr || c != self->ctx)
      return;
    if (status != REDIS_OK) {
      // hiredis frees the context right after this callback.
      self->ctx = nullptr;
      self->set_connected(false);
      self->schedule_reconnect();
      return;
    }
    self->connect_timer.cancel();
    self->failed_attempts = 0;
    if (self->ever_connected)
      self->reconnects.fetch_add(1, std::memory_order_relaxed);
    self->ever_connected = true;
    self->last_heard = clock_type::now();
    self->set_connected(true);
    if (self->options.on_connect)
      self->options.on_connect();
  }

  static void on_disconnected(const redisAsyncContext* c, int) {
    auto* self = from(c);
    if (self == nullptr || c != self->ctx)
      return; // our own drop_connection: it already forgot the context
    self->ctx = nullptr;
    self->set_connected(false);
    self->fail_all(redis_errc::redis_unavailable, "connection lost");
    self->schedule_reconnect();
  }

  // -- the Asio adapter on the context's file descriptor -------------------------------------

  static void on_add_read(void* data) {
    if (auto* self = static_cast<impl*>(data)) {
      self->want_read = true;
      self->arm_read();
    }
  }
  static void on_del_read(void* data) {
    if (auto* self = static_cast<impl*>(data))
      self->want_read = false;
  }
  static void on_add_write(void* data) {
    if (auto* self = static_cast<impl*>(data)) {
      self->want_write = true;
      // Inside a write, the caller of redisAsyncHandleWrite decides what comes next.
      if (!self->writing)
        self->arm_write(self->connected_to_server());
    }
  }
  static void on_del_write(void* data) {
    if (auto* self = static_cast<impl*>(data))
      self->want_write = false;
  }
  static void on_cleanup(void* data) {
    if (auto* self = static_cast<impl*>(data))
      self->release_socket();
  }

  /// Gives the descriptor back to hiredis (which closes it) without closing it here; pending
  /// waits complete with operation_aborted and see a new generation.
  void release_socket() {
    ++generation;
    want_read = want_write = read_armed = write_armed = writing = false;
    if (socket) {
      boost::system::error_code ignored;
      socket->cancel(ignored);
      socket->release();
      socket.reset();
    }
  }

  void arm_read() {
    if (read_armed || !socket)
      return;
    read_armed = true;
    socket->async_wait(asio::posix::stream_descriptor::wait_read,
                       asio::bind_executor(strand, [self = shared_from_this(),
                                                    gen = generation](auto ec) {
                         if (gen != self->generation)
                           return;
                         self->read_armed = false;
                         if (ec || self->ctx == nullptr || !self->want_read)
                           return;
                         redisAsyncHandleRead(self->ctx);
                         if (gen == self->generation && self->ctx != nullptr && self->want_read)
                           self->arm_read();
                       }));
  }

  /// Whether hiredis has finished connecting (before that, a write must wait for writability:
  /// that is how a non-blocking connect reports its result).
  bool connected_to_server() const noexcept {
    return ctx != nullptr && (ctx->c.flags & REDIS_CONNECTED) != 0;
  }

  /// Gets hiredis' output written. Once connected, the socket nearly always has room, so the
  /// write is tried at once (`try_now`: posted, so that every command queued by the running
  /// handler leaves in the same write). Waiting for writability first would cost an epoll_ctl
  /// and a trip through the reactor per write. The connect, and a write the socket did not take
  /// whole, wait for writability.
  void arm_write(bool try_now) {
    if (write_armed || !socket)
      return;
    write_armed = true;
    auto on_writable = [self = shared_from_this(), gen = generation](auto ec) {
      if (gen != self->generation)
        return;
      self->write_armed = false;
      if (ec || self->ctx == nullptr || !self->want_write)
        return;
      self->writing = true;
      redisAsyncHandleWrite(self->ctx);
      self->writing = false;
      if (gen == self->generation && self->ctx != nullptr && self->want_write)
        self->arm_write(false);
    };
    if (try_now)
      asio::post(strand, [on_writable = std::move(on_writable)] {
        on_writable(boost::system::error_code{});
      });
    else
      socket->async_wait(asio::posix::stream_descriptor::wait_write,
                         asio::bind_executor(strand, std::move(on_writable)));
  }

  // -- commands ------------------------------------------------------------------------------

  void send(std::vector<std::string>& args, redis_reply_handler& handler) {
    if (args.empty()) {
      handler(make_redis_error(redis_errc::redis_invalid_argument, "empty command"));
      return;
    }
    if (ctx == nullptr || !connected) {
      unavailable.fetch_add(1, std::memory_order_relaxed);
      handler(make_redis_error(redis_errc::redis_unavailable,
                               args[0] + ": not connected to " + address()));
      return;
    }
    // Formatted here rather than by hiredis (redisAsyncCommandArgv), which grows its buffer
    // argument by argument with a printf-like formatter.
    formatted.clear();
    append_redis_command(formatted, args);
    auto id = next_id++;
    if (redisAsyncFormattedCommand(ctx, &impl::on_reply,
                                   reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
                                   formatted.data(), formatted.size())
        != REDIS_OK) {
      unavailable.fetch_add(1, std::memory_order_relaxed);
      handler(make_redis_error(redis_errc::redis_unavailable,
                               args[0] + ": the connection is closing"));
      return;
    }
    pending.push_back(pending_command{id, std::move(handler),
                                      clock_type::now() + options.command_timeout,
                                      std::move(args[0])});
    sent.fetch_add(1, std::memory_order_relaxed);
    in_flight.store(pending.size(), std::memory_order_relaxed);
    arm_timeout();
  }

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata) {
    auto* self = from(c);
    if (self == nullptr)
      return;
    self->complete(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata)),
                   static_cast<const redisReply*>(reply));
  }

  void complete(uint64_t id, const redisReply* reply) {
    if (pending.empty() || pending.front().id != id) { // its command timed out
      if (reply != nullptr) {
        late_replies.fetch_add(1, std::memory_order_relaxed);
        last_heard = clock_type::now();
      }
      return;
    }
    auto handler = std::move(pending.front().handler);
    auto name = std::move(pending.front().name);
    pending.pop_front();
    in_flight.store(pending.size(), std::memory_order_relaxed);
    if (reply == nullptr) {
      unavailable.fetch_add(1, std::memory_order_relaxed);
      handler(make_redis_error(redis_errc::redis_unavailable,
                               name + ": connection to " + address() + " lost"));
      return;
    }
    replies.fetch_add(1, std::memory_order_relaxed);
    last_heard = clock_type::now();
    if (reply->type == REDIS_REPLY_ERROR)
      error_replies.fetch_add(1, std::memory_order_relaxed);
    handler(convert(*reply));
  }

  /// One timer for all commands: deadlines grow with the command id (one timeout per client),
  /// so the oldest pending command always expires first.
  void arm_timeout() {
    if (timeout_armed || pending.empty())
      return;
    timeout_armed = true;
    timeout_timer.expires_at(pending.front().deadline);
    timeout_timer.async_wait([self = shared_from_this()](auto ec) {
      self->timeout_armed = false;
      if (ec)
        return;
      self->expire(clock_type::now());
      self->arm_timeout();
    });
  }

  void expire(clock_type::time_point now) {
    bool expired_any = false;
    while (!pending.empty() && pending.front().deadline <= now) {
      expired_any = true;
      auto handler = std::move(pending.front().handler);
      auto name = std::move(pending.front().name);
      pending.pop_front();
      in_flight.store(pending.size(), std::memory_order_relaxed);
      timeouts.fetch_add(1, std::memory_order_relaxed);
      handler(make_redis_error(redis_errc::redis_timeout,
                               name + ": no reply from " + address() + " within "
                                 + std::to_string(options.command_timeout.count()) + " ms"));
    }
    // A server that has said nothing at all for dead_after is gone even if TCP does not know it.
    if (expired_any && ctx != nullptr && options.dead_after.count() > 0
        && now - last_heard >= options.dead_after) {
      dead_connections.fetch_add(1, std::memory_order_relaxed);
      drop_connection();
      fail_all(redis_errc::redis_unavailable, "server silent for "
                                                + std::to_string(options.dead_after.count())
                                                + " ms, connection closed");
      schedule_reconnect();
    }
  }

  void fail_all(redis_errc code, const std::string& why) {
    while (!pending.empty()) {
      auto handler = std::move(pending.front().handler);
      auto name = std::move(pending.front().name);
      pending.pop_front();
      unavailable.fetch_add(1, std::memory_order_relaxed);
      handler(make_redis_error(code, name + ": " + why + " (" + address() + ")"));
    }
    in_flight.store(0, std::memory_order_relaxed);
  }

  std::string address() const { return options.host + ":" + std::to_string(options.port); }

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  redis_client_options options;
  asio::steady_timer connect_timer;
  asio::steady_timer reconnect_timer;
  asio::steady_timer timeout_timer;
  std::minstd_rand rng;

  redisAsyncContext* ctx = nullptr;
  std::optional<asio::posix::stream_descriptor> socket;
  uint64_t generation = 0;
  bool running = false;
  bool connected = false;
  bool ever_connected = false;
  bool reconnect_scheduled = false;
  bool timeout_armed = false;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
  /// Inside redisAsyncHandleWrite (its add-write callback must not arm another write then).
  bool writing = false;
  uint32_t failed_attempts = 0;
  uint64_t next_id = 1;
  clock_type::time_point last_heard;
  std::deque<pending_command> pending;
  /// The command being sent, in the wire protocol (kept for its capacity).
  std::string formatted;

  std::atomic<bool> connected_flag{false};
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> error_replies{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> unavailable{0};
  std::atomic<uint64_t> late_replies{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> dead_connections{0};
  std::atomic<uint64_t> in_flight{0};
};

redis_client::redis_client(asio::io_context& io, redis_client_options options)
  : impl_(std::make_shared<impl>(io, std::move(options))) {
}

redis_client::~redis_client() {
  stop();
}

void redis_client::start() {
  asio::post(impl_->strand, [self = impl_] { self->start(); });
}

void redis_client::stop() {
  asio::post(impl_->strand, [self = impl_] { self->stop(); });
}

void redis_client::command(std::vector<std::string> args, redis_reply_handler handler) {
  asio::post(impl_->strand, [self = impl_, args = std::move(args),
                             handler = std::move(handler)]() mutable {
    self->send(args, handler);
  });
}

void redis_client::commands(std::vector<std::vector<std::string>> batch,
                            redis_reply_handler handler) {
  asio::post(impl_->strand, [self = impl_, batch = std::move(batch),
                             handler = std::move(handler)]() mutable {
    for (auto& args : batch) {
      auto each = handler;
      self->send(args, each);
    }
  });
}

void redis_client::post(std::function<void()> fn) {
  asio::post(impl_->strand, std::move(fn));
}

redis_client_stats redis_client::stats() const {
  redis_client_stats s;
  s.sent = impl_->sent.load(std::memory_order_relaxed);
  s.replies = impl_->replies.load(std::memory_order_relaxed);
  s.error_replies = impl_->error_replies.load(std::memory_order_relaxed);
  s.timeouts = impl_->timeouts.load(std::memory_order_relaxed);
  s.unavailable = impl_->unavailable.load(std::memory_order_relaxed);
  s.late_replies = impl_->late_replies.load(std::memory_order_relaxed);
  s.reconnects = impl_->reconnects.load(std::memory_order_relaxed);
  s.dead_connections = impl_->dead_connections.load(std::memory_order_relaxed);
  s.in_flight = impl_->in_flight.load(std::memory_order_relaxed);
  s.connected = impl_->connected_flag.load(std::memory_order_relaxed);
  return s;
}

bool redis_client::connected() const noexcept {
  return impl_->connected_flag.load(std::memory_order_relaxed);
}

const redis_client_options& redis_client::options() const noexcept {
  return impl_->options;
}

} // namespace callgrid::persistence
