#define CAF_SUITE fsemu.process

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/inbound_client.hpp"
#include "esl/outbound_server.hpp"
#include "io_thread.hpp"
#include "services/service_process.hpp"

using namespace callgrid;
using namespace std::chrono_literals;

namespace {

// The real fsemu binary, driven over TCP by callgrid's own ESL client.

const std::string fsemu_binary = std::string{CALLGRID_BINARY_DIR} + "/tools/fsemu/fsemu";

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool accepts_connections(std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket{io};
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

/// One fsemu process on a free port, stopped hard at the end of the test if still running.
struct fsemu_process {
  std::uint16_t port = test_support::pick_free_port();
  test_support::temp_dir dir{"fsemu"};
  test_support::process_spec spec;
  test_support::child_process process;

  explicit fsemu_process(const std::string& password, std::optional<std::uint16_t> on_port = {},
                         const std::vector<std::string>& extra_args = {}) {
    if (on_port)
      port = *on_port;
    spec.argv = {fsemu_binary, "--esl-port", std::to_string(port), "--esl-password", password};
    spec.argv.insert(spec.argv.end(), extra_args.begin(), extra_args.end());
    spec.output_path = dir.path() / "fsemu.log";
    process = test_support::child_process{spec};
  }

  void wait_listening() {
    test_support::wait_until_ready(
      process, spec, [this] { return accepts_connections(port); }, 10'000ms,
      "fsemu did not listen on port " + std::to_string(port), {spec.output_path});
  }

  /// Waits (bounded) for the process to end by itself and returns how it ended.
  std::string wait_exit(std::chrono::milliseconds timeout = 5'000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process.running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    return process.stop(SIGKILL, 0ms);
  }
};

using test_support::io_thread;

/// A value one thread sets and another waits for.
template <class T>
class promise_box {
public:
  void set(T value) {
    std::lock_guard<std::mutex> guard{mutex_};
    value_ = std::move(value);
    changed_.notify_all();
  }
  std::optional<T> wait(std::chrono::milliseconds timeout = 5'000ms) {
    std::unique_lock<std::mutex> lock{mutex_};
    changed_.wait_for(lock, timeout, [this] { return value_.has_value(); });
    return value_;
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<T> value_;
};

/// The state changes of a client: state and error code (esl::errc::none without error).
struct state_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<esl::link_state, esl::errc>> states;

  void add(esl::link_state state, const caf::error& why) {
    std::lock_guard<std::mutex> guard{mutex};
    // caf::error::code() on an empty error crashes in 0.17.6.
    states.emplace_back(state, why ? static_cast<esl::errc>(why.code()) : esl::errc::none);
    changed.notify_all();
  }

  bool wait_until(
    const std::function<bool(const std::vector<std::pair<esl::link_state, esl::errc>>&)>& pred,
    std::chrono::milliseconds timeout = 5'000ms) {
    std::unique_lock<std::mutex> lock{mutex};
    return changed.wait_for(lock, timeout, [&] { return pred(states); });
  }

  std::optional<esl::errc> wait_for(esl::link_state wanted,
                                    std::chrono::milliseconds timeout = 5'000ms) {
    std::unique_lock<std::mutex> lock{mutex};
    if (!changed.wait_for(lock, timeout, [&] {
          return !states.empty() && states.back().first == wanted;
        }))
      return std::nullopt;
    return states.back().second;
  }
};

std::shared_ptr<esl::inbound_client> make_client(io_thread& runner, state_log& log,
                                                 std::uint16_t port, std::string password,
                                                 std::vector<std::string> events = {}) {
  esl::inbound_options options;
  options.port = port;
  options.password = std::move(password);
  options.events = std::move(events);
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  return esl::inbound_client::make(
    runner.io(), options,
    {.on_event = [](esl::frame&&) {},
     .on_state = [&log](esl::link_state state, const caf::error& why) { log.add(state, why); }});
}

} // namespace

CAF_TEST(a client authenticates runs api status and gets the BACKGROUND_JOB of a bgapi) {
  fsemu_process fsemu{"secret"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "secret", {"CHANNEL_CREATE"});
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));

  promise_box<std::string> status;
  client->api("status", [&](caf::expected<std::string> out) {
    status.set(out ? *out : std::string{"error"});
  });
  auto body = status.wait();
  CAF_REQUIRE(body);
  CAF_CHECK(body->starts_with("UP 0 years, 0 days, 0 hours, 0 minutes, "));
  CAF_CHECK(body->find("FreeSWITCH (Version 1.10.12-release  64bit) is ready\n")
            != std::string::npos);

  promise_box<std::string> job;
  client->bgapi("version", [&](caf::expected<esl::frame> result) {
    job.set(result ? std::string{result->event_body()} : std::string{"error"});
  });
  auto job_body = job.wait();
  CAF_REQUIRE(job_body);
  CAF_CHECK_EQUAL(*job_body, "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n");

  promise_box<bool> unknown_failed;
  client->api("nosuchcommand", [&](caf::expected<std::string> out) {
    unknown_failed.set(!out);
  });
  CAF_CHECK_EQUAL(unknown_failed.wait(), std::optional<bool>{true});
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

