#pragma once

#include <chrono>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "esl/command.hpp"
#include "esl/connection.hpp"
#include "esl/connection_counters.hpp"
#include "esl/frame.hpp"

namespace callgrid::esl {

/// Where and how an `inbound_client` connects, and how it recovers.
struct inbound_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8021;
  std::string password;
  /// Event subscription, sent after every (re)connect: format and names ("ALL" allowed).
  event_format format = event_format::plain;
  std::vector<std::string> events;
  /// Adds BACKGROUND_JOB to the subscription (alone if `events` is empty): FreeSWITCH only
  /// delivers bgapi results to sockets subscribed to it, so `bgapi()` needs this.
  bool subscribe_background_jobs = true;
  /// `filter` commands sent after the subscription, e.g. {"Event-Name", "CHANNEL_PARK"}.
  std::vector<std::pair<std::string, std::string>> filters;
  /// Deadline for TCP connect plus the auth exchange.
  std::chrono::milliseconds connect_timeout{5'000};
  /// Reconnect delays: initial, doubled after each failure up to max, each randomised to
  /// between half and all of its value (jitter) so many nodes do not retry in step.
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{15'000};
  /// Consecutive failed attempts before giving up (state `stopped`); 0 retries forever.
  int max_attempts = 0;
  /// After this long without any frame a probe (`api status`) is sent; if its reply does not
  /// come within the reply timeout the link is declared dead and re-established. 0 = off.
  std::chrono::milliseconds idle_probe_after{15'000};
  /// How long a bgapi job may take before its handler gets errc::timeout.
  std::chrono::milliseconds job_timeout{300'000};
  /// Per-connection settings (queue bound, reply timeout, parser limits).
  connection_options connection;
};

/// The link's life cycle as seen by `inbound_client`'s state handler.
enum class link_state : std::uint8_t {
  /// TCP connect and auth in progress.
  connecting,
  /// Authenticated and subscribed: commands are accepted.
  ready,
  /// Lost or failed; waiting for the next attempt.
  backing_off,
  /// Stopped by `stop()` or after `max_attempts` failures; no further attempts.
  stopped,
};

/// Returns "connecting", "ready", "backing_off" or "stopped".
[[nodiscard]] const char* to_string(link_state state) noexcept;

/// A client for FreeSWITCH's inbound event socket: connects, authenticates, subscribes,
/// delivers events, matches replies to commands in order and bgapi results by Job-UUID,
/// and re-establishes all of it after a loss, with capped exponential backoff and jitter.
///
/// Threads: runs on a strand of the given io_context; every public function may be called
/// from any thread; handlers run on that strand and must not block.
/// Failures: commands issued while the link is not ready fail at once with
/// errc::disconnected (they are never sent late); a lost link fails every waiting command and
/// bgapi job with errc::disconnected. The state handler tells why the link went down.
///
/// ```
/// auto client = esl::inbound_client::make(io, options, {
///   .on_event = [](esl::frame&& ev) { ... },
///   .on_state = [](esl::link_state s, const caf::error& why) { ... }});
/// client->start();
/// client->api("show channels count", [](caf::expected<std::string> out) { ... });
/// ```
class inbound_client : public std::enable_shared_from_this<inbound_client> {
public:
  /// Callbacks; each may be empty.
  struct handlers {
    /// Every event, log line and unknown frame (BACKGROUND_JOBs of bgapi() excepted).
    std::function<void(frame&&)> on_event;
    /// Each state change, with the error that caused it (none for `ready`).
    std::function<void(link_state, const caf::error&)> on_state;
    /// After the events of one socket read went to `on_event`, before the next read: where an
    /// owner passes on, in one go, what `on_event` gathered (the node supervisor gets a read's
    /// events as one message).
    std::function<void()> on_read_end = {};
  };

  /// Receives an api command's output, or errc::command_failed carrying a "-ERR ..." reply.
  using api_handler = std::function<void(caf::expected<std::string>)>;
  /// Receives a bgapi job's BACKGROUND_JOB event (its `event_body()` is the result).
  using job_handler = std::function<void(caf::expected<frame>)>;

  [[nodiscard]] static std::shared_ptr<inbound_client>
  make(boost::asio::io_context& io, inbound_options options, handlers callbacks);

  ~inbound_client();
  inbound_client(const inbound_client&) = delete;
  inbound_client& operator=(const inbound_client&) = delete;

  /// Starts connecting. Thread-safe.
  void start();

  /// Closes the link and stops reconnecting; waiting commands fail. Thread-safe, idempotent.
  /// Asynchronous: handlers may still run until the state handler has reported `stopped`
  /// (once); keep what they touch alive until then, or until the io_context has stopped.
  void stop();

  /// Sends a command; `on_reply` gets the reply frame (command/reply or api/response), on the
  /// client's strand. While the link is ready the command is written on the calling thread
  /// (see `connection::send`); while it is not, it fails at once with errc::disconnected.
  /// Commands issued from one thread (send, api, bgapi) leave in the order issued.
  void send(command cmd, connection::reply_handler on_reply);

  /// Runs `api <api_command>` and hands over the body of the response.
  void api(std::string api_command, api_handler on_output);

  /// Runs `bgapi <api_command>` under a fresh Job-UUID and hands over its BACKGROUND_JOB
  /// event when it arrives (or errc::timeout after job_timeout). Returns at once.
  void bgapi(std::string api_command, job_handler on_result);

  /// Totals across all connections of this client.
  [[nodiscard]] const connection_counters& counters() const noexcept { return *counters_; }

  /// The current state (racy by nature when read from another thread; for display).
  [[nodiscard]] link_state state() const noexcept { return state_.load(); }

  /// How many times the link became ready so far: the number of the current (or last) ready
  /// link. Read it when the state handler reports `ready` to name that link.
  [[nodiscard]] std::uint64_t links_ready() const noexcept { return links_ready_.load(); }

  /// Drops the plain CHANNEL_EXECUTE_COMPLETE events of `applications` unread on ready link
  /// number `link` (see `links_ready`; `connection::skip_completions`), and not at all if that
  /// link is gone by then: every new link starts reading them all.
  /// For an owner that may skip them only after a while on each link (the node supervisor,
  /// once its recovery listings are done). Thread-safe.
  void skip_completions(std::vector<std::string> applications, std::uint64_t link);

private:
  struct pending_job {
    job_handler handler;
    std::chrono::steady_clock::time_point deadline;
  };

  inbound_client(boost::asio::io_context& io, inbound_options options, handlers callbacks);

  void connect();
  /// The link commands may be written to now: set while the state is `ready`.
  [[nodiscard]] std::shared_ptr<connection> ready_link();
  void publish_ready_link(std::shared_ptr<connection> link);
  void on_connected(boost::asio::ip::tcp::socket socket);
  void on_frame(frame&& f);
  void authenticate();
  void subscribe();
  void became_ready();
  void link_lost(const caf::error& reason);
  void schedule_reconnect();
  void set_state(link_state state, const caf::error& reason);
  void arm_housekeeping();
  void housekeeping();
  void fail_jobs(const caf::error& reason);
  /// Removes job `uuid` and returns its handler; nullopt when it is not (or no longer) pending.
  [[nodiscard]] std::optional<job_handler> take_job(const std::string& uuid);

  connection::strand_type strand_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer backoff_timer_;
  boost::asio::steady_timer housekeeping_timer_;
  inbound_options options_;
  handlers handlers_;
  std::shared_ptr<connection_counters> counters_;
  std::shared_ptr<connection> link_;
  std::shared_ptr<boost::asio::ip::tcp::socket> connecting_socket_;
  std::atomic<link_state> state_{link_state::stopped};
  std::atomic<std::uint64_t> links_ready_{0};
  caf::error pending_reason_;
  std::mutex ready_link_mutex_;
  std::shared_ptr<connection> ready_link_; // guarded by ready_link_mutex_
  std::mutex jobs_mutex_;
  std::unordered_map<std::string, pending_job> jobs_; // guarded by jobs_mutex_
  std::uint64_t frames_at_last_probe_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  int failed_attempts_ = 0;
  bool ever_connected_ = false;
  bool stopping_ = false;
  bool authenticated_ = false;
};

} // namespace callgrid::esl
