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

/// One HTTP request as the handler sees it.
struct http_request {
  /// "GET", "HEAD", "POST", "PUT" or "DELETE" (others are refused with 405 before a handler).
  std::string method;
  /// The target without its query string, e.g. "/v1/nodes/n1/drain".
  std::string path;
  /// The query string without '?', e.g. "o=json"; empty when there is none.
  std::string query;
  /// The Authorization header's value ("" when absent).
  std::string authorization;
  std::string body;
};

/// Delivers the answer of one request. Call it exactly once, from any thread (it posts to the
/// connection's io_context); a connection whose answer never comes is closed after 30 s.
using http_reply = std::function<void(http_answer)>;

/// Produces the answer for a request, now or later through `reply`. Runs on the io_context's
/// thread: it must be quick (hand slow work to an actor) and thread-safe with respect to the
/// rest of the daemon. An exception becomes a 500 answer.
using http_handler = std::function<void(const http_request& request, http_reply reply)>;

/// A small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz` and the admin API: one request
/// per connection, GET, HEAD, POST, PUT and DELETE, headers and body above 64 KiB refused, a
/// 30 s deadline per connection. Runs on a caller-given io_context; owned by the daemon's main.
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
