#include "esl/outbound_server.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "esl/errc.hpp"

namespace callgrid::esl {

namespace asio = boost::asio;

// -- outbound_session ------------------------------------------------------------------------

outbound_session::~outbound_session() = default;

void outbound_session::start(connection::frame_handler on_frame,
                             connection::close_handler on_close) {
  asio::post(link_->executor(), [self = shared_from_this(), on_frame = std::move(on_frame),
                                 on_close = std::move(on_close)]() mutable {
    self->started_ = true;
    self->on_frame_ = std::move(on_frame);
    self->on_close_ = std::move(on_close);
    auto early = std::move(self->early_frames_);
    self->early_frames_.clear();
    for (auto& f : early)
      if (self->on_frame_)
        self->on_frame_(std::move(f));
    if (self->closed_early_ && self->on_close_)
      self->on_close_(self->early_close_);
  });
}

void outbound_session::send(command cmd, connection::reply_handler on_reply) {
  link_->send(std::move(cmd), std::move(on_reply));
}

void outbound_session::send(command cmd) {
  link_->send(std::move(cmd));
}

void outbound_session::close() {
  link_->close();
}

// -- outbound_server -------------------------------------------------------------------------

caf::expected<std::shared_ptr<outbound_server>>
outbound_server::listen(asio::io_context& io, outbound_options options,
                        session_handler on_session, error_handler on_error) {
  std::shared_ptr<outbound_server> server{
    new outbound_server{io, std::move(options), std::move(on_session), std::move(on_error)}};
  const auto& opts = server->options_;
  auto where = opts.listen_address + ":" + std::to_string(opts.port);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(opts.listen_address, ec);
  if (ec)
    return caf::make_error(errc::connect_failed, "cannot listen on " + where + ": '"
                                                   + opts.listen_address
                                                   + "' is not an IP address");
  asio::ip::tcp::endpoint endpoint{address, opts.port};
  auto& acceptor = server->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(asio::ip::tcp::acceptor::reuse_address{true}, ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return caf::make_error(errc::connect_failed,
                           "cannot listen on " + where + ": " + ec.message());
  server->port_ = acceptor.local_endpoint().port();
  asio::post(server->strand_, [server] { server->accept(); });
  return server;
}

outbound_server::outbound_server(asio::io_context& io, outbound_options options,
                                 session_handler on_session, error_handler on_error)
  : io_(io),
    strand_(asio::make_strand(io.get_executor())),
    acceptor_(strand_),
    options_(std::move(options)),
    on_session_(std::move(on_session)),
    on_error_(std::move(on_error)),
    counters_(std::make_shared<connection_counters>()),
    live_(std::make_shared<std::atomic<std::size_t>>(0)) {
}

outbound_server::~outbound_server() = default;

void outbound_server::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void outbound_server::report(const caf::error& err) {
  if (on_error_)
    on_error_(err);
}

void outbound_server::accept() {
  acceptor_.async_accept(
    io_, asio::bind_executor(strand_, [self = shared_from_this()](
                                        boost::system::error_code ec,
                                        asio::ip::tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open())
        return;
      if (ec) {
        self->counters_->io_errors.fetch_add(1, std::memory_order_relaxed);
        self->report(caf::make_error(errc::connect_failed, "accept failed: " + ec.message()));
      } else if (self->live_->load() >= self->options_.max_sessions) {
        boost::system::error_code ignored;
        socket.close(ignored);
        self->report(caf::make_error(errc::queue_full,
                                     "refused an outbound socket: "
                                       + std::to_string(self->options_.max_sessions)
                                       + " sessions are live (max_sessions)"));
      } else {
        self->handshake(std::move(socket));
      }
      self->accept();
    }));
}

void outbound_server::handshake(asio::ip::tcp::socket socket) {
  connection::strand_type strand{asio::any_io_executor{io_.get_executor()}};
  std::shared_ptr<outbound_session> session{new outbound_session};
  session->link_ = connection::make(std::move(socket), strand, options_.connection, counters_);
  live_->fetch_add(1);
  auto done = std::make_shared<bool>(false);
  auto timer = std::make_shared<asio::steady_timer>(strand, options_.handshake_timeout);
  std::weak_ptr<outbound_server> weak_server = shared_from_this();
  auto fail = [weak_server, session, done](caf::error err) {
    if (*done)
      return;
    *done = true;
    session->link_->close();
    if (auto server = weak_server.lock())
      server->report(err);
  };
  timer->async_wait([timer, fail, peer = session->link_->peer(),
                     timeout = options_.handshake_timeout](boost::system::error_code ec) {
    if (!ec)
      fail(caf::make_error(errc::timeout, "outbound socket from " + peer
                                            + " did not finish the handshake within "
                                            + std::to_string(timeout.count()) + " ms"));
  });
  session->link_->start(
    [session](frame&& f) {
      if (session->started_) {
        if (session->on_frame_)
          session->on_frame_(std::move(f));
      } else {
        session->early_frames_.push_back(std::move(f));
      }
    },
    [session, live = live_, fail](const caf::error& reason) {
      live->fetch_sub(1);
      fail(reason);
      if (session->started_) {
        if (auto on_close = std::move(session->on_close_))
          on_close(reason);
        session->on_frame_ = nullptr;
      } else {
        session->closed_early_ = true;
        session->early_close_ = reason;
      }
    });
  std::vector<command> setup;
  if (options_.myevents)
    if (auto myevents = command::myevents({}, options_.myevents_format))
      setup.push_back(std::move(*myevents));
  if (options_.linger)
    setup.push_back(command::linger(options_.linger_seconds));
  auto finish = [weak_server, session, done, timer] {
    if (*done)
      return;
    *done = true;
    timer->cancel();
    if (auto server = weak_server.lock(); server && server->on_session_)
      server->on_session_(session);
  };
  session->link_->send(command::connect(), [session, setup = std::move(setup), fail,
                                            finish](caf::expected<frame> reply) mutable {
    if (!reply)
      return fail(std::move(reply.error()));
    if (reply->type() != content_type::channel_data)
      return fail(caf::make_error(errc::protocol_violation,
                                  "the reply to 'connect' from " + session->link_->peer()
                                    + " carries no channel data ("
                                    + to_string(reply->type()) + ")"));
    session->channel_data_ = std::move(*reply);
    if (setup.empty())
      return finish();
    auto remaining = std::make_shared<std::size_t>(setup.size());
    for (auto& cmd : setup) {
      auto summary = std::string{cmd.summary()};
      session->link_->send(std::move(cmd), [remaining, summary, fail,
                                            finish](caf::expected<frame> answer) {
        if (!answer)
          return fail(std::move(answer.error()));
        if (!answer->reply_text().starts_with("+OK"))
          return fail(caf::make_error(errc::command_failed,
                                      "FreeSWITCH refused '" + summary
                                        + "': " + std::string{answer->reply_text()}));
        if (--*remaining == 0)
          finish();
      });
    }
  });
}

} // namespace callgrid::esl