CAF_TEST(a wrong password ends in auth_failed) {
  fsemu_process fsemu{"secret"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "ClueCon");
  client->start();
  auto code = log.wait_for(esl::link_state::stopped);
  CAF_REQUIRE(code);
  CAF_CHECK(*code == esl::errc::auth_failed);
  client->stop();
}

CAF_TEST(exit is answered with bye and the connection is closed) {
  fsemu_process fsemu{"secret"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "secret");
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  promise_box<std::string> reply;
  client->send(esl::command::exit(), [&](caf::expected<esl::frame> f) {
    reply.set(f ? std::string{f->reply_text()} : std::string{"error"});
  });
  CAF_CHECK_EQUAL(reply.wait(), std::optional<std::string>{"+OK bye"});
  // The link is lost once fsemu closes the socket.
  CAF_CHECK(log.wait_until([](const auto& states) {
    return std::any_of(states.begin(), states.end(), [](const auto& s) {
      return s.first == esl::link_state::backing_off || s.first == esl::link_state::stopped;
    });
  }));
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK(fsemu.process.running());
}

CAF_TEST(a TERM or INT signal ends fsemu cleanly) {
  {
    fsemu_process fsemu{"secret"};
    fsemu.wait_listening();
    CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
  }
  fsemu_process fsemu{"secret"};
  fsemu.wait_listening();
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGINT, 5'000ms), "exited with status 0");
}

CAF_TEST(fsctl shutdown elegant with no calls ends the process) {
  fsemu_process fsemu{"secret"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "secret");
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  promise_box<std::string> reply;
  client->api("fsctl shutdown elegant", [&](caf::expected<std::string> out) {
    reply.set(out ? *out : std::string{"error"});
  });
  CAF_CHECK_EQUAL(reply.wait(), std::optional<std::string>{"+OK\n"});
  CAF_CHECK_EQUAL(fsemu.wait_exit(), "exited with status 0");
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
}

