#include "esl/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "esl/errc.hpp"

namespace callgrid::esl {

namespace asio = boost::asio;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

bool is_reply(content_type type) noexcept {
  return type == content_type::command_reply || type == content_type::api_response
         || type == content_type::channel_data;
}

bool is_event(content_type type) noexcept {
  return type == content_type::event_plain || type == content_type::event_json
         || type == content_type::event_xml;
}

std::string describe_endpoint(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec)
    return "(unconnected)";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

} // namespace

std::shared_ptr<connection> connection::make(asio::ip::tcp::socket socket, strand_type strand,
                                             connection_options options,
                                             std::shared_ptr<connection_counters> counters) {
  return std::shared_ptr<connection>{
    new connection{std::move(socket), std::move(strand), options, std::move(counters)}};
}

connection::connection(asio::ip::tcp::socket socket, strand_type strand,
                       connection_options options, std::shared_ptr<connection_counters> counters)
  : strand_(std::move(strand)),
    socket_(std::move(socket)),
    reply_timer_(strand_),
    options_(options),
    counters_(counters ? std::move(counters) : std::make_shared<connection_counters>()),
    peer_(describe_endpoint(socket_)),
    parser_(options.limits, stream_direction::from_freeswitch) {
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay{true}, ignored);
  parser_.skip_plain_events(options_.skipped_events);
}

connection::~connection() = default;

void connection::start(frame_handler on_frame, close_handler on_close,
                       read_end_handler on_read_end) {
  asio::post(strand_, [self = shared_from_this(), on_frame = std::move(on_frame),
                       on_close = std::move(on_close),
                       on_read_end = std::move(on_read_end)]() mutable {
    self->on_frame_ = std::move(on_frame);
    self->on_close_ = std::move(on_close);
    self->on_read_end_ = std::move(on_read_end);
    self->start_read();
  });
}

void connection::send(command cmd, reply_handler on_reply) {
  caf::error refused;
  int write_errno = 0;
  bool start_async_write = false;
  bool arm_watchdog = false;
  bool hold = false;
  {
    std::lock_guard lock{mutex_};
    const auto& wire = cmd.wire();
    if (closed_ || close_when_written_) {
      refused = caf::make_error(errc::disconnected, "the link to " + peer_ + " is closed; '"
                                                      + std::string{cmd.summary()}
                                                      + "' was not sent");
    } else if (queued_.size() + wire.size() > options_.max_queued_bytes) {
      refused = caf::make_error(errc::queue_full,
                                "outgoing queue to " + peer_ + " holds "
                                  + std::to_string(queued_.size()) + " bytes; '"
                                  + std::string{cmd.summary()} + "' refused (max_queued_bytes = "
                                  + std::to_string(options_.max_queued_bytes) + ")");
    } else {
      // Registered before the write: the reply may be read before this function returns.
      waiting_.push_back(waiting_reply{std::move(on_reply), std::chrono::steady_clock::now()
                                                              + options_.reply_timeout});
      arm_watchdog = !watchdog_armed_;
      watchdog_armed_ = true;
      if (write_in_flight_ || held_by_batch_) {
        queued_ += wire;
        ++queued_commands_;
      } else if (write_batch::open()) {
        queued_ += wire;
        ++queued_commands_;
        held_by_batch_ = hold = true;
      } else if (auto written = write_now(wire); written < 0) {
        write_errno = errno;
      } else {
        counters_->bytes_sent.fetch_add(static_cast<std::size_t>(written),
                                        std::memory_order_relaxed);
        if (static_cast<std::size_t>(written) == wire.size()) {
          counters_->commands_sent.fetch_add(1, std::memory_order_relaxed);
          counters_->write_batches.fetch_add(1, std::memory_order_relaxed);
        } else {
          // The socket buffer is full: the rest goes out from the strand when it drains.
          queued_.assign(wire, static_cast<std::size_t>(written));
          queued_commands_ = 1;
          write_in_flight_ = true;
          start_async_write = true;
        }
      }
    }
  }
  if (refused) {
    counters_->commands_rejected.fetch_add(1, std::memory_order_relaxed);
    refuse(std::move(on_reply), std::move(refused));
    return;
  }
  if (hold)
    write_batch::hold(shared_from_this());
  if (arm_watchdog)
    asio::post(strand_, [self = shared_from_this()] { self->arm_reply_watchdog(); });
  if (start_async_write)
    asio::post(strand_, [self = shared_from_this()] { self->start_write(); });
  if (write_errno != 0)
    fail_write(write_errno);
}

void connection::fail_write(int write_errno) {
  counters_->io_errors.fetch_add(1, std::memory_order_relaxed);
  asio::post(strand_, [self = shared_from_this(), write_errno] {
    self->shut_down(caf::make_error(errc::disconnected, "write to " + self->peer_ + " failed: "
                                                          + std::strerror(write_errno)));
  });
}

void connection::send(command cmd) {
  send(std::move(cmd), reply_handler{});
}

