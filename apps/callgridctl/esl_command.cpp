#include "esl_command.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <CLI/CLI.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/inbound_client.hpp"

namespace callgrid::ctl {

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr const char* password_variable = "CALLGRID_ESL_PASSWORD";

constexpr const char* esl_footer = R"(Examples:
  callgridctl esl -p secret -x status
  export CALLGRID_ESL_PASSWORD=secret
  callgridctl esl -H 10.0.0.5 -x 'show channels count' -x 'bgapi originate loopback/1000 &park()'
  callgridctl esl --events 'CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE' -o json --count 10

Output: api prints the response body as is; bgapi prints the Reply-Text, then the job's result;
other commands print their Reply-Text. Errors go to stderr. Events print as a line
'EVENT_NAME uuid=...' followed by the decoded fields, or with -o json as one object per line.
The password is never defaulted: pass -p or set CALLGRID_ESL_PASSWORD.

Exit codes:
  0    every command succeeded (with --events: --count events were printed)
  1    could not connect, password rejected, timed out, or the connection was lost
  2    usage error (bad option, no password, nothing to do)
  3    FreeSWITCH answered a command with -ERR or -USAGE (the remaining commands still ran)
  130  interrupted by Ctrl-C (SIGINT); 143 for SIGTERM)";

// ---------------------------------------------------------------------------------------------
// Command line

/// The values of `callgridctl esl`'s options, as CLI11 stores them.
struct esl_settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8021;
  std::string password;
  std::vector<std::string> commands;
  std::string events;
  std::string format = "plain";
  std::string output = "human";
  std::vector<std::string> filters;
  std::size_t count = 0;
  double timeout_seconds = 10;
  double job_timeout_seconds = 60;
};

/// How the answer to a request is printed.
enum class request_kind : std::uint8_t {
  /// `api`: the api/response body.
  api,
  /// `bgapi`: the Reply-Text, then the body of the BACKGROUND_JOB event.
  bgapi,
  /// Any other ESL command: the Reply-Text.
  reply,
};

/// One `-x` line, encoded and ready to send.
struct esl_request {
  request_kind kind;
  esl::command command;
  /// The line as the operator wrote it (trimmed), for messages.
  std::string text;
  /// bgapi: the Job-UUID we chose, which the BACKGROUND_JOB event carries back.
  std::string job_uuid;
};

/// How events are printed.
enum class event_style : std::uint8_t { human, json };

/// Everything a session needs, checked and encoded: built from `esl_settings` by `make_plan`.
struct esl_plan {
  esl::inbound_options options;
  /// `-x` mode: the commands, in order (empty in `--events` mode).
  std::vector<esl_request> requests;
  /// `--events` mode.
  bool stream_events = false;
  /// Whether BACKGROUND_JOB events are printed: only when asked for (the client adds that
  /// subscription on its own).
  bool print_background_jobs = false;
  event_style style = event_style::human;
  /// Events to print before stopping; 0 = until interrupted.
  std::size_t count = 0;
  milliseconds job_timeout{60'000};
  /// For messages: "host:port" and the timeouts as the operator wrote them.
  std::string where;
  std::string timeout_text;
  std::string job_timeout_text;
};

std::string_view trim(std::string_view text) {
  auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos)
    return {};
  auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

/// Splits off the first word: {"api", "status"} from "api status".
std::pair<std::string_view, std::string_view> split_word(std::string_view text) {
  text = trim(text);
  auto space = text.find_first_of(" \t");
  if (space == std::string_view::npos)
    return {text, {}};
  return {text.substr(0, space), trim(text.substr(space))};
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  while (!(text = trim(text)).empty()) {
    auto [word, rest] = split_word(text);
    words.emplace_back(word);
    text = rest;
  }
  return words;
}

std::optional<esl::event_format> parse_event_format(std::string_view word) {
  if (word == "plain")
    return esl::event_format::plain;
  if (word == "json")
    return esl::event_format::json;
  if (word == "xml")
    return esl::event_format::xml;
  return std::nullopt;
}

/// The text an error carries: its context string, or CAF's rendering when it has none.
std::string error_detail(const caf::error& err) {
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0))
    return context.get_as<std::string>(0);
  return esl::render_error(err);
}

caf::error usage_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

std::string fresh_job_uuid() {
  static boost::uuids::random_generator generate;
  return boost::uuids::to_string(generate());
}

