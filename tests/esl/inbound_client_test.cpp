#define CAF_SUITE esl.inbound_client

#include <algorithm>
#include <caf/test/unit_test.hpp>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "capture_transcript.hpp"
#include "esl/errc.hpp"
#include "esl/inbound_client.hpp"
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

/// What a test keeps of a frame (frames themselves are move-only).
struct seen_frame {
  content_type type;
  std::string event_name;
  std::string body;
  std::string reply_text;
};

seen_frame keep(const frame& f) {
  return {f.type(), std::string{f.event_name()}, std::string{f.body()},
          std::string{f.reply_text()}};
}

struct seen_state {
  link_state state;
  errc code;
  std::string text;
};

const std::string auth_request = "Content-Type: auth/request\n\n";
const std::string accepted = "Content-Type: command/reply\nReply-Text: +OK accepted\n\n";
const std::string ok_reply = "Content-Type: command/reply\nReply-Text: +OK\n\n";

std::string api_response(const std::string& body) {
  return "Content-Type: api/response\nContent-Length: " + std::to_string(body.size()) + "\n\n"
         + body;
}

/// A client with quick timings for tests, recording events and state changes.
struct fixture {
  io_thread runner;
  ~fixture() { runner.stop(); }
  collected<seen_frame> events;
  collected<seen_state> states;
  /// Every callback in order: an event's name, "read end", or "state".
  collected<std::string> callbacks;

  std::shared_ptr<inbound_client> make_client(std::uint16_t port, inbound_options options = {}) {
    options.port = port;
    if (options.password.empty())
      options.password = "ClueCon";
    options.backoff_initial = 50ms;
    options.backoff_max = 200ms;
    options.connect_timeout = 2s;
    return inbound_client::make(runner.io(), options,
                                {.on_event =
                                   [this](frame&& f) {
                                     callbacks.add(std::string{f.event_name()});
                                     events.add(keep(f));
                                   },
                                 .on_state =
                                   [this](link_state state, const caf::error& why) {
                                     callbacks.add("state");
                                     // caf::error::code() on an empty error crashes in 0.17.6.
                                     states.add({state, why ? static_cast<errc>(why.code()) : errc::none,
                                                 why ? render_error(why) : std::string{}});
                                   },
                                 .on_read_end = [this] { callbacks.add("read end"); }});
  }

  bool wait_state(link_state wanted, std::chrono::milliseconds timeout = 5s) {
    return states.wait_for(
      [wanted](const auto& all) { return !all.empty() && all.back().state == wanted; },
      timeout);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(inbound_client_tests, fixture)

CAF_TEST(a replay of a whole call matches every reply to its command) {
  auto recorded = test_support::load_capture("04_call_plain_events");
  auto peer = scripted_peer::listen({test_support::steps_from_capture(recorded)});
  inbound_options options;
  options.max_attempts = 1;
  options.subscribe_background_jobs = false; // the recorded client subscribed by itself
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  // Everything the recorded client sent after auth, re-encoded and queued at once.
  collected<seen_frame> replies;
  std::size_t commands = 0;
  for (const auto& entry : recorded.entries) {
    if (entry.from_freeswitch || entry.bytes.starts_with("auth "))
      continue;
    ++commands;
    client->send(command_from_wire(entry.bytes), [&replies](caf::expected<frame> reply) {
      if (reply)
        replies.add(keep(*reply));
    });
  }
  CAF_REQUIRE(replies.wait_size(commands));
  // The recorded replies, in order, are the command/reply and api/response frames after auth.
  std::vector<std::string> recorded_replies;
  std::size_t recorded_events = 0;
  bool authenticated = false;
  for (const auto& bytes : recorded.received_frames()) {
    if (bytes.find("Reply-Text: +OK accepted") != std::string::npos) {
      authenticated = true;
      continue;
    }
    if (!authenticated)
      continue;
    if (bytes.starts_with("Content-Type: command/reply")
        || bytes.starts_with("Content-Type: api/response"))
      recorded_replies.push_back(bytes);
    else if (bytes.find("text/event-plain") != std::string::npos)
      ++recorded_events;
  }
  auto got = replies.snapshot();
  CAF_REQUIRE_EQUAL(got.size(), recorded_replies.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].type == content_type::api_response)
      CAF_CHECK(recorded_replies[i].ends_with("\n\n" + got[i].body));
    else
      CAF_CHECK(recorded_replies[i].find("Reply-Text: " + got[i].reply_text + "\n")
                != std::string::npos);
  }
  CAF_CHECK(events.wait_size(recorded_events)); // the goodbye notice only sets the state
  auto all_events = events.snapshot();
  CAF_CHECK_EQUAL(all_events.front().event_name, "CHANNEL_CREATE");
  CAF_CHECK(peer->finish().empty());
  CAF_CHECK(wait_state(link_state::stopped));
  CAF_CHECK_EQUAL(client->counters().events_received.load(), recorded_events);
  // Each read's events are followed by its "read end", and before the link goes down.
  auto sequence = callbacks.snapshot();
  std::size_t events_seen = 0;
  bool awaiting_read_end = false;
  for (const auto& entry : sequence) {
    if (entry == "read end") {
      awaiting_read_end = false;
    } else if (entry == "state") {
      CAF_CHECK(!awaiting_read_end);
    } else {
      ++events_seen;
      awaiting_read_end = true;
    }
  }
  CAF_CHECK_EQUAL(events_seen, recorded_events);
  CAF_CHECK(!awaiting_read_end);
  CAF_CHECK(std::count(sequence.begin(), sequence.end(), "read end") >= 1);
  // Nothing queued behind a slow socket: every command left in its own write on the thread
  // that sent it (connection::send), none through the strand.
  CAF_CHECK(client->counters().commands_sent.load() >= commands);
  CAF_CHECK_EQUAL(client->counters().write_batches.load(),
                  client->counters().commands_sent.load());
}