CAF_TEST(a busy port and a missing password are reported with a non zero exit) {
  fsemu_process first{"secret"};
  first.wait_listening();
  fsemu_process second{"secret", first.port};
  CAF_CHECK_EQUAL(second.wait_exit(), "exited with status 1");
  auto log = test_support::tail_file(second.spec.output_path);
  CAF_CHECK(log.find("cannot listen on 127.0.0.1:" + std::to_string(first.port))
            != std::string::npos);

  test_support::temp_dir dir{"fsemu"};
  test_support::process_spec spec;
  spec.argv = {fsemu_binary, "--esl-port", std::to_string(first.port)};
  spec.output_path = dir.path() / "fsemu.log";
  test_support::child_process no_password{spec};
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (no_password.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CAF_CHECK_NOT_EQUAL(no_password.stop(SIGKILL, 0ms), "exited with status 0");
  CAF_CHECK(test_support::tail_file(spec.output_path).find("--esl-password is required")
            != std::string::npos);
}

CAF_TEST(an originated loopback call fires its events and uuid_kill ends it) {
  fsemu_process fsemu{"ClueCon"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  // (event name, Unique-ID) of every event, in arrival order.
  std::mutex events_mutex;
  std::condition_variable events_changed;
  std::vector<std::pair<std::string, std::string>> events;
  esl::inbound_options options;
  options.port = fsemu.port;
  options.password = "ClueCon";
  options.events = {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"};
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  auto client = esl::inbound_client::make(
    runner.io(), options,
    {.on_event =
       [&](esl::frame&& f) {
         std::lock_guard<std::mutex> guard{events_mutex};
         events.emplace_back(std::string{f.event_name()}, std::string{f.unique_id()});
         events_changed.notify_all();
       },
     .on_state = [&log](esl::link_state state, const caf::error& why) { log.add(state, why); }});
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
    });
    return reply.wait().value_or("no reply");
  };
  auto wait_events = [&](std::size_t count) {
    std::unique_lock<std::mutex> lock{events_mutex};
    events_changed.wait_for(lock, 5s, [&] { return events.size() >= count; });
    return events;
  };

  auto originated = api("originate loopback/1000/default &park()");
  CAF_REQUIRE(originated.starts_with("+OK ") && originated.size() == 41);
  auto a_leg = originated.substr(4, 36);
  auto created = wait_events(4);
  CAF_REQUIRE_EQUAL(created.size(), 4u);
  CAF_CHECK_EQUAL(created[0], std::make_pair(std::string{"CHANNEL_CREATE"}, a_leg));
  CAF_CHECK_EQUAL(created[1].first, "CHANNEL_CREATE");
  auto b_leg = created[1].second;
  CAF_CHECK_EQUAL(created[2], std::make_pair(std::string{"CHANNEL_ANSWER"}, a_leg));
  CAF_CHECK_EQUAL(created[3], std::make_pair(std::string{"CHANNEL_ANSWER"}, b_leg));
  CAF_CHECK_EQUAL(api("uuid_getvar " + a_leg + " other_loopback_leg_uuid"), b_leg);

  CAF_CHECK_EQUAL(api("uuid_kill " + a_leg), "+OK\n");
  auto all = wait_events(6);
  CAF_REQUIRE_EQUAL(all.size(), 6u);
  CAF_CHECK_EQUAL(all[4], std::make_pair(std::string{"CHANNEL_HANGUP_COMPLETE"}, a_leg));
  CAF_CHECK_EQUAL(all[5], std::make_pair(std::string{"CHANNEL_HANGUP_COMPLETE"}, b_leg));
  CAF_CHECK_EQUAL(api("uuid_exists " + a_leg), "false");
  // The channel list lags like FreeSWITCH's (0.5 s in fsemu): poll until it is empty.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string count;
  while (std::chrono::steady_clock::now() < deadline) {
    count = api("show channels count");
    if (count == "\n0 total.\n")
      break;
    std::this_thread::sleep_for(50ms);
  }
  CAF_CHECK_EQUAL(count, "\n0 total.\n");
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

CAF_TEST(play_and_get_digits over the event socket collects the digits uuid_send_dtmf sends) {
  fsemu_process fsemu{"ClueCon"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  // Application-UUID and variable_choice of every CHANNEL_EXECUTE_COMPLETE, in arrival order.
  std::mutex events_mutex;
  std::condition_variable events_changed;
  std::vector<std::pair<std::string, std::string>> completed;
  esl::inbound_options options;
  options.port = fsemu.port;
  options.password = "ClueCon";
  options.events = {"CHANNEL_EXECUTE_COMPLETE"};
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  auto client = esl::inbound_client::make(
    runner.io(), options,
    {.on_event =
       [&](esl::frame&& f) {
         std::lock_guard<std::mutex> guard{events_mutex};
         completed.emplace_back(std::string{f.field("Application-UUID").value_or("")},
                                std::string{f.field("variable_choice").value_or("")});
         events_changed.notify_all();
       },
     .on_state = [&log](esl::link_state state, const caf::error& why) { log.add(state, why); }});
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
    });
    return reply.wait().value_or("no reply");
  };
  auto send = [&](caf::expected<esl::command> cmd) {
    CAF_REQUIRE(cmd);
    promise_box<std::string> reply;
    client->send(std::move(*cmd), [&](caf::expected<esl::frame> f) {
      reply.set(f ? std::string{f->reply_text()} : std::string{"error"});
    });
    return reply.wait().value_or("no reply");
  };
  auto wait_for_app = [&](const std::string& app_uuid) {
    std::unique_lock<std::mutex> lock{events_mutex};
    std::string value = "<none>";
    events_changed.wait_for(lock, 5s, [&] {
      for (const auto& [id, choice] : completed)
        if (id == app_uuid) {
          value = choice;
          return true;
        }
      return false;
    });
    return value;
  };

  auto originated = api("originate loopback/1000/default &park()");
  CAF_REQUIRE(originated.starts_with("+OK ") && originated.size() == 41);
  auto a_leg = originated.substr(4, 36);
  auto b_leg = api("uuid_getvar " + a_leg + " other_loopback_leg_uuid");
  CAF_REQUIRE_EQUAL(b_leg.size(), 36u);
  esl::sendmsg_args collect;
  collect.uuid = b_leg;
  collect.app_name = "play_and_get_digits";
  collect.app_arg = "1 3 1 5000 # silence silence choice \\d+";
  collect.event_uuid = "pagd-over-esl";
  collect.event_lock = true;
  CAF_CHECK_EQUAL(send(esl::command::sendmsg(collect)), "+OK");
  // uuid_send_dtmf on the A leg reaches the B leg (capture 04).
  CAF_CHECK_EQUAL(api("uuid_send_dtmf " + a_leg + " 12#"), "+OK " + a_leg + " sent DTMF 12#.\n");
  CAF_CHECK_EQUAL(wait_for_app("pagd-over-esl"), "12");
  CAF_CHECK_EQUAL(api("uuid_getvar " + b_leg + " read_terminator_used"), "#");
  CAF_CHECK_EQUAL(api("uuid_kill " + a_leg), "+OK\n");
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

