#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "caller_runner.hpp"
#include "switch_core.hpp"

/// The emulated switch's event socket: a TCP acceptor whose connections each run one
/// `inbound_session`, and the outbound sockets (`socket HOST:PORT async full`) it opens for
/// channels, each running one `outbound_session_logic`. Thin Asio glue; the protocol lives in
/// the sessions and `switch_core`.
///
/// ```
/// boost::asio::io_context io;
/// fsemu::switch_core core{config, now_us()};
/// fsemu::esl_listener listener{io, core, [&] { io.stop(); }};
/// if (auto err = listener.open("127.0.0.1", 8021)) { std::cerr << err->what; return 1; }
/// io.run();
/// ```
namespace callgrid::fsemu {

/// Why the listener could not start.
struct listen_error {
  /// What failed, with the address, e.g. "cannot listen on 127.0.0.1:8021: Address in use".
  std::string what;
};

/// Accepts event socket clients on one address and serves them. Owned by fsemu's main; runs on
/// the thread(s) calling `io.run()` for a single-threaded io_context (it uses no strands, so the
/// io_context must be run by one thread). The switch must outlive it. I/O errors close the
/// affected connection only; when the switch halts (`fsctl shutdown`) every client gets the
/// shutdown notice, the listener closes everything and calls `on_halt`.
class esl_listener {
public:
  /// A listener for `core` on `io`; `on_halt` runs once the switch has shut down and every
  /// connection is closed.
  esl_listener(boost::asio::io_context& io, switch_core& core, std::function<void()> on_halt);
  ~esl_listener();
  esl_listener(const esl_listener&) = delete;
  esl_listener& operator=(const esl_listener&) = delete;

  /// Binds `address:port` and starts accepting. Port 0 picks a free port (see `port`).
  [[nodiscard]] std::optional<listen_error> open(const std::string& address, std::uint16_t port);

  /// The port listened on, once `open` succeeded.
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Stops accepting and closes every connection at once (no notice). Idempotent.
  void close();

  /// Drives `callers` with the switch: they see every event and place calls and press digits
  /// at their due times. `on_done` runs once on the I/O thread when every caller has finished.
  /// `callers` must outlive the listener (or be detached with `attach_callers(nullptr, {})`).
  void attach_callers(caller_runner* callers, std::function<void()> on_done);

  /// Something else on the I/O thread that sees the switch's events (the SIP socket): which
  /// events it needs, what it does with each, and its own due work. Plain data.
  struct event_observer {
    std::function<bool(std::string_view event_name)> interested;
    std::function<void(const switch_event& event, std::int64_t now_us)> observe;
    std::function<std::optional<std::int64_t>()> next_due;
    std::function<void(std::int64_t now_us)> advance;
  };

  /// Adds `observer`: it sees every event after the clients, and its due work runs with the
  /// switch's. It must outlive the listener. Never fails.
  void attach_observer(event_observer observer) { observers_.push_back(std::move(observer)); }

  /// Runs the switch's due work and fans the events out now (e.g. after `caller_runner::stop`).
  void poke() { dispatch_events(); }

  /// Bounds each client's queue of events not yet written, as mod_event_socket bounds its
  /// listeners' queues (MAX_QUEUE_LEN 100000): an event for a full queue is lost, and a client
  /// that loses more than `max_lost` (MAX_MISSED 500) in a row is disconnected. Replies are
  /// never dropped.
  void set_event_queue_limit(std::size_t max_queued, std::size_t max_lost = 500) {
    max_queued_events_ = max_queued;
    max_lost_events_ = max_lost;
  }

private:
  class connection;
  friend class connection;

  void accept();
  /// The switch's socket connector: opens an outbound socket for channel `uuid`.
  bool connect_outbound(std::string_view uuid, std::string_view address);
  void dispatch_events();
  /// Whether any client, or the callers, would take an event named `event_name`.
  bool interested(std::string_view event_name) const;
  /// Arms the timer for the switch's next due work (`switch_core::next_due`).
  void arm_timer();
  void remove(const std::shared_ptr<connection>& conn);

  boost::asio::io_context& io_;
  switch_core& core_;
  std::function<void()> on_halt_;
  boost::asio::ip::tcp::acceptor acceptor_;
  /// Drives `switch_core::advance` (playbacks ending, the lagging channel list).
  boost::asio::steady_timer timer_;
  std::set<std::shared_ptr<connection>> connections_;
  caller_runner* callers_ = nullptr;
  std::vector<event_observer> observers_;
  /// The switch's shutdown release count last seen (blocked `api fsctl shutdown` replies).
  std::uint64_t shutdown_releases_seen_ = 0;
  std::function<void()> callers_done_;
  std::size_t max_queued_events_ = 100'000;
  std::size_t max_lost_events_ = 500;
  std::uint16_t port_ = 0;
  bool closed_ = false;
  bool halt_reported_ = false;
};

} // namespace callgrid::fsemu