CAF_TEST(commands sent from several threads at once arrive whole and in order per thread) {
  constexpr int threads = 4;
  constexpr int per_thread = 150;
  // The peer answers every `api echo X` with X, so each reply names the command it belongs to.
  std::vector<peer_step> steps{peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
                               peer_step::send(accepted)};
  auto echo = [](const std::string& wire) {
    auto text = wire.substr(0, wire.find('\n'));
    if (text.size() > 1024 * 1024) // the big command: its length is enough
      return api_response("length " + std::to_string(text.size()));
    return api_response(text.starts_with("api echo ") ? text.substr(9) : "-ERR " + text);
  };
  for (int i = 0; i < threads * per_thread; ++i)
    steps.push_back(peer_step::reply_to(echo));
  // The peer stops reading for a while, so the big command fills the socket buffers.
  steps.push_back(peer_step::pause(300ms));
  steps.push_back(peer_step::reply_to(echo));
  steps.push_back(peer_step::await_close());
  auto peer = scripted_peer::listen({steps});
  inbound_options options;
  options.subscribe_background_jobs = false;
  options.connection.max_queued_bytes = 64 * 1024 * 1024;
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  collected<std::pair<int, std::string>> replies;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        client->send(*command::api("echo " + std::to_string(t) + "-" + std::to_string(i)),
                     [&replies, t](caf::expected<frame> reply) {
                       replies.add({t, reply ? std::string{reply->body()} : "failed"});
                     });
    });
  for (auto& sender : senders)
    sender.join();
  // One command bigger than the socket buffers while the peer is not reading: written partly
  // on this thread, the rest from the strand when the peer reads on.
  std::string big(12 * 1024 * 1024, 'b');
  client->send(*command::api("echo " + big), [&replies](caf::expected<frame> reply) {
    replies.add({-1, reply ? std::string{reply->body()} : "failed"});
  });
  CAF_REQUIRE(replies.wait_size(threads * per_thread + 1, 20s));
  std::vector<int> next(threads, 0);
  bool big_came_back = false;
  for (const auto& [t, body] : replies.snapshot()) {
    if (t < 0) {
      big_came_back = body == "length " + std::to_string(("api echo " + big).size());
      continue;
    }
    // Every reply is the echo of its own command, and each thread's commands left in order.
    CAF_CHECK_EQUAL(body, std::to_string(t) + "-" + std::to_string(next[t]));
    ++next[t];
  }
  CAF_CHECK(big_came_back);
  CAF_CHECK_EQUAL(client->counters().commands_rejected.load(), 0u);
  client->stop();
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(commands sent inside a write batch leave together in one write when it ends) {
  std::vector<peer_step> steps{peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
                               peer_step::send(accepted)};
  auto echo = [](const std::string& wire) {
    auto text = wire.substr(0, wire.find('\n'));
    return api_response(text.starts_with("api echo ") ? text.substr(9) : "-ERR " + text);
  };
  for (int i = 0; i < 4; ++i)
    steps.push_back(peer_step::reply_to(echo));
  steps.push_back(peer_step::await_close());
  auto peer = scripted_peer::listen({steps});
  inbound_options options;
  options.subscribe_background_jobs = false;
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  const auto batches_before = client->counters().write_batches.load();
  const auto commands_before = client->counters().commands_sent.load();
  collected<std::string> replies;
  auto keep_reply = [&replies](caf::expected<frame> reply) {
    replies.add(reply ? std::string{reply->body()} : "failed");
  };
  {
    write_batch batch;
    CAF_CHECK(write_batch::open());
    {
      write_batch nested; // defers to the outer batch
      client->send(*command::api("echo one"), keep_reply);
    }
    client->send(*command::api("echo two"), keep_reply);
    client->send(*command::api("echo three"), keep_reply);
    // Another thread's command queues behind the held ones instead of overtaking them.
    std::thread other{[&] { client->send(*command::api("echo four"), keep_reply); }};
    other.join();
    // Held back: nothing has reached the peer, so nothing was answered.
    CAF_CHECK(!replies.wait_size(1, 200ms));
  }
  CAF_CHECK(!write_batch::open());
  CAF_REQUIRE(replies.wait_size(4));
  CAF_CHECK_EQUAL(replies.snapshot(), (std::vector<std::string>{"one", "two", "three", "four"}));
  CAF_CHECK_EQUAL(client->counters().write_batches.load() - batches_before, 1u);
  CAF_CHECK_EQUAL(client->counters().commands_sent.load() - commands_before, 4u);
  client->stop();
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(a wrong password is reported as such and not retried forever) {
  auto recorded = test_support::load_capture("01b_auth_handshake_bad_password");
  auto steps = test_support::steps_from_capture(recorded);
  steps[1] = peer_step::expect("auth WrongPassword\n\n");
  auto peer = scripted_peer::listen({steps});
  inbound_options options;
  options.password = "WrongPassword";
  options.max_attempts = 1;
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::stopped));
  auto last = states.snapshot().back();
  CAF_CHECK(last.code == errc::auth_failed);
  CAF_CHECK(last.text.find("rejected the password") != std::string::npos);
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(a refused connection says so) {
  std::uint16_t port = 0;
  {
    auto peer = scripted_peer::listen({});
    port = peer->port();
  }
  inbound_options options;
  options.max_attempts = 1;
  auto client = make_client(port, options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::stopped));
  auto last = states.snapshot().back();
  CAF_CHECK(last.code == errc::connect_failed);
  CAF_CHECK(last.text.find("connection refused") != std::string::npos);
}

