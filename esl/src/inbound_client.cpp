#include "esl/inbound_client.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/connect.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include "esl/errc.hpp"

namespace callgrid::esl {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr milliseconds housekeeping_interval{1'000};

bool is_ok(std::string_view reply) noexcept {
  return reply.starts_with("+OK");
}

std::string first_line(std::string_view text) {
  auto line = text.substr(0, text.find('\n'));
  return std::string{line};
}

} // namespace

const char* to_string(link_state state) noexcept {
  switch (state) {
    case link_state::connecting: return "connecting";
    case link_state::ready: return "ready";
    case link_state::backing_off: return "backing_off";
    case link_state::stopped: return "stopped";
  }
  return "stopped";
}

std::shared_ptr<inbound_client> inbound_client::make(asio::io_context& io,
                                                     inbound_options options,
                                                     handlers callbacks) {
  return std::shared_ptr<inbound_client>{
    new inbound_client{io, std::move(options), std::move(callbacks)}};
}

inbound_client::inbound_client(asio::io_context& io, inbound_options options,
                               handlers callbacks)
  : strand_(asio::make_strand(io.get_executor())),
    resolver_(strand_),
    connect_timer_(strand_),
    backoff_timer_(strand_),
    housekeeping_timer_(strand_),
    options_(std::move(options)),
    handlers_(std::move(callbacks)),
    counters_(std::make_shared<connection_counters>()) {
}

inbound_client::~inbound_client() = default;

void inbound_client::start() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->state_ != link_state::stopped || self->stopping_)
      return;
    self->arm_housekeeping();
    self->connect();
  });
}

void inbound_client::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopping_)
      return;
    self->stopping_ = true;
    self->publish_ready_link(nullptr);
    self->backoff_timer_.cancel();
    self->connect_timer_.cancel();
    self->housekeeping_timer_.cancel();
    self->resolver_.cancel();
    if (self->connecting_socket_) {
      boost::system::error_code ignored;
      self->connecting_socket_->close(ignored);
    }
    if (self->link_) {
      self->link_->close();
    } else if (self->state_ != link_state::stopped) {
      self->fail_jobs(caf::make_error(errc::disconnected, "the client was stopped"));
      self->set_state(link_state::stopped, {});
    }
  });
}

void inbound_client::set_state(link_state state, const caf::error& reason) {
  state_ = state;
  if (handlers_.on_state)
    handlers_.on_state(state, reason);
}

void inbound_client::connect() {
  if (stopping_)
    return;
  set_state(link_state::connecting, {});
  pending_reason_ = caf::error{};
  auto where = options_.host + ":" + std::to_string(options_.port);
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait(
    asio::bind_executor(strand_, [self = shared_from_this(), where](boost::system::error_code ec) {
      if (ec || self->state_ != link_state::connecting)
        return;
      self->pending_reason_ = caf::make_error(
        errc::timeout, "no answer from FreeSWITCH at " + where + " within "
                         + std::to_string(self->options_.connect_timeout.count())
                         + " ms (connect and auth)");
      self->resolver_.cancel();
      if (self->connecting_socket_) {
        boost::system::error_code ignored;
        self->connecting_socket_->close(ignored);
      }
      if (self->link_)
        self->link_->close();
    }));
  resolver_.async_resolve(
    options_.host, std::to_string(options_.port),
    asio::bind_executor(strand_, [self = shared_from_this(), where](
                                   boost::system::error_code ec,
                                   asio::ip::tcp::resolver::results_type endpoints) {
      if (ec) {
        self->link_lost(caf::make_error(errc::connect_failed,
                                        "cannot resolve " + where + ": " + ec.message()));
        return;
      }
      auto socket = std::make_shared<asio::ip::tcp::socket>(self->strand_);
      self->connecting_socket_ = socket;
      asio::async_connect(
        *socket, endpoints,
        asio::bind_executor(self->strand_, [self, socket, where](
                                             boost::system::error_code connect_error,
                                             const asio::ip::tcp::endpoint&) {
          self->connecting_socket_.reset();
          if (connect_error) {
            self->counters_->io_errors.fetch_add(1, std::memory_order_relaxed);
            auto reason = connect_error == asio::error::connection_refused
                            ? std::string{"connection refused (is FreeSWITCH running, and is "
                                          "mod_event_socket listening on that address?)"}
                            : connect_error.message();
            self->link_lost(caf::make_error(errc::connect_failed,
                                            "cannot connect to " + where + ": " + reason));
            return;
          }
          self->on_connected(std::move(*socket));
        }));
    }));
}