/// `event [plain|json|xml] NAMES`: FreeSWITCH takes plain when no format is given.
caf::expected<esl::command> encode_event(std::string_view args) {
  auto [first, rest] = split_word(args);
  if (auto format = parse_event_format(first))
    return esl::command::event(*format, rest);
  return esl::command::event(esl::event_format::plain, args);
}

/// `filter HEADER VALUE` or `filter delete HEADER [VALUE]`.
caf::expected<esl::command> encode_filter(std::string_view args) {
  auto [header, value] = split_word(args);
  if (header == "delete") {
    auto [deleted_header, deleted_value] = split_word(value);
    return esl::command::filter_delete(deleted_header, deleted_value);
  }
  return esl::command::filter(header, value);
}

/// Parses one `-x` line as fs_cli would: a known ESL command word (api, bgapi, event,
/// nixevent, noevents, filter) is sent as that command; anything else is an API command
/// (`status` means `api status`). Fails with the encoder's reason for unencodable text.
caf::expected<esl_request> parse_request(std::string_view line) {
  auto text = trim(line);
  if (text.empty())
    return usage_error("-x needs a command, e.g. -x 'api status'");
  auto [verb, args] = split_word(text);
  auto make = [&](request_kind kind, caf::expected<esl::command> encoded,
                  std::string job_uuid = {}) -> caf::expected<esl_request> {
    if (!encoded)
      return usage_error("cannot send -x '" + std::string{text}
                         + "': " + error_detail(encoded.error()));
    return esl_request{kind, std::move(*encoded), std::string{text}, std::move(job_uuid)};
  };
  if (verb == "api")
    return make(request_kind::api, esl::command::api(args));
  if (verb == "bgapi") {
    auto job_uuid = fresh_job_uuid();
    return make(request_kind::bgapi, esl::command::bgapi(args, job_uuid), job_uuid);
  }
  if (verb == "event")
    return make(request_kind::reply, encode_event(args));
  if (verb == "nixevent")
    return make(request_kind::reply, esl::command::nixevent(args));
  if (verb == "noevents")
    return make(request_kind::reply, esl::command::noevents());
  if (verb == "filter")
    return make(request_kind::reply, encode_filter(args));
  return make(request_kind::api, esl::command::api(text));
}

milliseconds to_duration(double seconds) {
  return milliseconds{std::max<std::int64_t>(1, std::llround(seconds * 1000.0))};
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds << " s";
  return out.str();
}

/// Checks the settings and turns them into a plan: every usage error is found here, before
/// anything connects.
caf::expected<esl_plan> make_plan(const esl_settings& settings) {
  esl_plan plan;
  if (settings.password.empty())
    return usage_error(std::string{"no ESL password: pass -p or set "} + password_variable);
  if (auto auth = esl::command::auth(settings.password); !auth)
    return usage_error(error_detail(auth.error()));
  if (settings.commands.empty() && settings.events.empty())
    return usage_error("nothing to do: pass -x COMMAND or --events NAMES "
                       "(see callgridctl esl --help)");
  auto& options = plan.options;
  options.host = settings.host;
  options.port = settings.port;
  options.password = settings.password;
  // A command-line tool reports a failure instead of retrying, and needs no liveness probe.
  options.max_attempts = 1;
  options.idle_probe_after = milliseconds{0};
  // Only what the commands need: BACKGROUND_JOB for a bgapi (below), or the --events set.
  options.subscribe_background_jobs = false;
  options.connect_timeout = to_duration(settings.timeout_seconds);
  options.connection.reply_timeout = to_duration(settings.timeout_seconds);
  plan.where = settings.host + ":" + std::to_string(settings.port);
  plan.timeout_text = seconds_text(settings.timeout_seconds);
  plan.job_timeout = to_duration(settings.job_timeout_seconds);
  plan.job_timeout_text = seconds_text(settings.job_timeout_seconds);
  for (const auto& line : settings.commands) {
    auto request = parse_request(line);
    if (!request)
      return std::move(request.error());
    if (request->kind == request_kind::bgapi)
      options.events = {"BACKGROUND_JOB"};
    plan.requests.push_back(std::move(*request));
  }
  if (settings.events.empty())
    return plan;
  plan.stream_events = true;
  options.subscribe_background_jobs = true;
  options.events = split_words(settings.events);
  options.format = *parse_event_format(settings.format);
  for (const auto& name : options.events)
    plan.print_background_jobs = plan.print_background_jobs || name == "BACKGROUND_JOB"
                                 || name == "ALL" || name == "all";
  if (auto check = esl::command::event(options.format, settings.events); !check)
    return usage_error("--events '" + settings.events + "': " + error_detail(check.error()));
  for (const auto& filter : settings.filters) {
    auto [header, value] = split_word(filter);
    if (header.empty() || value.empty())
      return usage_error("--filter '" + filter
                         + "': expected 'HEADER VALUE', e.g. 'Event-Name CHANNEL_CREATE'");
    if (auto check = esl::command::filter(header, value); !check)
      return usage_error("--filter '" + filter + "': " + error_detail(check.error()));
    options.filters.emplace_back(header, value);
  }
  plan.style = settings.output == "json" ? event_style::json : event_style::human;
  plan.count = settings.count;
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Output

bool is_error_answer(std::string_view text) noexcept {
  return text.starts_with("-ERR") || text.starts_with("-USAGE");
}

/// Writes `text` to `out` as is, adding a final line break when it has none (so the outputs of
/// several commands do not run together), and flushes: output may go to a pipe.
void write_text(std::ostream& out, std::string_view text) {
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!text.empty() && text.back() != '\n')
    out.put('\n');
  out.flush();
}

