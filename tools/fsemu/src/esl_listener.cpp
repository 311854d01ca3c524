#include "esl_listener.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "inbound_session.hpp"

namespace callgrid::fsemu {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

/// One accepted client: socket, parser and session. Owned by the listener's set (and by the
/// handlers in flight); runs on the listener's single I/O thread.
class esl_listener::connection : public std::enable_shared_from_this<connection> {
public:
  connection(esl_listener& owner, tcp::socket socket)
    : owner_(&owner),
      socket_(std::move(socket)),
      parser_(esl::parser_limits{}, esl::stream_direction::to_freeswitch),
      session_(owner.core_) {
    // Nothing to do until start().
  }

  inbound_session& session() noexcept { return session_; }

  void start() {
    send(inbound_session::greeting());
    read();
  }

  /// Queues `bytes`; everything queued while a write is in flight goes out in the next write.
  void send(std::string_view bytes) {
    if (closed_ || bytes.empty())
      return;
    pending_ += bytes;
    flush();
  }

  /// Closes once everything queued has been written; reads stop now.
  void close_after_flush() {
    close_after_ = true;
    if (!writing_ && pending_.empty())
      close_now();
  }

  void close_now() {
    if (closed_)
      return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    owner_->remove(shared_from_this());
  }

private:
  void read() {
    if (closed_ || close_after_)
      return;
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (closed_)
      return;
    if (ec) {
      close_now();
      return;
    }
    parser_.feed(std::string_view{buffer_.data(), n});
    std::string out;
    esl::frame command;
    while (!session_.closing()) {
      auto got = parser_.next(command);
      if (!got) {
        // A corrupt stream cannot be answered frame by frame: drop the client.
        send(out);
        close_now();
        return;
      }
      if (!*got)
        break;
      session_.handle(command, now_us(), out);
    }
    send(out);
    if (session_.closing())
      close_after_flush();
    owner_->dispatch_events();
    read();
  }

  void flush() {
    if (writing_ || pending_.empty() || closed_)
      return;
    writing_ = true;
    in_flight_ = std::exchange(pending_, {});
    asio::async_write(socket_, asio::buffer(in_flight_),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (self->closed_)
                          return;
                        if (ec) {
                          self->close_now();
                          return;
                        }
                        if (!self->pending_.empty())
                          self->flush();
                        else if (self->close_after_)
                          self->close_now();
                      });
  }

  esl_listener* owner_;
  tcp::socket socket_;
  esl::frame_parser parser_;
  inbound_session session_;
  std::array<char, 16 * 1024> buffer_{};
  std::string pending_;
  std::string in_flight_;
  bool writing_ = false;
  bool close_after_ = false;
  bool closed_ = false;
};

esl_listener::esl_listener(asio::io_context& io, switch_core& core,
                           std::function<void()> on_halt)
  : io_(io), core_(core), on_halt_(std::move(on_halt)), acceptor_(io), timer_(io) {
  // Bound in open().
}

esl_listener::~esl_listener() {
  close();
}

std::optional<listen_error> esl_listener::open(const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  auto where = address + ":" + std::to_string(port);
  if (ec)
    return listen_error{"invalid listen address '" + address + "': " + ec.message()};
  tcp::endpoint endpoint{ip, port};
  if (acceptor_.open(endpoint.protocol(), ec); ec)
    return listen_error{"cannot open a socket for " + where + ": " + ec.message()};
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec)
    return listen_error{"cannot set SO_REUSEADDR on " + where + ": " + ec.message()};
  if (acceptor_.bind(endpoint, ec); ec)
    return listen_error{"cannot listen on " + where + ": " + ec.message()};
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec)
    return listen_error{"cannot listen on " + where + ": " + ec.message()};
  port_ = acceptor_.local_endpoint(ec).port();
  accept();
  return std::nullopt;
}

void esl_listener::accept() {
  if (closed_)
    return;
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (closed_ || !acceptor_.is_open())
      return;
    if (!ec) {
      auto conn = std::make_shared<connection>(*this, std::move(socket));
      connections_.insert(conn);
      conn->start();
    }
    accept();
  });
}

void esl_listener::arm_timer() {
  if (closed_)
    return;
  auto due = core_.next_due();
  if (!due) {
    timer_.cancel();
    return;
  }
  auto delay = std::max<std::int64_t>(0, *due - now_us());
  timer_.expires_after(std::chrono::microseconds(delay));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || closed_)
      return;
    dispatch_events();
  });
}

void esl_listener::dispatch_events() {
  auto now = now_us();
  core_.advance(now);
  auto events = core_.take_events(now);
  if (!events.empty()) {
    // Copy: a send may close a connection, which removes it from the set.
    auto targets = connections_;
    for (const auto& conn : targets) {
      std::string out;
      for (const auto& ev : events)
        conn->session().deliver(ev, out);
      conn->send(out);
    }
  }
  if (core_.halted() && !closed_) {
    closed_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    auto targets = connections_;
    for (const auto& conn : targets) {
      conn->send(inbound_session::shutdown_notice());
      conn->close_after_flush();
    }
    if (connections_.empty() && !halt_reported_ && on_halt_) {
      halt_reported_ = true;
      asio::post(io_, on_halt_);
    }
  }
  arm_timer();
}

void esl_listener::remove(const std::shared_ptr<connection>& conn) {
  connections_.erase(conn);
  if (core_.halted() && connections_.empty() && !halt_reported_ && on_halt_) {
    halt_reported_ = true;
    asio::post(io_, on_halt_);
  }
}

void esl_listener::close() {
  closed_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  timer_.cancel();
  auto targets = std::exchange(connections_, {});
  for (const auto& conn : targets)
    conn->close_now();
}

} // namespace callgrid::fsemu
