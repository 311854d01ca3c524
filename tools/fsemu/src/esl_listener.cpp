#include "esl_listener.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"
#include "inbound_session.hpp"
#include "outbound_session.hpp"

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

/// One client: an accepted inbound event socket client, or an outbound socket fsemu opened
/// for a channel (`outbound` set). Socket, parser and session. Owned by the listener's set (and
/// by the handlers in flight); runs on the listener's single I/O thread.
class esl_listener::connection : public std::enable_shared_from_this<connection> {
public:
  connection(esl_listener& owner, tcp::socket socket)
    : owner_(&owner),
      socket_(std::move(socket)),
      parser_(esl::parser_limits{}, esl::stream_direction::to_freeswitch),
      session_(owner.core_) {
    // Nothing to do until start().
  }

  /// An outbound socket for channel `uuid`, connected already.
  connection(esl_listener& owner, tcp::socket socket, std::string uuid)
    : connection(owner, std::move(socket)) {
    outbound_.emplace(owner.core_, std::move(uuid));
  }

  bool is_outbound() const noexcept { return outbound_.has_value(); }

  /// Appends `event` in the session's format if the session takes it, unless the client's
  /// queue of unwritten events is full (then the event is lost; too many lost in a row and
  /// the client is closed, as mod_event_socket kills such a listener).
  void deliver(const switch_event& event, std::string& out) {
    if (queued_events() >= owner_->max_queued_events_) {
      bool would_take = outbound_ ? true : session_.wants(event);
      if (would_take && ++lost_events_ > owner_->max_lost_events_)
        overflowed_ = true;
      return;
    }
    bool appended = outbound_ ? outbound_->deliver(event, out) : session_.deliver(event, out);
    if (appended) {
      ++pending_events_;
      lost_events_ = 0;
    }
  }

  /// Whether this client could take events named `event_name` (an outbound socket takes its
  /// channel's events, so it says yes to every name).
  bool interested(std::string_view event_name) const {
    return outbound_.has_value() || session_.subscribed_to(event_name);
  }

  /// Events delivered but not yet written.
  std::size_t queued_events() const noexcept { return pending_events_ + in_flight_events_; }

  /// The client lost too many events: it is to be closed.
  bool overflowed() const noexcept { return overflowed_; }

  /// The outbound session's due work (the end of `linger N`), if any.
  std::optional<std::int64_t> next_due() const {
    return outbound_ ? outbound_->next_due() : std::nullopt;
  }

  /// Writes an inbound session's blocked `api fsctl shutdown` reply (and what it held back)
  /// once the switch's shutdown wait is over.
  void release() {
    if (outbound_ || !session_.blocked())
      return;
    std::string out;
    if (session_.release(out)) {
      send(out);
      after_output();
      // The commands that arrived meanwhile run now.
      (void)handle_commands();
    }
  }

  /// Runs the outbound session's due work and closes it when it is done.
  void advance(std::int64_t now) {
    if (!outbound_)
      return;
    std::string out;
    outbound_->advance(now, out);
    send(out);
    after_output();
  }

  /// Closes once written when the session says so.
  void after_output() {
    if (outbound_ ? outbound_->closing() : session_.closing())
      close_after_flush();
  }