/// Appends `value`, indenting every line after the first by `indent`.
void append_indented(std::string& out, std::string_view value, std::string_view indent) {
  for (auto newline = value.find('\n'); newline != std::string_view::npos;
       newline = value.find('\n')) {
    out += value.substr(0, newline + 1);
    out += indent;
    value.remove_prefix(newline + 1);
  }
  out += value;
}

/// The human form: `EVENT_NAME [subclass] [uuid=...]`, then each field indented with its
/// decoded value, then the event's body (if any), then a blank line.
std::string format_event_human(const esl::frame& event) {
  std::string out{event.event_name().empty() ? std::string_view{"(unnamed event)"}
                                             : event.event_name()};
  if (auto subclass = event.field("Event-Subclass")) {
    out += ' ';
    out += *subclass;
  }
  if (!event.unique_id().empty()) {
    out += " uuid=";
    out += event.unique_id();
  }
  out += '\n';
  for (const auto& field : event.event_fields()) {
    out += "  ";
    out += field.name;
    out += ": ";
    append_indented(out, field.value, "    ");
    out += '\n';
  }
  if (auto body = event.event_body(); !body.empty()) {
    out += "  body:\n    ";
    append_indented(out, body.ends_with('\n') ? body.substr(0, body.size() - 1) : body, "    ");
    out += '\n';
  }
  out += '\n';
  return out;
}

/// The JSON form: one object with every field in order (a repeated name becomes an array of
/// its values) and the body as "_body", as FreeSWITCH's own JSON events carry it.
std::string format_event_json(const esl::frame& event) {
  auto object = nlohmann::ordered_json::object();
  for (const auto& field : event.event_fields()) {
    std::string name{field.name};
    std::string value{field.value};
    auto found = object.find(name);
    if (found == object.end()) {
      object[name] = std::move(value);
    } else {
      if (!found->is_array()) {
        auto first = *found;
        *found = nlohmann::ordered_json::array({std::move(first)});
      }
      found->push_back(std::move(value));
    }
  }
  if (!event.event_body().empty() && !object.contains("_body"))
    object["_body"] = std::string{event.event_body()};
  // Values are bytes FreeSWITCH percent-decoded: invalid UTF-8 is replaced, not fatal.
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';
}

// ---------------------------------------------------------------------------------------------
// The session

/// Runs one plan against FreeSWITCH: owns the io_context, the ESL client, the signal set and
/// the bgapi timer. Single-threaded: `run()` drives the io_context on the calling thread, so
/// every handler below runs there and none needs a lock. Every way the session can end goes
/// through `finish()`; every library error that ends it goes through `describe_failure()`.
class esl_session {
public:
  explicit esl_session(esl_plan plan)
    : plan_(std::move(plan)), signals_(io_, SIGINT, SIGTERM), job_timer_(io_) {
    client_ = esl::inbound_client::make(
      io_, plan_.options,
      {.on_event = [this](esl::frame&& frame) { on_frame(std::move(frame)); },
       .on_state = [this](esl::link_state state,
                          const caf::error& reason) { on_state(state, reason); }});
  }

  esl_session(const esl_session&) = delete;
  esl_session& operator=(const esl_session&) = delete;

  /// Connects, does the work, and returns the exit code once everything has wound down.
  int run() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (!ec)
        finish(signal == SIGINT ? exit_interrupted : exit_terminated);
    });
    client_->start();
    io_.run();
    return exit_code_;
  }