CAF_TEST(after a lost link the client reconnects and subscribes again) {
  auto handshake = [](std::vector<peer_step> tail) {
    std::vector<peer_step> steps{peer_step::send(auth_request),
                                 peer_step::expect("auth ClueCon\n\n"),
                                 peer_step::send(accepted),
                                 peer_step::expect("event plain CHANNEL_PARK BACKGROUND_JOB\n\n"),
                                 peer_step::send(ok_reply),
                                 peer_step::expect("filter Event-Name CHANNEL_PARK\n\n"),
                                 peer_step::send(ok_reply)};
    steps.insert(steps.end(), tail.begin(), tail.end());
    return steps;
  };
  auto peer = scripted_peer::listen(
    {handshake({peer_step::close()}),
     handshake({peer_step::expect("api status\n\n"), peer_step::send(api_response("UP\n")),
                peer_step::await_close()})});
  inbound_options options;
  options.events = {"CHANNEL_PARK"};
  options.filters = {{"Event-Name", "CHANNEL_PARK"}};
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  CAF_REQUIRE(states.wait_for([](const auto& all) {
    std::size_t ready = 0;
    for (const auto& s : all)
      ready += s.state == link_state::ready ? 1 : 0;
    return ready == 2;
  }));
  collected<std::string> outputs;
  client->api("status", [&](caf::expected<std::string> out) {
    outputs.add(out ? *out : render_error(out.error()));
  });
  CAF_REQUIRE(outputs.wait_size(1));
  CAF_CHECK_EQUAL(outputs.first(), "UP\n");
  CAF_CHECK_EQUAL(client->counters().reconnects.load(), 1u);
  auto history = states.snapshot();
  bool backed_off = false;
  for (const auto& s : history)
    backed_off = backed_off || s.state == link_state::backing_off;
  CAF_CHECK(backed_off);
  client->stop();
  CAF_CHECK(wait_state(link_state::stopped));
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(completions are skipped on the link named and not on a later one) {
  auto completion = [](const std::string& uuid, const std::string& application) {
    std::string body = "Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: " + uuid
                       + "\nApplication: " + application + "\nApplication-UUID: x-" + uuid
                       + "\n\n";
    return "Content-Length: " + std::to_string(body.size())
           + "\nContent-Type: text/event-plain\n\n" + body;
  };
  auto handshake = [](std::vector<peer_step> tail) {
    std::vector<peer_step> steps{
      peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
      peer_step::send(accepted),
      peer_step::expect("event plain CHANNEL_EXECUTE_COMPLETE BACKGROUND_JOB\n\n"),
      peer_step::send(ok_reply)};
    steps.insert(steps.end(), tail.begin(), tail.end());
    return steps;
  };
  auto peer = scripted_peer::listen(
    {handshake({peer_step::send(completion("a", "answer")), peer_step::expect("api status\n\n"),
                peer_step::send(completion("b", "answer") + completion("c", "playback")
                                + api_response("UP\n")),
                peer_step::close()}),
     handshake({peer_step::expect("api status\n\n"),
                peer_step::send(completion("d", "answer") + api_response("UP\n")),
                peer_step::await_close()})});
  inbound_options options;
  options.events = {"CHANNEL_EXECUTE_COMPLETE"};
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  CAF_REQUIRE(events.wait_size(1)); // read: nothing skipped yet
  auto first_link = client->links_ready();
  CAF_CHECK_EQUAL(first_link, 1u);
  client->skip_completions({"answer"}, first_link);
  collected<std::string> outputs;
  auto status = [&] {
    client->api("status", [&](caf::expected<std::string> out) {
      outputs.add(out ? *out : render_error(out.error()));
    });
  };
  status();
  CAF_REQUIRE(outputs.wait_size(1));
  CAF_REQUIRE(events.wait_size(2));
  CAF_REQUIRE(states.wait_for([&](const auto&) { return client->links_ready() == 2; }));
  CAF_REQUIRE(wait_state(link_state::ready));
  // A new link reads every completion, whatever was asked of the one before.
  client->skip_completions({"answer"}, first_link);
  status();
  CAF_REQUIRE(outputs.wait_size(2));
  CAF_REQUIRE(events.wait_size(3));
  std::vector<std::string> uuids;
  for (const auto& e : events.snapshot()) {
    auto at = e.body.find("Unique-ID: ");
    uuids.push_back(at == std::string::npos ? e.body : e.body.substr(at + 11, 1));
  }
  CAF_CHECK_EQUAL(uuids, (std::vector<std::string>{"a", "c", "d"}));
  CAF_CHECK_EQUAL(client->counters().events_skipped.load(), 1u);
  client->stop();
  CAF_CHECK(wait_state(link_state::stopped));
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(bgapi results are matched by Job-UUID even out of order) {
  std::string first_job;
  std::string second_job;
  auto job_reply = [](std::string& remember) {
    return [&remember](const std::string& wire) {
      auto at = wire.find("Job-UUID: ");
      remember = wire.substr(at + 10, 36);
      return "Content-Type: command/reply\nReply-Text: +OK Job-UUID: " + remember
             + "\nJob-UUID: " + remember + "\n\n";
    };
  };
  auto background_job = [](const std::string& uuid, const std::string& result) {
    std::string body = "Event-Name: BACKGROUND_JOB\nJob-UUID: " + uuid
                       + "\nJob-Command: status\nContent-Length: "
                       + std::to_string(result.size()) + "\n\n" + result;
    return "Content-Length: " + std::to_string(body.size())
           + "\nContent-Type: text/event-plain\n\n" + body;
  };
  std::vector<peer_step> steps{peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
                               peer_step::send(accepted),
                               peer_step::expect("event plain BACKGROUND_JOB\n\n"),
                               peer_step::send(ok_reply),
                               peer_step::reply_to(job_reply(first_job)),
                               peer_step::reply_to(job_reply(second_job)),
                               peer_step::reply_to([&](const std::string&) {
                                 // Second job finishes first.
                                 return background_job(second_job, "+OK two\n")
                                        + background_job(first_job, "+OK one\n")
                                        + api_response("done");
                               }),
                               peer_step::await_close()};
  auto peer = scripted_peer::listen({steps});
  auto client = make_client(peer->port());
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  collected<std::string> results;
  client->bgapi("status one", [&](caf::expected<frame> job) {
    results.add("one=" + (job ? std::string{job->event_body()} : render_error(job.error())));
  });
  client->bgapi("status two", [&](caf::expected<frame> job) {
    results.add("two=" + (job ? std::string{job->event_body()} : render_error(job.error())));
  });
  collected<std::string> outputs;
  client->api("trigger", [&](caf::expected<std::string> out) { outputs.add(out ? *out : "error"); });
  CAF_REQUIRE(results.wait_size(2));
  auto got = results.snapshot();
  CAF_CHECK_EQUAL(got[0], "two=+OK two\n");
  CAF_CHECK_EQUAL(got[1], "one=+OK one\n");
  CAF_CHECK(events.snapshot().empty()); // claimed jobs are not also delivered as events
  client->stop();
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(a silent peer is detected by the liveness probe and the link is rebuilt) {
  std::vector<peer_step> silent{peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
                                peer_step::send(accepted), peer_step::swallow(),
                                peer_step::await_close()};
  std::vector<peer_step> healthy{peer_step::send(auth_request),
                                 peer_step::expect("auth ClueCon\n\n"), peer_step::send(accepted),
                                 peer_step::await_close()};
  auto peer = scripted_peer::listen({silent, healthy});
  inbound_options options;
  options.subscribe_background_jobs = false;
  options.idle_probe_after = 1s;
  options.connection.reply_timeout = 500ms;
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(states.wait_for(
    [](const auto& all) {
      for (const auto& s : all)
        if (s.state == link_state::backing_off && s.code == errc::timeout)
          return true;
      return false;
    },
    8s));
  CAF_CHECK(states.wait_for([](const auto& all) { return all.back().state == link_state::ready; },
                            5s));
  CAF_CHECK_EQUAL(peer->accepted(), 2u);
  client->stop();
  CAF_CHECK(peer->finish().empty());
}

CAF_TEST(commands while the link is down fail at once instead of being sent late) {
  auto client = make_client(1); // port 1: nothing listens there
  collected<std::string> outputs;
  client->api("status", [&](caf::expected<std::string> out) {
    outputs.add(out ? *out : render_error(out.error()));
  });
  CAF_REQUIRE(outputs.wait_size(1));
  CAF_CHECK(outputs.first().find("esl.disconnected") == 0);
  CAF_CHECK_EQUAL(client->counters().commands_rejected.load(), 1u);
}

CAF_TEST(a peer that stops reading fills the bounded queue and later commands are refused) {
  std::vector<peer_step> steps{peer_step::send(auth_request), peer_step::expect("auth ClueCon\n\n"),
                               peer_step::send(accepted), peer_step::pause(3s),
                               peer_step::close()};
  auto peer = scripted_peer::listen({steps});
  inbound_options options;
  options.subscribe_background_jobs = false;
  options.connection.max_queued_bytes = 64 * 1024;
  auto client = make_client(peer->port(), options);
  client->start();
  CAF_REQUIRE(wait_state(link_state::ready));
  collected<errc> refusals;
  std::string big(4000, 'x');
  for (int i = 0; i < 4000; ++i)
    client->send(*command::api("echo " + big), [&](caf::expected<frame> reply) {
      if (!reply && static_cast<errc>(reply.error().code()) == errc::queue_full)
        refusals.add(errc::queue_full);
    });
  CAF_CHECK(refusals.wait_size(1));
  CAF_CHECK(client->counters().commands_rejected.load() > 0u);
  client->stop();
  (void) peer->finish();
}

CAF_TEST_FIXTURE_SCOPE_END()