void inbound_client::on_connected(asio::ip::tcp::socket socket) {
  if (stopping_) {
    boost::system::error_code ignored;
    socket.close(ignored);
    set_state(link_state::stopped, {});
    return;
  }
  link_ = connection::make(std::move(socket), strand_, options_.connection, counters_);
  std::weak_ptr<inbound_client> weak = shared_from_this();
  auto link = link_;
  link_->start(
    [weak](frame&& f) {
      if (auto self = weak.lock())
        self->on_frame(std::move(f));
    },
    [weak, link](const caf::error& reason) {
      auto self = weak.lock();
      if (self && self->link_ == link)
        self->link_lost(reason);
    },
    [weak] {
      if (auto self = weak.lock(); self && self->handlers_.on_read_end)
        self->handlers_.on_read_end();
    });
}

void inbound_client::on_frame(frame&& f) {
  switch (f.type()) {
    case content_type::auth_request:
      authenticate();
      return;
    case content_type::disconnect_notice:
      if (!pending_reason_)
        pending_reason_ = caf::make_error(errc::disconnected,
                                          "FreeSWITCH said goodbye: " + first_line(f.body()));
      return;
    default:
      break;
  }
  if (f.event_name() == "BACKGROUND_JOB") {
    if (auto handler = take_job(std::string{f.job_uuid()})) {
      if (*handler)
        (*handler)(std::move(f));
      return;
    }
  }
  if (handlers_.on_event)
    handlers_.on_event(std::move(f));
}

void inbound_client::authenticate() {
  auto auth = command::auth(options_.password);
  if (!auth) {
    pending_reason_ = caf::make_error(errc::auth_failed, render_error(auth.error()));
    link_->close();
    return;
  }
  auto where = options_.host + ":" + std::to_string(options_.port);
  link_->send(std::move(*auth), [self = shared_from_this(), link = link_,
                                 where](caf::expected<frame> reply) {
    if (!reply || self->link_ != link)
      return;
    if (!is_ok(reply->reply_text())) {
      self->pending_reason_ = caf::make_error(
        errc::auth_failed, "FreeSWITCH at " + where + " rejected the password ('"
                             + std::string{reply->reply_text()}
                             + "'); check the password in event_socket.conf.xml");
      link->close();
      return;
    }
    self->authenticated_ = true;
    self->subscribe();
  });
}

void inbound_client::subscribe() {
  std::vector<command> commands;
  std::string names;
  bool all = false;
  bool has_job = false;
  for (const auto& name : options_.events) {
    all = all || name == "ALL" || name == "all";
    has_job = has_job || name == "BACKGROUND_JOB";
    names += names.empty() ? "" : " ";
    names += name;
  }
  if (options_.subscribe_background_jobs && !all && !has_job)
    names += names.empty() ? "BACKGROUND_JOB" : " BACKGROUND_JOB";
  if (!names.empty()) {
    auto subscription = command::event(options_.format, names);
    if (!subscription) {
      pending_reason_ = subscription.error();
      link_->close();
      return;
    }
    commands.push_back(std::move(*subscription));
  }
  for (const auto& [header, value] : options_.filters) {
    auto filter = command::filter(header, value);
    if (!filter) {
      pending_reason_ = filter.error();
      link_->close();
      return;
    }
    commands.push_back(std::move(*filter));
  }
  if (commands.empty()) {
    became_ready();
    return;
  }
  auto remaining = std::make_shared<std::size_t>(commands.size());
  for (auto& cmd : commands) {
    auto summary = std::string{cmd.summary()};
    link_->send(std::move(cmd), [self = shared_from_this(), link = link_, remaining,
                                 summary](caf::expected<frame> reply) {
      if (!reply || self->link_ != link)
        return;
      if (!is_ok(reply->reply_text())) {
        self->pending_reason_ = caf::make_error(errc::command_failed,
                                                "FreeSWITCH refused '" + summary + "': "
                                                  + std::string{reply->reply_text()});
        link->close();
        return;
      }
      if (--*remaining == 0)
        self->became_ready();
    });
  }
}