private:
  /// What the session waits for; decides what a failure message says.
  enum class phase : std::uint8_t { connecting, awaiting_reply, awaiting_job, streaming };

  void on_state(esl::link_state state, const caf::error& reason) {
    if (finished_)
      return;
    switch (state) {
      case esl::link_state::connecting:
        return;
      case esl::link_state::ready:
        if (plan_.stream_events)
          phase_ = phase::streaming;
        else
          start_next_request();
        return;
      case esl::link_state::backing_off:
      case esl::link_state::stopped:
        fail(reason);
        return;
    }
  }

  void on_frame(esl::frame&& frame) {
    if (finished_)
      return;
    if (frame.content_type_text() == "text/rude-rejection") {
      rejection_ = std::string{trim(frame.body().substr(0, frame.body().find('\n')))};
      return;
    }
    if (!plan_.stream_events) {
      if (frame.event_name() == "BACKGROUND_JOB")
        on_background_job(frame);
      return;
    }
    // Events that slip in before the filters are in place (phase still connecting) are not
    // printed: they might not match them.
    if (phase_ != phase::streaming || !frame.has_event())
      return;
    if (frame.event_name() == "BACKGROUND_JOB" && !plan_.print_background_jobs)
      return;
    write_text(std::cout, plan_.style == event_style::json ? format_event_json(frame)
                                                             : format_event_human(frame));
    if (plan_.count != 0 && ++events_printed_ >= plan_.count)
      finish(exit_ok);
  }

  void start_next_request() {
    if (next_request_ == plan_.requests.size()) {
      finish(any_command_failed_ ? exit_command_failed : exit_ok);
      return;
    }
    current_ = next_request_++;
    phase_ = phase::awaiting_reply;
    client_->send(std::move(plan_.requests[current_].command),
                  [this](caf::expected<esl::frame> reply) { on_reply(std::move(reply)); });
  }

  void on_reply(caf::expected<esl::frame> reply) {
    if (finished_)
      return;
    if (!reply) {
      // The link went down; the state handler follows at once with the reason (a timeout,
      // say), which names the cause better than this reply's "disconnected". Fallback only.
      asio::post(io_, [this, error = std::move(reply.error())] {
        if (!finished_)
          fail(error);
      });
      return;
    }
    const auto& request = plan_.requests[current_];
    switch (request.kind) {
      case request_kind::api:
        report_answer(reply->type() == esl::content_type::api_response ? reply->body()
                                                                         : reply->reply_text());
        start_next_request();
        return;
      case request_kind::reply:
        report_answer(reply->reply_text());
        start_next_request();
        return;
      case request_kind::bgapi:
        if (is_error_answer(reply->reply_text())) {
          report_answer(reply->reply_text());
          start_next_request();
          return;
        }
        write_text(std::cout, reply->reply_text());
        await_job(request.job_uuid);
        return;
    }
  }

  /// Waits for the BACKGROUND_JOB of the current bgapi, which may already have come.
  void await_job(const std::string& job_uuid) {
    if (auto early = early_jobs_.find(job_uuid); early != early_jobs_.end()) {
      auto body = std::move(early->second);
      early_jobs_.erase(early);
      finish_job(body);
      return;
    }
    phase_ = phase::awaiting_job;
    waiting_job_ = job_uuid;
    job_timer_.expires_after(plan_.job_timeout);
    job_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || finished_ || phase_ != phase::awaiting_job)
        return;
      fail(caf::make_error(esl::errc::timeout, "bgapi job " + waiting_job_ + " had no result"));
    });
  }

  void on_background_job(const esl::frame& job) {
    if (phase_ == phase::awaiting_job && job.job_uuid() == waiting_job_) {
      job_timer_.cancel();
      waiting_job_.clear();
      finish_job(job.event_body());
      return;
    }
    early_jobs_.emplace(std::string{job.job_uuid()}, std::string{job.event_body()});
  }

  void finish_job(std::string_view result) {
    report_answer(result);
    start_next_request();
  }

  /// Prints an answer to stdout, or to stderr when FreeSWITCH reports an error.
  void report_answer(std::string_view text) {
    if (!is_error_answer(text)) {
      write_text(std::cout, text);
      return;
    }
    any_command_failed_ = true;
    std::cout.flush();
    std::cerr << "callgridctl: '" << plan_.requests[current_].text << "' failed: ";
    write_text(std::cerr, text);
  }

  /// Ends the session because of `reason`: the one place that turns library errors into
  /// messages and exit codes.
  void fail(const caf::error& reason) {
    auto [message, code] = describe_failure(reason);
    std::cout.flush();
    std::cerr << "callgridctl: " << message << '\n';
    finish(code);
  }

  std::pair<std::string, int> describe_failure(const caf::error& reason) const {
    const auto& where = plan_.where;
    if (!rejection_.empty())
      return {"FreeSWITCH at " + where + " refused this client: '" + rejection_
                + "' (check apply-inbound-acl in autoload_configs/event_socket.conf.xml)",
              exit_failure};
    if (!reason)
      return {"the connection to " + where + " ended unexpectedly " + doing(), exit_failure};
    auto detail = error_detail(reason);
    if (reason.category() != caf::atom("esl"))
      return {"error talking to FreeSWITCH at " + where + ": " + esl::render_error(reason),
              exit_failure};
    switch (static_cast<esl::errc>(reason.code())) {
      case esl::errc::connect_failed:
        return {detail + connect_hint(detail), exit_failure};
      case esl::errc::auth_failed:
        return {"FreeSWITCH at " + where + " rejected the password; check -p or "
                  + password_variable
                  + " against the \"password\" param in autoload_configs/event_socket.conf.xml "
                    "on that node",
                exit_failure};
      case esl::errc::timeout:
        return {describe_timeout(), exit_failure};
      case esl::errc::command_failed:
        return {"FreeSWITCH at " + where + " refused the event subscription: " + detail,
                exit_command_failed};
      case esl::errc::invalid_command:
        return {detail, exit_usage};
      case esl::errc::disconnected:
        return {"lost the connection to " + where + " " + doing() + ": " + detail,
                exit_failure};
      default:
        return {"FreeSWITCH at " + where + " broke the event socket protocol " + doing()
                  + ": " + esl::render_error(reason),
                exit_failure};
    }
  }

  /// What to check after a failed connect. The library's text already carries a hint for a
  /// refused connection; errc::connect_failed does not say which failure it was otherwise,
  /// so its text is all there is to go on.
  static std::string connect_hint(std::string_view detail) {
    if (detail.find("connection refused") != std::string_view::npos)
      return {};
    if (detail.starts_with("cannot resolve"))
      return " (check the host name given with -H)";
    return " (check -H and -P, and the network path to that node)";
  }

  std::string describe_timeout() const {
    const auto& where = plan_.where;
    switch (phase_) {
      case phase::connecting:
        return "timed out after " + plan_.timeout_text + " connecting to " + where
               + " and authenticating (is that the event socket's address and port, and is "
                 "FreeSWITCH responsive? --timeout raises the limit)";
      case phase::awaiting_reply:
        return "timed out after " + plan_.timeout_text + " waiting for FreeSWITCH at " + where
               + " to answer '" + plan_.requests[current_].text
               + "' (it may be busy or blocked; raise --timeout, or run slow commands with "
                 "bgapi)";
      case phase::awaiting_job:
        return "'" + plan_.requests[current_].text + "' was accepted by " + where
               + " but its result did not come within " + plan_.job_timeout_text
               + " (Job-UUID " + waiting_job_ + "; raise --job-timeout)";
      case phase::streaming:
        break;
    }
    return "FreeSWITCH at " + where + " stopped answering (after " + plan_.timeout_text + ")";
  }

  /// What the session was doing, for "lost the connection ... <doing>".
  std::string doing() const {
    switch (phase_) {
      case phase::connecting: return "while connecting and authenticating";
      case phase::awaiting_reply:
        return "while waiting for the answer to '" + plan_.requests[current_].text + "'";
      case phase::awaiting_job:
        return "while waiting for the result of '" + plan_.requests[current_].text + "'";
      case phase::streaming: return "while waiting for events";
    }
    return {};
  }

  /// Ends the session with `code`: cancels what keeps the io_context busy and stops the
  /// client, so `run()` returns once the last handler has run. Idempotent.
  void finish(int code) {
    if (finished_)
      return;
    finished_ = true;
    exit_code_ = code;
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    job_timer_.cancel();
    client_->stop();
  }

  esl_plan plan_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer job_timer_;
  std::shared_ptr<esl::inbound_client> client_;
  phase phase_ = phase::connecting;
  std::size_t next_request_ = 0;
  std::size_t current_ = 0;
  std::string waiting_job_;
  /// BACKGROUND_JOB results that arrived before their bgapi's reply, by Job-UUID.
  std::map<std::string, std::string> early_jobs_;
  /// The body of a text/rude-rejection (FreeSWITCH's ACL said no), reported as the cause.
  std::string rejection_;
  std::size_t events_printed_ = 0;
  bool any_command_failed_ = false;
  bool finished_ = false;
  int exit_code_ = exit_ok;
};

