#define CAF_SUITE esl.outbound_server

#include <caf/test/unit_test.hpp>

#include <string>
#include <vector>

#include "capture_transcript.hpp"
#include "esl/errc.hpp"
#include "esl/outbound_server.hpp"
#include "loopback_helpers.hpp"
#include "scripted_peer.hpp"

using namespace callgrid;
using namespace callgrid::esl;
using namespace std::chrono_literals;
using esl::testing::collected;
using esl::testing::command_from_wire;
using esl::testing::io_thread;
using test_support::peer_step;
using test_support::scripted_peer;

namespace {

struct seen_frame {
  content_type type;
  std::string event_name;
  std::string disposition;
};

/// Runs an outbound server, records every session's frames, and, for each session, sends the
/// commands the recorded application sent after the handshake.
struct fixture {
  io_thread runner;
  ~fixture() { runner.stop(); }
  collected<std::string> session_uuids;
  collected<seen_frame> frames;
  collected<std::string> closes;
  collected<std::string> errors;
  std::shared_ptr<outbound_server> server;

  void serve(outbound_options options, std::vector<std::string> app_commands,
             bool close_after_linger_notice) {
    options.port = 0;
    auto listening = outbound_server::listen(
      runner.io(), options,
      [this, app_commands, close_after_linger_notice](std::shared_ptr<outbound_session> session) {
        session_uuids.add(std::string{session->channel_uuid()});
        std::weak_ptr<outbound_session> weak = session;
        session->start(
          [this, weak, close_after_linger_notice](frame&& f) {
            auto disposition = std::string{f.header("Content-Disposition").value_or("")};
            frames.add({f.type(), std::string{f.event_name()}, disposition});
            if (close_after_linger_notice && disposition == "linger")
              if (auto self = weak.lock())
                self->close();
          },
          [this, session](const caf::error& why) { closes.add(render_error(why)); });
        for (const auto& wire : app_commands)
          session->send(command_from_wire(wire));
      },
      [this](const caf::error& err) { errors.add(render_error(err)); });
    CAF_REQUIRE(listening);
    server = *listening;
  }

  /// The commands the recorded application sent after connect/myevents/linger.
  static std::vector<std::string> app_commands(const test_support::capture& recorded) {
    std::vector<std::string> out;
    for (const auto& entry : recorded.entries) {
      if (entry.from_freeswitch)
        continue;
      if (entry.bytes == "connect\n\n" || entry.bytes.starts_with("myevents")
          || entry.bytes.starts_with("linger"))
        continue;
      out.push_back(entry.bytes);
    }
    return out;
  }

  std::size_t count(content_type type) {
    std::size_t n = 0;
    for (const auto& f : frames.snapshot())
      n += f.type == type ? 1 : 0;
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(outbound_server_tests, fixture)

CAF_TEST(a lingering outbound call is handed over and receives its final events) {
  auto recorded = test_support::load_capture("11_outbound_socket_linger");
  serve(outbound_options{}, app_commands(recorded), true);
  auto steps = test_support::steps_from_capture(recorded);
  // FreeSWITCH kept the socket open after the linger notice; the application closes it.
  steps.back() = peer_step::await_close();
  auto peer = scripted_peer::connect(server->port(), steps);
  CAF_REQUIRE(session_uuids.wait_size(1));
  CAF_CHECK_EQUAL(session_uuids.first(), "cb9194d6-40ab-43b6-b4c0-fc18cb2a53b7");
  CAF_REQUIRE(closes.wait_size(1));
  CAF_CHECK(peer->finish().empty());
  auto seen = frames.snapshot();
  CAF_REQUIRE(!seen.empty());
  CAF_CHECK_EQUAL(seen.back().disposition, "linger");
  bool hangup_complete = false;
  for (const auto& f : seen)
    hangup_complete = hangup_complete || f.event_name == "CHANNEL_HANGUP_COMPLETE";
  CAF_CHECK(hangup_complete);
  CAF_CHECK(errors.snapshot().empty());
  CAF_CHECK_EQUAL(server->live_sessions(), 0u);
}

CAF_TEST(linger with a time ends with the second notice and FreeSWITCH closing) {
  auto recorded = test_support::load_capture("11b_outbound_socket_linger_3s");
  outbound_options options;
  options.linger_seconds = 3;
  serve(options, app_commands(recorded), false);
  auto peer = scripted_peer::connect(server->port(), test_support::steps_from_capture(recorded));
  CAF_REQUIRE(closes.wait_size(1));
  CAF_CHECK(peer->finish().empty());
  auto seen = frames.snapshot();
  CAF_REQUIRE(seen.size() >= 2u);
  CAF_CHECK_EQUAL(seen[seen.size() - 2].disposition, "linger");
  CAF_CHECK_EQUAL(seen.back().disposition, "disconnect");
  CAF_CHECK(closes.first().find("closed the connection") != std::string::npos);
}

CAF_TEST(without linger a remote hangup ends the socket after CHANNEL_HANGUP) {
  auto recorded = test_support::load_capture("12_outbound_socket_nolinger_remote_kill");
  outbound_options options;
  options.linger = false;
  serve(options, app_commands(recorded), false);
  auto peer = scripted_peer::connect(server->port(), test_support::steps_from_capture(recorded));
  CAF_REQUIRE(closes.wait_size(1));
  CAF_CHECK(peer->finish().empty());
  bool hangup = false;
  bool hangup_complete = false;
  for (const auto& f : frames.snapshot()) {
    hangup = hangup || f.event_name == "CHANNEL_HANGUP";
    hangup_complete = hangup_complete || f.event_name == "CHANNEL_HANGUP_COMPLETE";
  }
  CAF_CHECK(hangup);
  CAF_CHECK(!hangup_complete);
  CAF_CHECK_EQUAL(count(content_type::disconnect_notice), 1u);
}

CAF_TEST(an application that sends exit gets the goodbye and the socket closes) {
  auto recorded = test_support::load_capture("13_outbound_socket_client_exit");
  outbound_options options;
  options.linger = false;
  options.myevents_format = event_format::json;
  serve(options, app_commands(recorded), false);
  auto peer = scripted_peer::connect(server->port(), test_support::steps_from_capture(recorded));
  CAF_REQUIRE(closes.wait_size(1));
  CAF_CHECK(peer->finish().empty());
  CAF_CHECK_EQUAL(count(content_type::disconnect_notice), 1u);
}

CAF_TEST(a peer that never answers connect is dropped after the handshake timeout) {
  outbound_options options;
  options.handshake_timeout = 300ms;
  serve(options, {}, false);
  auto peer = scripted_peer::connect(server->port(), {peer_step::expect("connect\n\n"),
                                                      peer_step::await_close()});
  CAF_REQUIRE(errors.wait_size(1));
  CAF_CHECK(errors.first().find("esl.timeout") == 0);
  CAF_CHECK(session_uuids.snapshot().empty());
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(a busy port is reported by listen) {
  serve(outbound_options{}, {}, false);
  outbound_options same;
  same.port = server->port();
  auto second = outbound_server::listen(runner.io(), same, [](auto) {});
  CAF_REQUIRE(!second);
  CAF_CHECK(render_error(second.error()).find("cannot listen on 127.0.0.1:") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
