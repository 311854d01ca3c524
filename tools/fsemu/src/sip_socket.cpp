#include "sip_socket.hpp"

#include <chrono>

#include <boost/asio/buffer.hpp>

namespace callgrid::fsemu {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

sip_socket::sip_socket(asio::io_context& io, switch_core& core, esl_listener& listener,
                       sip_uas_config config)
  : socket_(io), listener_(listener), config_(config), uas_(core, std::move(config)) {}

std::optional<listen_error> sip_socket::open() {
  boost::system::error_code ec;
  auto where = config_.address + ":" + std::to_string(config_.port);
  auto ip = asio::ip::make_address(config_.address, ec);
  if (ec)
    return listen_error{"invalid SIP address '" + config_.address + "': " + ec.message()};
  udp::endpoint endpoint{ip, config_.port};
  if (socket_.open(endpoint.protocol(), ec); ec)
    return listen_error{"cannot open a UDP socket for " + where + ": " + ec.message()};
  if (socket_.bind(endpoint, ec); ec)
    return listen_error{"cannot bind SIP to " + where + ": " + ec.message()};
  port_ = socket_.local_endpoint(ec).port();
  listener_.attach_observer(esl_listener::event_observer{
    .interested = [](std::string_view name) { return sip_uas::observes(name); },
    .observe =
      [this](const switch_event& event, std::int64_t now) {
        std::vector<sip_datagram> out;
        uas_.observe(event, now, out);
        send(out);
      },
    .next_due = [this] { return uas_.next_due(); },
    .advance = [this](std::int64_t now) { uas_.advance(now); },
  });
  receive();
  return std::nullopt;
}

void sip_socket::close() {
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void sip_socket::receive() {
  if (closed_)
    return;
  socket_.async_receive_from(asio::buffer(buffer_), sender_,
                             [this](boost::system::error_code ec, std::size_t size) {
                               if (closed_ || ec == asio::error::operation_aborted)
                                 return;
                               if (!ec) {
                                 std::vector<sip_datagram> out;
                                 uas_.receive(std::string_view{buffer_.data(), size},
                                              {sender_.address().to_string(), sender_.port()},
                                              now_us(), out);
                                 send(out);
                                 // The call's events go out (and their SIP answers) now.
                                 listener_.poke();
                               }
                               receive();
                             });
}

void sip_socket::send(std::vector<sip_datagram>& out) {
  for (const auto& datagram : out) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(datagram.to.address, ec);
    if (ec) {
      udp::resolver resolver{socket_.get_executor()};
      auto found = resolver.resolve(udp::v4(), datagram.to.address,
                                    std::to_string(datagram.to.port), ec);
      if (ec || found.empty())
        continue;
      socket_.send_to(asio::buffer(datagram.text), found.begin()->endpoint(), 0, ec);
      continue;
    }
    socket_.send_to(asio::buffer(datagram.text), udp::endpoint{ip, datagram.to.port}, 0, ec);
  }
  out.clear();
}

} // namespace callgrid::fsemu