int run_esl(const esl_settings& settings) {
  auto plan = make_plan(settings);
  if (!plan) {
    std::cerr << "callgridctl: " << error_detail(plan.error()) << '\n';
    return exit_usage;
  }
  esl_session session{std::move(*plan)};
  return session.run();
}

/// `validator` without its description: the option's type name already says what is allowed,
/// and CLI11 would append the description to it ("PORT:INT in [1 - 65535]").
CLI::Validator quietly(CLI::Validator validator) {
  validator.description("");
  return validator;
}

/// Accepts numbers above zero (CLI11's PositiveNumber would print DBL_MAX in its message).
CLI::Validator above_zero() {
  return CLI::Validator{[](std::string& text) -> std::string {
                          char* end = nullptr;
                          double value = std::strtod(text.c_str(), &end);
                          if (end == text.c_str() || *end != '\0' || !(value > 0))
                            return "must be a number above 0, not '" + text + "'";
                          return {};
                        },
                        "", "above_zero"};
}

} // namespace

command_runner install_esl_command(CLI::App& command) {
  auto settings = std::make_shared<esl_settings>();
  command.footer(esl_footer);
  command.add_option("-H,--host", settings->host,
                     "Address of FreeSWITCH's event socket (listen-ip of mod_event_socket)")
    ->type_name("HOST")
    ->capture_default_str();
  command.add_option("-P,--port", settings->port,
                     "Port of the event socket (listen-port in event_socket.conf.xml)")
    ->type_name("PORT (1-65535)")
    ->check(quietly(CLI::Range(1, 65535)))
    ->capture_default_str();
  command.add_option("-p,--password", settings->password,
                     "Event socket password; never defaulted. Prefer the environment variable: "
                     "a password on the command line shows in ps")
    ->type_name("PASSWORD")
    ->envname(password_variable);
  auto* execute =
    command
      .add_option("-x,--execute", settings->commands,
                  "ESL command to run, as typed in fs_cli: 'api status', 'bgapi originate ...', "
                  "'event plain ALL', 'filter HEADER VALUE', or a bare API command ('status' "
                  "means 'api status'). Repeat to run several, in order")
      ->type_name("COMMAND")
      ->allow_extra_args(false);
  command
    .add_option("--timeout", settings->timeout_seconds,
                "Seconds allowed for connect plus auth, and for each command's reply")
    ->type_name("SECONDS")
    ->check(above_zero())
    ->capture_default_str();
  command
    .add_option("--job-timeout", settings->job_timeout_seconds,
                "Seconds to wait for the result of a bgapi command after FreeSWITCH accepted it")
    ->type_name("SECONDS")
    ->check(above_zero())
    ->capture_default_str();
  auto* events = command
                   .add_option("--events", settings->events,
                               "Subscribe to these events (space-separated names, e.g. "
                               "'CHANNEL_CREATE DTMF', or ALL) and print each as it arrives")
                   ->type_name("NAMES")
                   ->excludes(execute)
                   ->group("Events");
  command.add_option("--format", settings->format, "Encoding FreeSWITCH sends events in")
    ->type_name("plain|json")
    ->check(quietly(CLI::IsMember({"plain", "json"})))
    ->capture_default_str()
    ->needs(events)
    ->group("Events");
  command
    .add_option("-o,--output", settings->output,
                "How to print events: human (name line, then indented fields) or json (one "
                "object per line)")
    ->type_name("human|json")
    ->check(quietly(CLI::IsMember({"human", "json"})))
    ->capture_default_str()
    ->needs(events)
    ->group("Events");
  command
    .add_option("--filter", settings->filters,
                "Only pass events whose HEADER has VALUE (ESL 'filter'); repeat for more")
    ->type_name("'HEADER VALUE'")
    ->allow_extra_args(false)
    ->needs(events)
    ->group("Events");
  command
    .add_option("--count", settings->count,
                "Stop after printing N events (default: until Ctrl-C)")
    ->type_name("N")
    ->check(above_zero())
    ->needs(events)
    ->group("Events");
  return [settings] { return run_esl(*settings); };
}

} // namespace callgrid::ctl
