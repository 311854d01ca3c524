#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "esl_listener.hpp"
#include "sip_uas.hpp"

/// The UDP socket of fsemu's SIP user agent server: thin Asio glue around `sip_uas`.
///
/// ```
/// fsemu::sip_socket sip{io, core, listener, {.address = "127.0.0.1", .port = 5080}};
/// if (auto err = sip.open()) { std::cerr << err->what; return 1; }
/// ```
namespace callgrid::fsemu {

/// Receives SIP datagrams on one UDP address, feeds them to a `sip_uas` and sends what it
/// answers; sees the switch's events through the event socket listener (`attach_observer`).
/// Owned by fsemu's main; runs on the listener's single I/O thread; the switch and the listener
/// must outlive it. A failed send is dropped (UDP); a receive error is ignored and receiving
/// goes on.
class sip_socket {
public:
  /// A socket for `core` on `io`, observing events through `listener`.
  sip_socket(boost::asio::io_context& io, switch_core& core, esl_listener& listener,
             sip_uas_config config);
  sip_socket(const sip_socket&) = delete;
  sip_socket& operator=(const sip_socket&) = delete;

  /// Binds `config.address:config.port` and starts receiving; an error names the address.
  [[nodiscard]] std::optional<listen_error> open();

  /// The bound port, once `open` succeeded.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Stops receiving. Idempotent.
  void close();

private:
  void receive();
  void send(std::vector<sip_datagram>& out);

  boost::asio::ip::udp::socket socket_;
  esl_listener& listener_;
  sip_uas_config config_;
  sip_uas uas_;
  std::array<char, 65536> buffer_{};
  boost::asio::ip::udp::endpoint sender_;
  std::uint16_t port_ = 0;
  bool closed_ = false;
};

} // namespace callgrid::fsemu
