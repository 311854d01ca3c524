#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace callgrid::actors {

/// One HTTP answer: status code, content type and body.
struct http_answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// Produces the answer for a GET of `path` (query string removed). Runs on the io_context's
/// thread: it must be quick and thread-safe with respect to the rest of the daemon.
using http_handler = std::function<http_answer(const std::string& path)>;

/// A small HTTP/1.1 server for `/metrics`, `/healthz` and `/readyz` (and later the admin API):
/// one request per connection, GET and HEAD only, requests above 8 KiB refused, a 10 s deadline
/// per connection. Runs on a caller-given io_context; owned by the daemon's main.
class http_endpoint {
public:
  /// Binds `address:port` (port 0 picks a free one) and starts accepting. Fails with the
  /// bind error (address in use, permission) and its context.
  [[nodiscard]] static caf::expected<std::shared_ptr<http_endpoint>>
  listen(boost::asio::io_context& io, const std::string& address, uint16_t port,
         http_handler handler);

  virtual ~http_endpoint();
  /// The port actually bound.
  [[nodiscard]] virtual uint16_t port() const noexcept = 0;
  /// Stops accepting (connections in progress finish). Thread-safe.
  virtual void stop() = 0;
};

} // namespace callgrid::actors
