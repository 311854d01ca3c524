#include "tcp_proxy.hpp"

#include <array>
#include <atomic>
#include <future>
#include <list>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace callgrid::test_support {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// One proxied connection: two sockets and a pump in each direction.
struct link : std::enable_shared_from_this<link> {
  explicit link(asio::io_context& io) : client(io), server(io) {
  }

  void start() {
    pump(client, server, up);
    pump(server, client, down);
  }

  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buffer) {
    from.async_read_some(asio::buffer(buffer), [self = shared_from_this(), &from, &to,
                                                &buffer](boost::system::error_code ec,
                                                         std::size_t n) {
      if (ec) {
        self->close();
        return;
      }
      asio::async_write(to, asio::buffer(buffer.data(), n),
                        [self, &from, &to, &buffer](boost::system::error_code wec, std::size_t) {
                          if (wec) {
                            self->close();
                            return;
                          }
                          self->pump(from, to, buffer);
                        });
    });
  }

  void close() {
    boost::system::error_code ignored;
    client.close(ignored);
    server.close(ignored);
  }

  tcp::socket client;
  tcp::socket server;
  std::array<char, 16384> up{};
  std::array<char, 16384> down{};
};

} // namespace

struct tcp_proxy::impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  std::uint16_t target = 0;
  std::list<std::weak_ptr<link>> links;
  std::atomic<std::uint64_t> accepted{0};
  std::thread thread;

  void accept() {
    auto next = std::make_shared<link>(io);
    acceptor.async_accept(next->client, [this, next](boost::system::error_code ec) {
      if (ec)
        return;
      ++accepted;
      next->server.async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), target},
                                 [this, next](boost::system::error_code cec) {
                                   if (cec) {
                                     next->close();
                                     return;
                                   }
                                   links.push_back(next);
                                   next->start();
                                 });
      accept();
    });
  }
};

tcp_proxy::tcp_proxy(std::uint16_t target_port) : impl_(std::make_unique<impl>()) {
  impl_->target = target_port;
  impl_->accept();
  impl_->thread = std::thread{[this] { impl_->io.run(); }};
}

tcp_proxy::~tcp_proxy() {
  asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto& weak : impl_->links)
      if (auto l = weak.lock())
        l->close();
  });
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t tcp_proxy::port() const noexcept {
  return impl_->acceptor.local_endpoint().port();
}

void tcp_proxy::cut() {
  std::promise<void> done;
  asio::post(impl_->io, [this, &done] {
    for (auto& weak : impl_->links)
      if (auto l = weak.lock())
        l->close();
    impl_->links.clear();
    done.set_value();
  });
  done.get_future().wait();
}

std::uint64_t tcp_proxy::accepted() const noexcept {
  return impl_->accepted.load();
}

} // namespace callgrid::test_support