void inbound_client::became_ready() {
  connect_timer_.cancel();
  failed_attempts_ = 0;
  if (ever_connected_)
    counters_->reconnects.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  frames_at_last_probe_ = counters_->frames_received.load();
  last_activity_ = steady_clock::now();
  publish_ready_link(link_);
  links_ready_.fetch_add(1);
  set_state(link_state::ready, {});
}

void inbound_client::skip_completions(std::vector<std::string> applications, std::uint64_t link) {
  asio::post(strand_, [self = shared_from_this(), applications = std::move(applications),
                       link]() mutable {
    if (self->link_ && self->state_.load() == link_state::ready
        && self->links_ready_.load() == link)
      self->link_->skip_completions(std::move(applications));
  });
}

void inbound_client::link_lost(const caf::error& reason) {
  publish_ready_link(nullptr);
  link_.reset();
  authenticated_ = false;
  connect_timer_.cancel();
  caf::error why = pending_reason_ ? pending_reason_ : reason;
  pending_reason_ = caf::error{};
  fail_jobs(caf::make_error(errc::disconnected,
                            "the ESL link was lost before the job finished: "
                              + render_error(why)));
  if (stopping_) {
    set_state(link_state::stopped, why);
    return;
  }
  ++failed_attempts_;
  if (options_.max_attempts > 0 && failed_attempts_ >= options_.max_attempts) {
    housekeeping_timer_.cancel();
    set_state(link_state::stopped, why);
    return;
  }
  set_state(link_state::backing_off, why);
  schedule_reconnect();
}

void inbound_client::schedule_reconnect() {
  auto exponent = std::min(failed_attempts_ - 1, 20);
  auto doubled = options_.backoff_initial.count() * (std::int64_t{1} << exponent);
  std::int64_t delay = std::min<std::int64_t>(options_.backoff_max.count(), doubled);
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> jitter{delay / 2, delay};
  backoff_timer_.expires_after(milliseconds{jitter(random)});
  backoff_timer_.async_wait(
    asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->stopping_)
        self->connect();
    }));
}

void inbound_client::arm_housekeeping() {
  housekeeping_timer_.expires_after(housekeeping_interval);
  housekeeping_timer_.async_wait(
    asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopping_)
        return;
      self->housekeeping();
      self->arm_housekeeping();
    }));
}

void inbound_client::housekeeping() {
  auto now = steady_clock::now();
  std::vector<std::pair<std::string, job_handler>> expired;
  {
    std::lock_guard lock{jobs_mutex_};
    for (auto job = jobs_.begin(); job != jobs_.end();) {
      if (job->second.deadline > now) {
        ++job;
        continue;
      }
      expired.emplace_back(job->first, std::move(job->second.handler));
      job = jobs_.erase(job);
    }
  }
  for (auto& [uuid, handler] : expired)
    if (handler)
      handler(caf::make_error(errc::timeout, "bgapi job " + uuid + " got no result within "
                                               + std::to_string(options_.job_timeout.count())
                                               + " ms"));
  // Liveness: a link that has been silent for idle_probe_after gets a probe; if the probe's
  // reply does not come within the reply timeout, the connection closes itself.
  if (options_.idle_probe_after.count() <= 0 || state_ != link_state::ready || !link_)
    return;
  auto frames = counters_->frames_received.load();
  if (frames != frames_at_last_probe_) {
    frames_at_last_probe_ = frames;
    last_activity_ = now;
  } else if (now - last_activity_ >= options_.idle_probe_after) {
    last_activity_ = now;
    if (auto probe = command::api("status"))
      link_->send(std::move(*probe));
  }
}

