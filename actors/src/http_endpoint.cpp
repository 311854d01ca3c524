#include "actors/http_endpoint.hpp"

#include <chrono>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "actors/errc.hpp"

namespace callgrid::actors {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

/// One connection: read one request, answer, close.
class http_connection : public std::enable_shared_from_this<http_connection> {
public:
  http_connection(tcp::socket socket, std::shared_ptr<const http_handler> handler)
    : stream_(std::move(socket)), handler_(std::move(handler)) {
  }

  void start() {
    stream_.expires_after(std::chrono::seconds(30));
    parser_.header_limit(64 * 1024);
    parser_.body_limit(64 * 1024);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec)
                         self->dispatch();
                     });
  }

private:
  void dispatch() {
    const auto& raw = parser_.get();
    auto verb = raw.method();
    if (verb != http::verb::get && verb != http::verb::head && verb != http::verb::post
        && verb != http::verb::put && verb != http::verb::delete_) {
      write({405, "text/plain; charset=utf-8", "method not allowed\n"});
      return;
    }
    http_request request;
    request.method = std::string{raw.method_string()};
    request.path = std::string{raw.target()};
    if (auto q = request.path.find('?'); q != std::string::npos) {
      request.query = request.path.substr(q + 1);
      request.path.resize(q);
    }
    if (auto auth = raw.find(http::field::authorization); auth != raw.end())
      request.authorization = std::string{auth->value()};
    request.body = raw.body();
    auto executor = stream_.get_executor();
    auto reply = [self = shared_from_this(), executor](http_answer answer) {
      asio::post(executor, [self, answer = std::move(answer)]() mutable {
        self->write(std::move(answer));
      });
    };
    try {
      (*handler_)(request, std::move(reply));
    } catch (const std::exception& e) {
      write({500, "text/plain; charset=utf-8", std::string{"internal error: "} + e.what() + "\n"});
    }
  }

  void write(http_answer result) {
    if (answered_)
      return;
    answered_ = true;
    const auto& request = parser_.get();
    response_.version(request.version());
    response_.result(static_cast<http::status>(result.status));
    response_.set(http::field::server, "callgridd");
    response_.set(http::field::content_type, result.content_type);
    response_.keep_alive(false);
    if (request.method() != http::verb::head)
      response_.body() = std::move(result.body);
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  bool answered_ = false;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
  std::shared_ptr<const http_handler> handler_;
};

class endpoint_impl final : public http_endpoint,
                            public std::enable_shared_from_this<endpoint_impl> {
public:
  endpoint_impl(asio::io_context& io, std::shared_ptr<const http_handler> handler)
    : acceptor_(io), handler_(std::move(handler)) {
  }

  caf::error bind(const std::string& address, uint16_t port) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address, ec);
    if (ec)
      return caf::make_error(errc::invalid_address,
                             "HTTP listen address '" + address + "' is not an IP address");
    tcp::endpoint where{ip, port};
    acceptor_.open(where.protocol(), ec);
    if (!ec)
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acceptor_.bind(where, ec);
    if (!ec)
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return caf::make_error(errc::listen_failed, "cannot listen for HTTP on " + address + ":"
                                                    + std::to_string(port) + ": "
                                                    + ec.message());
    port_ = acceptor_.local_endpoint().port();
    return {};
  }

  void accept() {
    acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec,
                                                       tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open())
        return;
      if (!ec)
        std::make_shared<http_connection>(std::move(socket), self->handler_)->start();
      self->accept();
    });
  }

  uint16_t port() const noexcept override {
    return port_;
  }

  void stop() override {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

private:
  tcp::acceptor acceptor_;
  std::shared_ptr<const http_handler> handler_;
  uint16_t port_ = 0;
};

} // namespace

http_endpoint::~http_endpoint() = default;

caf::expected<std::shared_ptr<http_endpoint>>
http_endpoint::listen(boost::asio::io_context& io, const std::string& address, uint16_t port,
                      http_handler handler) {
  auto endpoint
    = std::make_shared<endpoint_impl>(io, std::make_shared<const http_handler>(std::move(handler)));
  if (auto err = endpoint->bind(address, port))
    return err;
  endpoint->accept();
  return std::shared_ptr<http_endpoint>{endpoint};
}

} // namespace callgrid::actors