long connection::write_now(std::string_view wire) noexcept {
  std::size_t done = 0;
  while (done < wire.size()) {
    auto n = ::send(socket_.native_handle(), wire.data() + done, wire.size() - done,
                    MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    return -1;
  }
  return static_cast<long>(done);
}

void connection::flush_held() noexcept {
  int write_errno = 0;
  bool start_async_write = false;
  bool close_now = false;
  {
    std::lock_guard lock{mutex_};
    held_by_batch_ = false;
    if (closed_ || write_in_flight_ || queued_.empty())
      return;
    if (auto written = write_now(queued_); written < 0) {
      write_errno = errno;
    } else {
      counters_->bytes_sent.fetch_add(static_cast<std::size_t>(written),
                                      std::memory_order_relaxed);
      if (static_cast<std::size_t>(written) == queued_.size()) {
        counters_->commands_sent.fetch_add(queued_commands_, std::memory_order_relaxed);
        counters_->write_batches.fetch_add(1, std::memory_order_relaxed);
        queued_.clear();
        queued_commands_ = 0;
        close_now = close_when_written_;
      } else {
        // The socket buffer is full: the rest goes out from the strand when it drains.
        queued_.erase(0, static_cast<std::size_t>(written));
        write_in_flight_ = true;
        start_async_write = true;
      }
    }
  }
  try {
    if (start_async_write)
      asio::post(strand_, [self = shared_from_this()] { self->start_write(); });
    if (close_now)
      asio::post(strand_, [self = shared_from_this()] {
        self->shut_down(caf::make_error(errc::disconnected, "closed by this side"));
      });
    if (write_errno != 0)
      fail_write(write_errno);
  } catch (...) {
    // Only an allocation can fail here; the reply watchdog then closes the link.
  }
}

void connection::refuse(reply_handler on_reply, caf::error reason) {
  if (!on_reply)
    return;
  asio::post(strand_, [on_reply = std::move(on_reply), reason = std::move(reason)]() mutable {
    on_reply(std::move(reason));
  });
}

void connection::skip_completions(std::vector<std::string> applications) {
  // At once when called on the strand (the inbound client does), else posted to it.
  asio::dispatch(strand_,
                 [self = shared_from_this(), applications = std::move(applications)]() mutable {
                   self->parser_.skip_plain_completions(std::move(applications));
                 });
}

void connection::close() {
  asio::post(strand_, [self = shared_from_this()] {
    self->shut_down(caf::make_error(errc::disconnected, "closed by this side"));
  });
}

void connection::close_after_writes() {
  asio::post(strand_, [self = shared_from_this()] {
    bool written;
    {
      std::lock_guard lock{self->mutex_};
      written = !self->write_in_flight_ && self->queued_.empty();
      if (!written)
        self->close_when_written_ = true;
    }
    if (written)
      self->shut_down(caf::make_error(errc::disconnected, "closed by this side"));
  });
}

void connection::start_write() {
  std::size_t commands = 0;
  bool close_now = false;
  {
    std::lock_guard lock{mutex_};
    if (closed_) {
      write_in_flight_ = false;
      return;
    }
    if (queued_.empty()) {
      write_in_flight_ = false;
      close_now = close_when_written_;
    } else {
      // Everything queued so far goes out in one write: one syscall per batch of commands.
      writing_.swap(queued_);
      queued_.clear();
      commands = queued_commands_;
      queued_commands_ = 0;
    }
  }
  if (close_now)
    shut_down(caf::make_error(errc::disconnected, "closed by this side"));
  if (writing_.empty())
    return;
  asio::async_write(socket_, asio::buffer(writing_),
                    asio::bind_executor(strand_, [self = shared_from_this(), commands](
                                                   boost::system::error_code ec, std::size_t n) {
                      if (ec) {
                        if (ec != asio::error::operation_aborted)
                          self->counters_->io_errors.fetch_add(1, std::memory_order_relaxed);
                        self->writing_.clear();
                        self->shut_down(caf::make_error(errc::disconnected,
                                                        "write to " + self->peer_
                                                          + " failed: " + ec.message()));
                        return;
                      }
                      self->counters_->bytes_sent.fetch_add(n, std::memory_order_relaxed);
                      self->counters_->commands_sent.fetch_add(commands,
                                                               std::memory_order_relaxed);
                      self->counters_->write_batches.fetch_add(1, std::memory_order_relaxed);
                      self->writing_.clear();
                      self->start_write();
                    }));
}

void connection::start_read() {
  if (closed_)
    return;
  auto space = parser_.prepare(read_chunk);
  socket_.async_read_some(asio::buffer(space.data(), space.size()),
                          asio::bind_executor(strand_, [self = shared_from_this()](
                                                         boost::system::error_code ec,
                                                         std::size_t n) {
                            if (self->closed_)
                              return;
                            if (ec) {
                              if (ec == asio::error::eof) {
                                auto cut = self->parser_.finish();
                                self->shut_down(cut ? std::move(cut)
                                                    : caf::make_error(errc::disconnected,
                                                                      self->peer_
                                                                        + " closed the "
                                                                          "connection"));
                              } else {
                                self->counters_->io_errors.fetch_add(1,
                                                                     std::memory_order_relaxed);
                                self->shut_down(caf::make_error(errc::disconnected,
                                                                "read from " + self->peer_
                                                                  + " failed: "
                                                                  + ec.message()));
                              }
                              return;
                            }
                            self->on_read(n);
                          }));
}

void connection::on_read(std::size_t bytes) {
  counters_->bytes_received.fetch_add(bytes, std::memory_order_relaxed);
  parser_.commit(bytes);
  const auto received_at = std::chrono::steady_clock::now();
  frame f;
  auto skipped_before = parser_.skipped_events();
  while (!closed_) {
    auto got = parser_.next(f);
    if (!got) {
      counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      shut_down(std::move(got.error()));
      return;
    }
    if (!*got)
      break;
    f.set_received_at(received_at);
    dispatch(std::move(f));
  }
  if (auto skipped = parser_.skipped_events() - skipped_before; skipped != 0)
    counters_->events_skipped.fetch_add(skipped, std::memory_order_relaxed);
  if (closed_)
    return;
  if (on_read_end_)
    on_read_end_();
  start_read();
}

void connection::dispatch(frame&& f) {
  counters_->frames_received.fetch_add(1, std::memory_order_relaxed);
  if (is_event(f.type()))
    counters_->events_received.fetch_add(1, std::memory_order_relaxed);
  if (!is_reply(f.type())) {
    if (on_frame_)
      on_frame_(std::move(f));
    return;
  }
  reply_handler handler;
  bool unasked = false;
  {
    std::lock_guard lock{mutex_};
    if (waiting_.empty()) {
      unasked = true;
    } else {
      handler = std::move(waiting_.front().handler);
      waiting_.pop_front();
    }
  }
  if (unasked) {
    counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    shut_down(caf::make_error(errc::protocol_violation,
                              peer_ + " sent a " + to_string(f.type())
                                + " nobody asked for: '" + std::string{f.reply_text()} + "'"));
    return;
  }
  if (handler)
    handler(std::move(f));
}

void connection::arm_reply_watchdog() {
  // A deadline is checked at most a quarter of the reply timeout (1 s at most) after it
  // passed. The watchdog stops when no command waits; the next send posts it again.
  auto interval = std::clamp(options_.reply_timeout / 4, std::chrono::milliseconds{1},
                             std::chrono::milliseconds{1'000});
  reply_timer_.expires_after(interval);
  reply_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](
                                                         boost::system::error_code ec) {
    if (ec || self->closed_)
      return;
    bool expired = false;
    {
      std::lock_guard lock{self->mutex_};
      if (self->waiting_.empty()) {
        self->watchdog_armed_ = false;
        return;
      }
      expired = self->waiting_.front().deadline <= std::chrono::steady_clock::now();
    }
    if (!expired) {
      self->arm_reply_watchdog();
      return;
    }
    self->counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    self->shut_down(caf::make_error(
      errc::timeout, self->peer_ + " did not answer a command within "
                       + std::to_string(self->options_.reply_timeout.count()) + " ms"));
  }));
}