std::optional<inbound_client::job_handler> inbound_client::take_job(const std::string& uuid) {
  std::lock_guard lock{jobs_mutex_};
  auto job = jobs_.find(uuid);
  if (job == jobs_.end())
    return std::nullopt;
  auto handler = std::move(job->second.handler);
  jobs_.erase(job);
  return handler;
}

void inbound_client::fail_jobs(const caf::error& reason) {
  std::unordered_map<std::string, pending_job> jobs;
  {
    std::lock_guard lock{jobs_mutex_};
    jobs = std::move(jobs_);
    jobs_.clear();
  }
  for (auto& [uuid, job] : jobs)
    if (job.handler)
      job.handler(reason);
}

void inbound_client::send(command cmd, connection::reply_handler on_reply) {
  if (auto link = ready_link()) {
    link->send(std::move(cmd), std::move(on_reply));
    return;
  }
  counters_->commands_rejected.fetch_add(1, std::memory_order_relaxed);
  if (!on_reply)
    return;
  auto reason = caf::make_error(errc::disconnected,
                                "not connected to FreeSWITCH at " + options_.host + ":"
                                  + std::to_string(options_.port) + " (link is "
                                  + to_string(state_.load()) + "); '"
                                  + std::string{cmd.summary()} + "' was not sent");
  asio::post(strand_, [on_reply = std::move(on_reply), reason = std::move(reason)] {
    on_reply(reason);
  });
}

std::shared_ptr<connection> inbound_client::ready_link() {
  std::lock_guard lock{ready_link_mutex_};
  return ready_link_;
}

void inbound_client::publish_ready_link(std::shared_ptr<connection> link) {
  std::lock_guard lock{ready_link_mutex_};
  ready_link_ = std::move(link);
}

void inbound_client::api(std::string api_command, api_handler on_output) {
  auto cmd = command::api(api_command);
  if (!cmd) {
    asio::post(strand_, [on_output = std::move(on_output), err = cmd.error()] {
      if (on_output)
        on_output(err);
    });
    return;
  }
  send(std::move(*cmd), [on_output = std::move(on_output),
                         api_command](caf::expected<frame> reply) {
    if (!on_output)
      return;
    if (!reply) {
      on_output(std::move(reply.error()));
      return;
    }
    if (reply->type() != content_type::api_response) {
      on_output(caf::make_error(errc::command_failed,
                                "'api " + api_command + "' was refused: "
                                  + std::string{reply->reply_text()}));
      return;
    }
    auto body = reply->body();
    if (body.starts_with("-ERR") || body.starts_with("-USAGE")) {
      while (!body.empty() && body.back() == '\n')
        body.remove_suffix(1);
      on_output(caf::make_error(errc::command_failed,
                                "'api " + api_command + "' failed: " + std::string{body}));
      return;
    }
    on_output(std::string{body});
  });
}

void inbound_client::bgapi(std::string api_command, job_handler on_result) {
  static thread_local boost::uuids::random_generator generate;
  auto job_uuid = boost::uuids::to_string(generate());
  auto cmd = command::bgapi(api_command, job_uuid);
  if (!cmd) {
    asio::post(strand_, [on_result = std::move(on_result), err = cmd.error()] {
      if (on_result)
        on_result(err);
    });
    return;
  }
  {
    // Registered before sending: the BACKGROUND_JOB may follow the reply immediately.
    std::lock_guard lock{jobs_mutex_};
    jobs_.emplace(job_uuid, pending_job{std::move(on_result),
                                        steady_clock::now() + options_.job_timeout});
  }
  send(std::move(*cmd), [self = shared_from_this(), job_uuid](caf::expected<frame> reply) {
    caf::error failure;
    if (!reply)
      failure = std::move(reply.error());
    else if (!is_ok(reply->reply_text()))
      failure = caf::make_error(errc::command_failed,
                                "bgapi refused: " + std::string{reply->reply_text()});
    if (!failure)
      return;
    if (auto handler = self->take_job(job_uuid); handler && *handler)
      (*handler)(std::move(failure));
  });
}

} // namespace callgrid::esl
