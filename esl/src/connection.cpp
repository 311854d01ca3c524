#include "esl/connection.hpp"

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
}

connection::~connection() = default;

void connection::start(frame_handler on_frame, close_handler on_close) {
  asio::post(strand_, [self = shared_from_this(), on_frame = std::move(on_frame),
                       on_close = std::move(on_close)]() mutable {
    self->on_frame_ = std::move(on_frame);
    self->on_close_ = std::move(on_close);
    self->start_read();
  });
}

void connection::send(command cmd, reply_handler on_reply) {
  asio::post(strand_, [self = shared_from_this(), cmd = std::move(cmd),
                       on_reply = std::move(on_reply)]() mutable {
    self->do_send(std::move(cmd), std::move(on_reply));
  });
}

void connection::send(command cmd) {
  send(std::move(cmd), reply_handler{});
}

void connection::close() {
  asio::post(strand_, [self = shared_from_this()] {
    self->shut_down(caf::make_error(errc::disconnected, "closed by this side"));
  });
}

void connection::close_after_writes() {
  asio::post(strand_, [self = shared_from_this()] {
    if (!self->write_in_flight_ && self->queued_.empty())
      self->shut_down(caf::make_error(errc::disconnected, "closed by this side"));
    else
      self->close_when_written_ = true;
  });
}

void connection::do_send(command cmd, reply_handler on_reply) {
  auto reject = [&](caf::error err) {
    counters_->commands_rejected.fetch_add(1, std::memory_order_relaxed);
    if (on_reply)
      on_reply(std::move(err));
  };
  if (closed_ || close_when_written_)
    return reject(caf::make_error(errc::disconnected, "the link to " + peer_
                                                        + " is closed; '"
                                                        + std::string{cmd.summary()}
                                                        + "' was not sent"));
  if (queued_.size() + cmd.wire().size() > options_.max_queued_bytes)
    return reject(caf::make_error(errc::queue_full,
                                  "outgoing queue to " + peer_ + " holds "
                                    + std::to_string(queued_.size())
                                    + " bytes; '" + std::string{cmd.summary()}
                                    + "' refused (max_queued_bytes = "
                                    + std::to_string(options_.max_queued_bytes) + ")"));
  queued_ += cmd.wire();
  ++queued_commands_;
  waiting_.push_back(waiting_reply{std::move(on_reply), std::chrono::steady_clock::now()
                                                          + options_.reply_timeout});
  if (waiting_.size() == 1)
    arm_reply_timer();
  if (!write_in_flight_)
    start_write();
}

void connection::start_write() {
  if (queued_.empty() || closed_) {
    if (close_when_written_ && !closed_)
      shut_down(caf::make_error(errc::disconnected, "closed by this side"));
    return;
  }
  // Everything queued so far goes out in one write: one syscall per batch of commands.
  writing_.swap(queued_);
  queued_.clear();
  auto commands = queued_commands_;
  queued_commands_ = 0;
  write_in_flight_ = true;
  asio::async_write(socket_, asio::buffer(writing_),
                    asio::bind_executor(strand_, [self = shared_from_this(), commands](
                                                   boost::system::error_code ec, std::size_t n) {
                      self->write_in_flight_ = false;
                      if (ec) {
                        self->counters_->io_errors.fetch_add(1, std::memory_order_relaxed);
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
  frame f;
  while (!closed_) {
    auto got = parser_.next(f);
    if (!got) {
      counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      shut_down(std::move(got.error()));
      return;
    }
    if (!*got)
      break;
    dispatch(std::move(f));
  }
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
  if (waiting_.empty()) {
    counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    shut_down(caf::make_error(errc::protocol_violation,
                              peer_ + " sent a " + to_string(f.type())
                                + " nobody asked for: '" + std::string{f.reply_text()} + "'"));
    return;
  }
  auto handler = std::move(waiting_.front().handler);
  waiting_.pop_front();
  arm_reply_timer();
  if (handler)
    handler(std::move(f));
}

void connection::arm_reply_timer() {
  if (closed_)
    return;
  if (waiting_.empty()) {
    reply_timer_.cancel();
    return;
  }
  reply_timer_.expires_at(waiting_.front().deadline);
  reply_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](
                                                         boost::system::error_code ec) {
    if (ec || self->closed_ || self->waiting_.empty())
      return;
    if (self->waiting_.front().deadline > std::chrono::steady_clock::now())
      return;
    self->counters_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    self->shut_down(caf::make_error(
      errc::timeout, self->peer_ + " did not answer a command within "
                       + std::to_string(self->options_.reply_timeout.count()) + " ms"));
  }));
}

void connection::shut_down(caf::error reason) {
  if (closed_)
    return;
  closed_ = true;
  boost::system::error_code ignored;
  reply_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  auto waiting = std::move(waiting_);
  waiting_.clear();
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
}

} // namespace callgrid::esl