CAF_TEST(fsctl shutdown elegant with a call up waits for the call and then ends the process) {
  fsemu_process fsemu{"ClueCon"};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "ClueCon");
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error"});
    });
    return reply.wait().value_or("no reply");
  };
  auto originated = api("originate loopback/1000/default &park()");
  CAF_REQUIRE(originated.starts_with("+OK "));
  promise_box<std::string> job;
  client->bgapi("fsctl shutdown elegant", [&](caf::expected<esl::frame> result) {
    job.set(result ? std::string{result->event_body()} : std::string{"error"});
  });
  // Captures 17 and 19: the request waits while the call is up; new calls are still accepted.
  CAF_CHECK(!job.wait(800ms).has_value());
  CAF_CHECK(fsemu.process.running());
  CAF_CHECK_EQUAL(api("fsctl shutdown_check"), "true");
  CAF_CHECK_EQUAL(api("uuid_kill " + originated.substr(4, 36)), "+OK\n");
  CAF_CHECK_EQUAL(job.wait(), std::optional<std::string>{"+OK\n"});
  CAF_CHECK_EQUAL(fsemu.wait_exit(), "exited with status 0");
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
}

CAF_TEST(a call to the socket extension connects out to an esl outbound_server) {
  io_thread runner;
  promise_box<std::shared_ptr<esl::outbound_session>> arrived;
  esl::outbound_options server_options;
  server_options.port = 0;
  server_options.myevents = true;
  server_options.linger = true;
  auto server = esl::outbound_server::listen(
    runner.io(), server_options,
    [&](std::shared_ptr<esl::outbound_session> session) { arrived.set(std::move(session)); });
  CAF_REQUIRE(server);
  auto target = "127.0.0.1:" + std::to_string((*server)->port());
  fsemu_process fsemu{"ClueCon", std::nullopt, {"--socket-target", target}};
  fsemu.wait_listening();
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "ClueCon");
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
    });
    return reply.wait().value_or("no reply");
  };

  auto originated = api("originate loopback/8084/default &park()");
  CAF_REQUIRE(originated.starts_with("+OK ") && originated.size() == 41);
  auto a_leg = originated.substr(4, 36);
  auto session = arrived.wait();
  CAF_REQUIRE(session && *session);
  auto b_leg = std::string{(*session)->channel_uuid()};
  CAF_CHECK_EQUAL(api("uuid_getvar " + a_leg + " other_loopback_leg_uuid"), b_leg);
  const auto& data = (*session)->channel_data();
  CAF_CHECK_EQUAL(data.field("Channel-Name").value_or(""), "loopback/8084-b");
  CAF_CHECK_EQUAL(data.field("variable_loopback_leg").value_or(""), "B");
  CAF_CHECK_EQUAL(data.field("Answer-State").value_or(""), "ringing");
  CAF_CHECK_EQUAL(data.field("variable_current_application").value_or(""), "socket");
  CAF_CHECK_EQUAL(data.field("variable_current_application_data").value_or(""),
                  target + " async full");
  CAF_CHECK_EQUAL(data.field("Socket-Mode").value_or(""), "async");

  // Every frame the session receives: (event name or content type, Application, disposition).
  std::mutex frames_mutex;
  std::condition_variable frames_changed;
  std::vector<std::string> frames;
  (*session)->start(
    [&](esl::frame&& f) {
      std::string what;
      if (f.type() == esl::content_type::disconnect_notice)
        what = "notice " + std::string{f.header("Content-Disposition").value_or("")};
      else
        what = std::string{f.event_name()} + " " + std::string{f.field("Application").value_or("")}
               + " " + std::string{f.unique_id() == b_leg ? "b" : "other"};
      std::lock_guard<std::mutex> guard{frames_mutex};
      frames.push_back(std::move(what));
      frames_changed.notify_all();
    },
    [](const caf::error&) {});
  auto wait_frame = [&](const std::string& wanted) {
    std::unique_lock<std::mutex> lock{frames_mutex};
    frames_changed.wait_for(lock, 5s, [&] {
      return std::find(frames.begin(), frames.end(), wanted) != frames.end();
    });
    return frames;
  };
  auto send = [&](caf::expected<esl::command> cmd) {
    CAF_REQUIRE(cmd);
    promise_box<std::string> reply;
    (*session)->send(std::move(*cmd), [&](caf::expected<esl::frame> f) {
      reply.set(f ? std::string{f->reply_text()} : std::string{"error"});
    });
    return reply.wait().value_or("no reply");
  };
  // myevents does not include PLAYBACK_*; subscribe to them as well.
  CAF_CHECK_EQUAL(send(esl::command::event(esl::event_format::plain,
                                           "PLAYBACK_START PLAYBACK_STOP")),
                  "+OK event listener enabled plain");
  esl::sendmsg_args answer;
  answer.app_name = "answer";
  answer.event_lock = true;
  CAF_CHECK_EQUAL(send(esl::command::sendmsg(answer)), "+OK");
  esl::sendmsg_args playback;
  playback.app_name = "playback";
  playback.app_arg = "tone_stream://%(100,0,440);loops=2";
  playback.event_lock = true;
  CAF_CHECK_EQUAL(send(esl::command::sendmsg(playback)), "+OK");
  auto seen = wait_frame("CHANNEL_EXECUTE_COMPLETE playback b");
  std::vector<std::string> expected{"CHANNEL_EXECUTE answer b",
                                    "CHANNEL_ANSWER  b",
                                    "CHANNEL_EXECUTE_COMPLETE answer b",
                                    "CHANNEL_EXECUTE playback b",
                                    "PLAYBACK_START playback b",
                                    "PLAYBACK_STOP playback b",
                                    "CHANNEL_EXECUTE_COMPLETE playback b"};
  // PLAYBACK_* carry no Application header.
  expected[4] = "PLAYBACK_START  b";
  expected[5] = "PLAYBACK_STOP  b";
  CAF_CHECK_EQUAL(seen, expected);
  CAF_CHECK_EQUAL(api("uuid_exists " + b_leg), "true");

  esl::sendmsg_args hangup;
  hangup.app_name = "hangup";
  CAF_CHECK_EQUAL(send(esl::command::sendmsg(hangup)), "+OK");
  seen = wait_frame("notice linger");
  CAF_REQUIRE(seen.size() >= 2);
  CAF_CHECK_EQUAL(seen.back(), "notice linger");
  CAF_CHECK_EQUAL(seen[seen.size() - 2], "CHANNEL_HANGUP_COMPLETE  b");
  CAF_CHECK_EQUAL(api("uuid_exists " + b_leg), "false");
  CAF_CHECK_EQUAL(api("uuid_exists " + a_leg), "false");
  (*session)->close();
  (*server)->stop();
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

