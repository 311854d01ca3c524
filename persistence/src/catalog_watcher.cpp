#include "persistence/catalog_watcher.hpp"

#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <libpq-fe.h>

#include "persistence/catalog_loader.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"

namespace callgrid::persistence {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* channel_listen_sql = "LISTEN callgrid_catalog";
constexpr const char* channel_name = "callgrid_catalog";

/// Waits until `fd` is ready for `events` or the wake fd is readable or `timeout` passed.
/// Returns the revents of `fd` (0 on timeout), or -1 when the wake fd fired.
int wait_fd(int fd, short events, int wake_fd, std::chrono::milliseconds timeout) noexcept {
  pollfd fds[2] = {{wake_fd, POLLIN, 0}, {fd, events, 0}};
  const nfds_t count = fd >= 0 ? 2 : 1;
  auto ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0,
                                                                        60'000));
  int ready = 0;
  do {
    ready = ::poll(fds, count, ms);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0)
    return 0;
  if (fds[0].revents != 0)
    return -1;
  return fds[1].revents;
}

std::chrono::milliseconds remaining(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return std::max(left, std::chrono::milliseconds{0});
}

} // namespace

// -- construction and the public API ---------------------------------------------------------------

catalog_watcher::catalog_watcher(catalog_watcher_options options, snapshot_handler on_snapshot,
                                 error_handler on_error, int wake_fd)
  : options_(std::move(options)),
    on_snapshot_(std::move(on_snapshot)),
    on_error_(std::move(on_error)),
    wake_fd_(wake_fd) {
}

caf::expected<std::unique_ptr<catalog_watcher>>
catalog_watcher::start(catalog_watcher_options options, snapshot_handler on_snapshot,
                       error_handler on_error) {
  int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0)
    return caf::make_error(errc::db_unavailable, std::string{"catalog watcher: eventfd: "}
                                                   + std::strerror(errno));
  std::unique_ptr<catalog_watcher> watcher{
    new catalog_watcher(std::move(options), std::move(on_snapshot), std::move(on_error),
                        wake_fd)};
  try {
    watcher->thread_ = std::thread{[w = watcher.get()] {
      pthread_setname_np(pthread_self(), "cg.catalog");
      w->run();
    }};
  } catch (const std::system_error& e) {
    return caf::make_error(errc::db_unavailable,
                           std::string{"catalog watcher: start the thread: "} + e.what());
  }
  if (!watcher->options_.require_initial_load)
    return watcher;
  std::unique_lock guard{watcher->mutex_};
  watcher->initial_done_.wait(guard, [&] { return watcher->initial_result_.has_value(); });
  auto result = *watcher->initial_result_;
  guard.unlock();
  if (result)
    return result; // the destructor stops the thread
  return watcher;
}

catalog_watcher::~catalog_watcher() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void catalog_watcher::stop() noexcept {
  if (!thread_.joinable())
    return;
  uint64_t one = 1;
  // The eventfd counter cannot overflow from a handful of writes; a failure would only make
  // stop wait for the current timeout.
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

std::shared_ptr<const catalog_snapshot> catalog_watcher::current() const {
  std::lock_guard guard{mutex_};
  return current_;
}

catalog_watcher_status catalog_watcher::status() const {
  std::lock_guard guard{mutex_};
  return status_;
}

// -- the watcher thread ----------------------------------------------------------------------------

void catalog_watcher::run() noexcept {
  auto backoff = options_.backoff_initial;
  bool first = true;
  while (!stop_requested()) {
    if (!conn_) {
      if (!first) {
        if (!sleep_unless_stopped(backoff))
          break;
        backoff = std::min(backoff * 2, options_.backoff_max);
      }
      auto err = connect();
      if (!err)
        err = reload();
      if (first) {
        first = false;
        std::lock_guard guard{mutex_};
        initial_result_ = err;
        initial_done_.notify_all();
        if (err && options_.require_initial_load) {
          status_.last_error = render_error(err);
          status_.last_error_at = caf::make_timestamp();
          ++status_.failures;
          break;
        }
      }
      if (err) {
        disconnect();
        report(err);
        continue;
      }
      backoff = options_.backoff_initial;
    }
    if (auto err = wait_for_change()) {
      disconnect();
      report(err);
    }
  }
  disconnect();
  // start() may still wait when the thread was stopped before its first attempt ended.
  std::lock_guard guard{mutex_};
  if (!initial_result_) {
    initial_result_ = caf::make_error(errc::db_unavailable, "catalog watcher stopped");
    initial_done_.notify_all();
  }
}

caf::error catalog_watcher::connect() {
  auto masked = schema_migrator::mask_password(options_.conninfo);
  const char* keys[] = {"application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {"callgrid-catalog", options_.conninfo.c_str(), "UTF8", nullptr};
  internal::pg_conn_ptr conn{PQconnectStartParams(keys, values, 1)};
  if (!conn)
    return caf::make_error(errc::db_unavailable,
                           "catalog: connect to '" + masked + "': libpq could not allocate");
  auto failed = [&](const std::string& why) {
    return caf::make_error(errc::db_unavailable,
                           "catalog: connect to '" + masked + "': " + why);
  };
  if (PQstatus(conn.get()) == CONNECTION_BAD)
    return failed(internal::pg_error_message(conn.get()));
  // Non-blocking connect: PQconnectPoll says what to wait for; stop() can interrupt it.
  const auto deadline = clock_type::now() + options_.connect_timeout;
  auto state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED)
      return failed(internal::pg_error_message(conn.get()));
    if (clock_type::now() >= deadline)
      return failed("timed out after " + std::to_string(options_.connect_timeout.count())
                    + " ms");
    short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    int ready = wait_fd(PQsocket(conn.get()), events, wake_fd_, remaining(deadline));
    if (ready < 0)
      return failed("stopped");
    if (ready == 0)
      continue;
    state = PQconnectPoll(conn.get());
  }
  // Messages the server sends outside a query (its shutdown notice) arrive as notices; keep the
  // last one to say why a connection was lost.
  PQsetNoticeProcessor(
    conn.get(),
    [](void* self, const char* message) {
      auto& text = static_cast<catalog_watcher*>(self)->last_server_message_;
      text = message != nullptr ? message : "";
      while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    },
    this);
  if (auto listened = internal::pg_exec(conn.get(), "catalog: LISTEN", channel_listen_sql);
      !listened)
    return std::move(listened.error());
  conn_ = std::move(conn);
  last_server_message_.clear();
  std::lock_guard guard{mutex_};
  status_.connected = true;
  if (connected_once_)
    ++status_.reconnects;
  connected_once_ = true;
  return {};
}

