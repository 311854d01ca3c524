#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture_transcript.hpp"

/// A scripted stand-in for the far end of an ESL socket, for tests of our clients and
/// servers over real loopback TCP: it plays FreeSWITCH from a capture transcript (sends the
/// "<<<" frames, checks that the ">>>" frames arrive byte for byte) or from steps written by
/// the test. Runs in its own thread with blocking sockets and a deadline on every wait.
namespace callgrid::test_support {

/// One step of a script.
struct peer_step {
  enum class kind : std::uint8_t {
    /// Send `bytes`.
    send,
    /// Read one command frame and check it equals `bytes` exactly.
    expect,
    /// Read one command frame and send what `respond` returns for its exact bytes.
    respond,
    /// Read one command frame and send nothing (a peer that stopped answering).
    swallow,
    /// Close the socket.
    close,
    /// Wait until the other side closes (EOF) or the deadline passes.
    await_close,
    /// Sleep for `delay`.
    pause,
  };
  kind what = kind::send;
  std::string bytes;
  std::function<std::string(const std::string&)> respond;
  std::chrono::milliseconds delay{0};

  static peer_step send(std::string bytes) { return {kind::send, std::move(bytes), {}, {}}; }
  static peer_step expect(std::string bytes) { return {kind::expect, std::move(bytes), {}, {}}; }
  static peer_step reply_to(std::function<std::string(const std::string&)> respond) {
    return {kind::respond, {}, std::move(respond), {}};
  }
  static peer_step swallow() { return {kind::swallow, {}, {}, {}}; }
  static peer_step close() { return {kind::close, {}, {}, {}}; }
  static peer_step await_close() { return {kind::await_close, {}, {}, {}}; }
  static peer_step pause(std::chrono::milliseconds delay) { return {kind::pause, {}, {}, delay}; }
};

/// The steps of a capture: "<<<" entries become sends, ">>>" entries expects; a final close.
[[nodiscard]] std::vector<peer_step> steps_from_capture(const capture& recorded);

/// The peer. Either listens (it plays FreeSWITCH's inbound socket: one script per accepted
/// connection, in order) or connects out (it plays FreeSWITCH's outbound `socket` app).
class scripted_peer {
public:
  /// Listens on 127.0.0.1 at a free port; runs `scripts[i]` on the i-th accepted connection.
  static std::unique_ptr<scripted_peer> listen(std::vector<std::vector<peer_step>> scripts);

  /// Connects to 127.0.0.1:`port` and runs `script` there.
  static std::unique_ptr<scripted_peer> connect(std::uint16_t port,
                                                std::vector<peer_step> script);

  ~scripted_peer();

  /// The listening port (listen mode).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Waits for every script to finish (or the deadline) and returns the problems seen, empty
  /// when everything went as scripted.
  [[nodiscard]] std::vector<std::string> finish(std::chrono::milliseconds deadline
                                                = std::chrono::milliseconds{10'000});

  /// Connections accepted so far.
  [[nodiscard]] std::size_t accepted() const;

  /// Deadline for each read.
  std::chrono::milliseconds step_timeout{5'000};

private:
  scripted_peer() = default;
  void run_listen(std::vector<std::vector<peer_step>> scripts);
  void run_connect(std::uint16_t port, std::vector<peer_step> script);
  void run_script(int fd, const std::vector<peer_step>& script, std::size_t index);
  void problem(std::string text);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> problems_;
  std::size_t accepted_ = 0;
  bool done_ = false;
};

} // namespace callgrid::test_support