  void start() {
    // An outbound socket sends nothing before the client's "connect" (capture 11).
    if (!outbound_)
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

  /// `send` for a buffer the caller gives up: no copy when nothing is queued.
  void send(std::string&& bytes) {
    if (closed_ || bytes.empty())
      return;
    if (pending_.empty())
      pending_ = std::move(bytes);
    else
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
    // FreeSWITCH hangs up a channel whose socket client went away.
    if (outbound_ && !outbound_->closing() && !owner_->closed_) {
      outbound_->client_gone(now_us());
      asio::post(owner_->io_, [owner = owner_] { owner->dispatch_events(); });
    }
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
    if (!handle_commands())
      return;
    owner_->dispatch_events();
    read();
  }

  /// Handles the complete commands the parser holds, unless a blocking api call is pending
  /// (they then stay in the parser until it answers). False when the client was dropped.
  bool handle_commands() {
    std::string out;
    esl::frame command;
    auto closing = [this] { return outbound_ ? outbound_->closing() : session_.closing(); };
    while (!closing() && (outbound_ || !session_.blocked())) {
      auto got = parser_.next(command);
      if (!got) {
        // A corrupt stream cannot be answered frame by frame: drop the client.
        send(out);
        close_now();
        return false;
      }
      if (!*got)
        break;
      if (outbound_)
        outbound_->handle(command, now_us(), out);
      else
        session_.handle(command, now_us(), out);
    }
    send(out);
    after_output();
    return true;
  }

  void flush() {
    if (writing_ || pending_.empty() || closed_)
      return;
    writing_ = true;
    in_flight_ = std::exchange(pending_, {});
    in_flight_events_ = std::exchange(pending_events_, 0);
    asio::async_write(socket_, asio::buffer(in_flight_),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->writing_ = false;
                        self->in_flight_events_ = 0;
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
  std::optional<outbound_session_logic> outbound_;
  std::array<char, 16 * 1024> buffer_{};
  std::string pending_;
  std::string in_flight_;
  std::size_t pending_events_ = 0;
  std::size_t in_flight_events_ = 0;
  std::size_t lost_events_ = 0;
  bool overflowed_ = false;
  bool writing_ = false;
  bool close_after_ = false;
  bool closed_ = false;
};

esl_listener::esl_listener(asio::io_context& io, switch_core& core,
                           std::function<void()> on_halt)
  : io_(io), core_(core), on_halt_(std::move(on_halt)), acceptor_(io), timer_(io) {
  core_.set_socket_connector([this](std::string_view uuid, std::string_view address) {
    return connect_outbound(uuid, address);
  });
  core_.set_event_interest([this](std::string_view name) { return interested(name); });
}

bool esl_listener::interested(std::string_view event_name) const {
  if (callers_ != nullptr && caller_runner::observes(event_name))
    return true;
  for (const auto& observer : observers_)
    if (observer.interested(event_name))
      return true;
  return std::any_of(connections_.begin(), connections_.end(),
                     [&](const auto& conn) { return conn->interested(event_name); });
}

bool esl_listener::connect_outbound(std::string_view uuid, std::string_view address) {
  if (closed_)
    return false;
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos)
    return false;
  std::string host{address.substr(0, colon)};
  std::string port{address.substr(colon + 1)};
  // A blocking connect on the I/O thread, so that originate can answer as capture 14 shows
  // when nothing listens: instant on loopback, up to the OS timeout for an unreachable host.
  boost::system::error_code ec;
  tcp::resolver resolver{io_};
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec)
    return false;
  tcp::socket socket{io_};
  asio::connect(socket, endpoints, ec);
  if (ec)
    return false;
  socket.set_option(tcp::no_delay(true), ec);
  auto conn = std::make_shared<connection>(*this, std::move(socket), std::string{uuid});
  connections_.insert(conn);
  conn->start();
  return true;
}

esl_listener::~esl_listener() {
  close();
  // The switch may outlive this listener: it must not call back into it.
  core_.set_socket_connector({});
  core_.set_event_interest({});
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
  if (callers_ != nullptr)
    if (auto at = callers_->next_due(); at && (!due || *at < *due))
      due = at;
  for (const auto& conn : connections_)
    if (auto at = conn->next_due(); at && (!due || *at < *due))
      due = at;
  for (const auto& observer : observers_)
    if (auto at = observer.next_due(); at && (!due || *at < *due))
      due = at;
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

void esl_listener::attach_callers(caller_runner* callers, std::function<void()> on_done) {
  callers_ = callers;
  callers_done_ = std::move(on_done);
  asio::post(io_, [this] { dispatch_events(); });
}

void esl_listener::dispatch_events() {
  auto now = now_us();
  core_.advance(now);
  if (callers_ != nullptr)
    callers_->advance(core_, now);
  for (const auto& observer : observers_)
    observer.advance(now);
  if (core_.shutdown_releases() != shutdown_releases_seen_) {
    shutdown_releases_seen_ = core_.shutdown_releases();
    auto targets = connections_;
    for (const auto& conn : targets)
      conn->release();
  }
  // Callers react to events (a prompt starts: they press digits), which fires more events:
  // a few rounds settle it, the rest waits for the next timer.
  for (int round = 0; round < 64; ++round) {
    auto events = core_.take_events(now);
    if (events.empty())
      break;
    // Copy: a send may close a connection, which removes it from the set.
    auto targets = connections_;
    for (const auto& conn : targets) {
      std::string out;
      for (const auto& ev : events)
        conn->deliver(ev, out);
      conn->send(std::move(out));
      if (conn->overflowed())
        conn->close_now();
      else
        conn->after_output();
    }
    for (const auto& observer : observers_)
      for (const auto& ev : events)
        observer.observe(ev, now);
    if (callers_ == nullptr && observers_.empty())
      break;
    if (callers_ == nullptr)
      continue;
    for (const auto& ev : events)
      callers_->observe(ev, now);
    callers_->advance(core_, now);
  }
  if (callers_ != nullptr && callers_->done() && callers_done_)
    asio::post(io_, std::exchange(callers_done_, {}));
  {
    auto targets = connections_;
    for (const auto& conn : targets)
      if (auto at = conn->next_due(); at && *at <= now)
        conn->advance(now);
  }
  if (core_.halted() && !closed_) {
    closed_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    auto targets = connections_;
    for (const auto& conn : targets) {
      if (!conn->is_outbound())
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