caf::error catalog_watcher::reload() {
  const auto began = clock_type::now();
  auto loaded = load_catalog(conn_.get());
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now()
                                                                          - began);
  if (!loaded)
    return std::move(loaded.error());
  loaded->generation = ++generation_;
  auto snapshot = std::make_shared<const catalog_snapshot>(std::move(*loaded));
  {
    std::lock_guard guard{mutex_};
    current_ = snapshot;
    ++status_.reloads;
    status_.generation = snapshot->generation;
    status_.last_load_duration = took;
    status_.last_load_at = snapshot->loaded_at;
  }
  if (on_snapshot_)
    on_snapshot_(std::move(snapshot));
  return {};
}

caf::error catalog_watcher::wait_for_change() {
  // Pending notifications: reload at the earlier of (last + debounce) and (first + max).
  std::optional<clock_type::time_point> first_at;
  clock_type::time_point last_at;
  auto idle_since = clock_type::now();
  // Notifications that arrived while the last load ran were read by libpq together with the
  // load's results and wait in its queue, not in the socket: they start this round, so nothing
  // committed after the load's snapshot is missed.
  if (take_notifications() > 0) {
    first_at = idle_since;
    last_at = idle_since;
  }
  for (;;) {
    auto timeout = options_.keepalive_interval - (clock_type::now() - idle_since);
    if (first_at)
      timeout = std::min(last_at + options_.debounce, *first_at + options_.max_debounce)
                - clock_type::now();
    auto wait = std::max(std::chrono::ceil<std::chrono::milliseconds>(timeout),
                         std::chrono::milliseconds{0});
    int ready = wait_fd(PQsocket(conn_.get()), POLLIN, wake_fd_, wait);
    if (ready < 0)
      return {}; // stop: run() sees the request
    if (ready > 0) {
      idle_since = clock_type::now();
      if (PQconsumeInput(conn_.get()) == 0 || !internal::pg_connected(conn_.get())) {
        auto why = internal::pg_error_message(conn_.get());
        if (!last_server_message_.empty())
          why += " (server said: " + last_server_message_ + ")";
        return caf::make_error(errc::db_unavailable, "catalog: connection lost: " + why);
      }
      if (take_notifications() > 0) {
        last_at = clock_type::now();
        if (!first_at)
          first_at = last_at;
      }
      continue;
    }
    if (first_at) {
      if (clock_type::now() < std::min(last_at + options_.debounce,
                                       *first_at + options_.max_debounce))
        continue;
      return reload();
    }
    if (clock_type::now() - idle_since >= options_.keepalive_interval) {
      if (auto ping = internal::pg_exec(conn_.get(), "catalog: keepalive", "SELECT 1"); !ping)
        return std::move(ping.error());
      idle_since = clock_type::now();
      // The query may have read notifications along with its answer.
      if (take_notifications() > 0) {
        first_at = idle_since;
        last_at = idle_since;
      }
    }
  }
}

uint64_t catalog_watcher::take_notifications() {
  uint64_t received = 0;
  while (PGnotify* notify = PQnotifies(conn_.get())) {
    if (std::strcmp(notify->relname, channel_name) == 0)
      ++received;
    PQfreemem(notify);
  }
  if (received > 0) {
    std::lock_guard guard{mutex_};
    status_.notifications += received;
  }
  return received;
}

void catalog_watcher::disconnect() noexcept {
  conn_.reset();
  std::lock_guard guard{mutex_};
  status_.connected = false;
}

void catalog_watcher::report(const caf::error& err) {
  {
    std::lock_guard guard{mutex_};
    ++status_.failures;
    status_.last_error = render_error(err);
    status_.last_error_at = caf::make_timestamp();
  }
  if (on_error_)
    on_error_(err);
}

bool catalog_watcher::sleep_unless_stopped(std::chrono::milliseconds duration) const noexcept {
  return wait_fd(-1, 0, wake_fd_, duration) == 0;
}

bool catalog_watcher::stop_requested() const noexcept {
  return wait_fd(-1, 0, wake_fd_, std::chrono::milliseconds{0}) < 0;
}

} // namespace callgrid::persistence