void connection::shut_down(caf::error reason) {
  std::deque<waiting_reply> waiting;
  {
    std::lock_guard lock{mutex_};
    if (closed_)
      return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    waiting = std::move(waiting_);
    waiting_.clear();
    queued_.clear();
  }
  reply_timer_.cancel();
  bool timed_out = reason && reason.category() == caf::atom("esl")
                   && static_cast<errc>(reason.code()) == errc::timeout;
  for (auto& entry : waiting) {
    // The oldest command is the one whose reply timed out; it learns that, the rest that
    // the link is gone.
    auto err = timed_out ? reason
                         : caf::make_error(errc::disconnected, "the link to " + peer_
                                                                 + " closed before the reply "
                                                                   "came: "
                                                                 + render_error(reason));
    timed_out = false;
    if (entry.handler)
      entry.handler(std::move(err));
  }
  if (auto on_close = std::move(on_close_))
    on_close(reason);
  on_frame_ = nullptr;
  on_read_end_ = nullptr;
}

namespace {

thread_local write_batch* open_batch = nullptr;
// The links the open batch holds; kept per thread, so that a batch costs no allocation.
thread_local std::vector<std::shared_ptr<connection>> held_links;

} // namespace

write_batch::write_batch() noexcept : outermost_(open_batch == nullptr) {
  if (outermost_)
    open_batch = this;
}

write_batch::~write_batch() {
  if (!outermost_)
    return;
  open_batch = nullptr; // what a flush might send is written at once
  auto links = std::move(held_links);
  held_links.clear();
  for (auto& link : links)
    link->flush_held();
  links.clear();
  held_links.swap(links); // keeps the capacity for the next batch
}

bool write_batch::open() noexcept {
  return open_batch != nullptr;
}

void write_batch::hold(std::shared_ptr<connection> link) {
  held_links.push_back(std::move(link));
}

} // namespace callgrid::esl