CAF_TEST(a call to the socket extension with nothing listening fails as capture 14) {
  auto free_port = test_support::pick_free_port();
  fsemu_process fsemu{"ClueCon", std::nullopt,
                      {"--socket-target", "127.0.0.1:" + std::to_string(free_port)}};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  auto client = make_client(runner, log, fsemu.port, "ClueCon");
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  promise_box<std::string> reply;
  client->api("originate loopback/8084/default &park()", [&](caf::expected<std::string> out) {
    reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
  });
  auto text = reply.wait();
  CAF_REQUIRE(text);
  // inbound_client reports -ERR api output as an error.
  CAF_CHECK(text->find("NORMAL_CLEARING") != std::string::npos);
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

CAF_TEST(scripted callers from a config file are served by an inbound ESL controller) {
  // fsemu places the calls of the config's [[callers]]; a controller built from
  // esl::inbound_client answers each parked call, plays a prompt, waits for two digits and
  // hangs up, as callgridd would. fsemu prints the summary, writes it as JSON and exits 0.
  test_support::temp_dir work{"fsemu-callers"};
  auto config_path = work.path() / "callers.toml";
  auto summary_path = work.path() / "summary.json";
  {
    std::ofstream config{config_path};
    config << "[switch]\nheartbeat = \"0s\"\n"
              "[prompts]\n\"ivr/welcome.wav\" = \"300ms\"\n"
              "[[callers]]\nname = \"demo\"\ndestination = \"1000\"\ncaller_id = \"5551000\"\n"
              "rate = 5\nconcurrency = 2\ntotal = 3\nstart_after = \"1s\"\n"
              "script = [ { wait_prompt = 1 }, { press = \"42\", digit_interval = \"100ms\" },"
              " { expect_hangup = \"5s\" } ]\n";
  }
  fsemu_process fsemu{"ClueCon", std::nullopt,
                      {"--config", config_path.string(), "--run-callers", "--exit-after-callers",
                       "--summary-json", summary_path.string(), "--caller-time-limit", "20"}};
  fsemu.wait_listening();
  io_thread runner;
  state_log log;
  std::mutex mutex;
  std::map<std::string, std::string> digits;
  std::shared_ptr<esl::inbound_client> client;
  auto send = [&](esl::sendmsg_args args) {
    auto cmd = esl::command::sendmsg(args);
    CAF_REQUIRE(cmd);
    client->send(std::move(*cmd), [](caf::expected<esl::frame>) {});
  };
  esl::inbound_options options;
  options.port = fsemu.port;
  options.password = "ClueCon";
  options.events = {"CHANNEL_PARK", "DTMF"};
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  client = esl::inbound_client::make(
    runner.io(), options,
    {.on_event =
       [&](esl::frame&& f) {
         std::string uuid{f.unique_id()};
         if (f.event_name() == "CHANNEL_PARK") {
           esl::sendmsg_args answer;
           answer.uuid = uuid;
           answer.app_name = "answer";
           send(answer);
           esl::sendmsg_args playback;
           playback.uuid = uuid;
           playback.app_name = "playback";
           playback.app_arg = "ivr/welcome.wav";
           send(playback);
         } else if (f.event_name() == "DTMF") {
           std::lock_guard<std::mutex> guard{mutex};
           digits[uuid] += std::string{f.field("DTMF-Digit").value_or("?")};
           if (digits[uuid].size() == 2) {
             esl::sendmsg_args hangup;
             hangup.uuid = uuid;
             hangup.command = esl::call_command::hangup;
             hangup.hangup_cause = "NORMAL_CLEARING";
             send(hangup);
           }
         }
       },
     .on_state = [&log](esl::link_state state, const caf::error& why) { log.add(state, why); }});
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  CAF_CHECK_EQUAL(fsemu.wait_exit(20'000ms), "exited with status 0");
  client->stop();
  {
    std::lock_guard<std::mutex> guard{mutex};
    CAF_CHECK_EQUAL(digits.size(), 3u);
    for (const auto& [uuid, pressed] : digits)
      CAF_CHECK_EQUAL(pressed, "42");
  }
  std::ifstream in{summary_path};
  std::string json{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  CAF_CHECK(json.find("\"name\":\"demo\",\"placed\":3,\"refused\":0,\"answered\":3,"
                      "\"completed\":3,\"failed\":0")
            != std::string::npos);
  CAF_CHECK(json.find("\"outcomes\":{\"NORMAL_CLEARING by switch\":3}") != std::string::npos);
  auto output = test_support::tail_file(fsemu.spec.output_path);
  CAF_CHECK(output.find("scenario demo: placed 3, refused 0, answered 3, completed 3, failed 0")
            != std::string::npos);
}

CAF_TEST(a bad config file is reported with its location and exit code 2) {
  test_support::temp_dir work{"fsemu-config"};
  auto config_path = work.path() / "bad.toml";
  {
    std::ofstream config{config_path};
    config << "[switch]\nmax_sesions = 10\n";
  }
  fsemu_process fsemu{"ClueCon", std::nullopt, {"--config", config_path.string()}};
  CAF_CHECK_EQUAL(fsemu.wait_exit(), "exited with status 2");
  auto output = test_support::tail_file(fsemu.spec.output_path);
  CAF_CHECK(output.find(config_path.string() + ":2:1: key 'switch.max_sesions': unknown key")
            != std::string::npos);
}

CAF_TEST(a client that stops reading loses events and is disconnected while others go on) {
  fsemu_process fsemu{"ClueCon", std::nullopt, {"--event-queue-limit", "10"}};
  fsemu.wait_listening();
  // The silent client: subscribes to everything, then reads nothing for a while.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket silent{io};
  silent.open(boost::asio::ip::tcp::v4());
  silent.set_option(boost::asio::socket_base::receive_buffer_size(4096));
  silent.connect({boost::asio::ip::make_address("127.0.0.1"), fsemu.port});
  // Reads below give up after 5 s instead of blocking for ever if fsemu never closes.
  timeval read_timeout{5, 0};
  ::setsockopt(silent.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &read_timeout,
               sizeof read_timeout);
  std::string hello = "auth ClueCon\n\nevent plain ALL\n\n";
  boost::asio::write(silent, boost::asio::buffer(hello));
  std::this_thread::sleep_for(200ms);

  io_thread runner;
  state_log log;
  esl::inbound_options options;
  options.port = fsemu.port;
  options.password = "ClueCon";
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  auto client = esl::inbound_client::make(
    runner.io(), options,
    {.on_event = [](esl::frame&&) {},
     .on_state = [&log](esl::link_state state, const caf::error& why) { log.add(state, why); }});
  client->start();
  CAF_REQUIRE(log.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
    });
    return reply.wait().value_or("no reply");
  };
  for (int i = 0; i < 150; ++i) {
    auto originated = api("originate loopback/1000/default &park()");
    CAF_REQUIRE(originated.starts_with("+OK "));
    CAF_REQUIRE_EQUAL(api("uuid_kill " + originated.substr(4, 36)), "+OK\n");
  }
  // The busy client was served throughout.
  CAF_CHECK(api("status").starts_with("UP "));
  // The silent one was closed: reading drains what was queued, then ends.
  boost::system::error_code ec;
  std::array<char, 65536> buffer{};
  std::size_t total = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!ec && std::chrono::steady_clock::now() < deadline)
    total += silent.read_some(boost::asio::buffer(buffer), ec);
  CAF_CHECK_EQUAL(ec, boost::asio::error::eof);
  CAF_CHECK(total > 0);
  client->stop();
  CAF_CHECK(log.wait_for(esl::link_state::stopped));
  CAF_CHECK_EQUAL(fsemu.process.stop(SIGTERM, 5'000ms), "exited with status 0");
}

// -- SIP with sipp as the caller (tests/data/sipp/) ---------------------------------------------

namespace {

const std::string sipp_dir = std::string{CALLGRID_TEST_DATA_DIR} + "/sipp/";

/// Runs sipp once with `scenario` against fsemu's SIP port, dialling `service`; returns whether
/// its one call met the scenario (sipp exits 0), with its output in `log`.
bool run_sipp(const std::string& scenario, std::uint16_t sip_port, const std::string& service,
              std::string& log) {
  test_support::temp_dir dir{"sipp"};
  test_support::process_spec spec;
  spec.argv = {"/usr/bin/sipp", "127.0.0.1:" + std::to_string(sip_port), "-sf",
               sipp_dir + scenario, "-s", service, "-i", "127.0.0.1", "-p",
               std::to_string(test_support::pick_free_port()), "-m", "1", "-l", "1",
               "-timeout", "15s", "-timeout_error", "-nostdin", "-nd", "-trace_err",
               "-error_file", (dir.path() / "errors.log").string()};
  spec.working_dir = dir.path();
  spec.output_path = dir.path() / "sipp.out";
  test_support::child_process sipp{spec};
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (sipp.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto how = sipp.stop(SIGKILL, 0ms);
  log = how + "\n" + test_support::tail_file(dir.path() / "errors.log", 40) + "\n"
        + test_support::tail_file(dir.path() / "sipp.out", 20);
  return sipp.exited_successfully();
}

/// Checks that sipp's call with `scenario` succeeds, printing sipp's errors when not.
void expect_sipp(const std::string& scenario, std::uint16_t sip_port, const std::string& service) {
  std::string log;
  auto ok = run_sipp(scenario, sip_port, service, log);
  if (!ok)
    CAF_MESSAGE("sipp " << scenario << ": " << log);
  CAF_CHECK(ok);
}

/// An fsemu with SIP on a free port and an api function over an inbound client.
struct sip_fixture {
  std::uint16_t sip_port = test_support::pick_free_port();
  fsemu_process fsemu{"ClueCon", std::nullopt, {"--sip-port", std::to_string(sip_port)}};
};

} // namespace

CAF_TEST(a sipp caller is answered and its BYE ends the call) {
  sip_fixture f;
  f.fsemu.wait_listening();
  expect_sipp("invite_bye.xml", f.sip_port, "1000");
}

CAF_TEST(the switch hangs up a sipp call with a BYE the caller answers) {
  sip_fixture f;
  f.fsemu.wait_listening();
  expect_sipp("invite_switch_bye.xml", f.sip_port, "9197");
}

CAF_TEST(sipp gets 503 for INVITE and OPTIONS while inbound calls are paused and 200 after) {
  sip_fixture f;
  f.fsemu.wait_listening();
  expect_sipp("options.xml", f.sip_port, "probe");
  io_thread runner;
  state_log states;
  esl::inbound_options options;
  options.port = f.fsemu.port;
  options.password = "ClueCon";
  options.max_attempts = 1;
  options.connect_timeout = 3s;
  options.idle_probe_after = 0ms;
  auto client = esl::inbound_client::make(
    runner.io(), options,
    {.on_event = [](esl::frame&&) {},
     .on_state = [&states](esl::link_state state, const caf::error& why) {
       states.add(state, why);
     }});
  client->start();
  CAF_REQUIRE(states.wait_for(esl::link_state::ready));
  auto api = [&](const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error: "} + caf::to_string(out.error()));
    });
    return reply.wait().value_or("no reply");
  };
  CAF_CHECK_EQUAL(api("fsctl pause inbound"), "+OK\n");
  expect_sipp("invite_refused.xml", f.sip_port, "1000");
  expect_sipp("options_paused.xml", f.sip_port, "probe");
  CAF_CHECK_EQUAL(api("fsctl resume inbound"), "+OK\n");
  expect_sipp("invite_bye.xml", f.sip_port, "1000");
  // The call listing lags the channels (500 ms), as FreeSWITCH's does.
  std::string count;
  for (int i = 0; i < 40 && count != "\n0 total.\n"; ++i) {
    std::this_thread::sleep_for(100ms);
    count = api("show calls count");
  }
  CAF_CHECK_EQUAL(count, "\n0 total.\n");
}

CAF_TEST(api fsctl shutdown elegant with a call up blocks its connection until the call ends) {
  fsemu_process fsemu{"ClueCon"};
  fsemu.wait_listening();
  io_thread runner;
  state_log blocked_log;
  state_log other_log;
  auto blocked = make_client(runner, blocked_log, fsemu.port, "ClueCon");
  auto other = make_client(runner, other_log, fsemu.port, "ClueCon");
  blocked->start();
  other->start();
  CAF_REQUIRE(blocked_log.wait_for(esl::link_state::ready));
  CAF_REQUIRE(other_log.wait_for(esl::link_state::ready));
  auto api = [&](const std::shared_ptr<esl::inbound_client>& client, const std::string& line) {
    promise_box<std::string> reply;
    client->api(line, [&](caf::expected<std::string> out) {
      reply.set(out ? *out : std::string{"error"});
    });
    return reply.wait().value_or("no reply");
  };
  auto originated = api(other, "originate loopback/1000/default &park()");
  CAF_REQUIRE(originated.starts_with("+OK "));
  promise_box<std::string> shutdown_reply;
  blocked->api("fsctl shutdown elegant", [&](caf::expected<std::string> out) {
    shutdown_reply.set(out ? *out : std::string{"error"});
  });
  // Capture 16a: no reply while the call is up; the other connection is served.
  CAF_CHECK(!shutdown_reply.wait(1'200ms).has_value());
  CAF_CHECK_EQUAL(api(other, "fsctl shutdown_check"), "true");
  CAF_CHECK_EQUAL(api(other, "uuid_kill " + originated.substr(4, 36)), "+OK\n");
  CAF_CHECK_EQUAL(shutdown_reply.wait(), std::optional<std::string>{"+OK\n"});
  CAF_CHECK_EQUAL(fsemu.wait_exit(), "exited with status 0");
  blocked->stop();
  other->stop();
}
