#pragma once

#include <cstdint>
#include <memory>

namespace callgrid::test_support {

/// A loopback TCP proxy for fault tests: forwards every connection made to `port()` to
/// 127.0.0.1:`target_port`, and `cut()` drops every connection open at that moment (new ones
/// are still accepted), as a network fault between two daemons would. Runs its own Asio thread;
/// stops it in the destructor.
class tcp_proxy {
public:
  explicit tcp_proxy(std::uint16_t target_port);
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Closes every connection open now (both sides). Thread-safe; returns once done.
  void cut();
  /// Connections accepted so far.
  [[nodiscard]] std::uint64_t accepted() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace callgrid::test_support
