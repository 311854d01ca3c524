#define CAF_SUITE persistence.redis_client

#include "persistence/redis_client.hpp"

#include <caf/test/dsl.hpp>

#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io_thread.hpp"
#include "persistence/redis_errc.hpp"
#include "services/redis_server.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::io_thread;
using callgrid::test_support::redis_server;

namespace {

using reply = caf::expected<redis_reply>;

/// Sends one command and waits (bounded) for its answer.
reply run(redis_client& client, std::vector<std::string> args) {
  auto done = std::make_shared<std::promise<reply>>();
  auto answer = done->get_future();
  client.command(std::move(args), [done](reply r) { done->set_value(std::move(r)); });
  if (answer.wait_for(10s) != std::future_status::ready) {
    CAF_FAIL("no answer within 10 s");
  }
  return answer.get();
}

/// Polls until `condition` holds or 10 s passed; returns whether it held.
template <class Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

redis_errc code_of(const reply& r) {
  if (r)
    return redis_errc::none;
  if (r.error().category() != caf::atom("redis"))
    return redis_errc::none;
  return static_cast<redis_errc>(r.error().code());
}

struct fixture {
  redis_server server;
  io_thread loop;
  std::unique_ptr<redis_client> client;

  fixture() {
    client = make_client(5000ms);
  }

  ~fixture() {
    client.reset();
    loop.stop();
  }

  std::unique_ptr<redis_client> make_client(std::chrono::milliseconds timeout) {
    redis_client_options options;
    options.port = server.port();
    options.command_timeout = timeout;
    options.reconnect_initial = 20ms;
    options.reconnect_max = 200ms;
    auto c = std::make_unique<redis_client>(loop.io(), options);
    c->start();
    if (!eventually([&] { return c->connected(); }))
      CAF_FAIL("the client did not connect to port " << server.port());
    return c;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(redis_client_tests, fixture)

CAF_TEST(replies of every type arrive as owned values) {
  auto set = run(*client, {"SET", "greeting", std::string{"hi\0there", 8}});
  CAF_REQUIRE(set);
  CAF_CHECK(set->is_ok());
  auto get = run(*client, {"GET", "greeting"});
  CAF_REQUIRE(get);
  CAF_CHECK_EQUAL(get->type, redis_reply_type::string);
  CAF_CHECK_EQUAL(get->text, std::string("hi\0there", 8));
  auto missing = run(*client, {"GET", "nothing-here"});
  CAF_REQUIRE(missing);
  CAF_CHECK(missing->is_nil());
  auto incr = run(*client, {"INCRBY", "n", "41"});
  CAF_REQUIRE(incr);
  CAF_CHECK_EQUAL(incr->type, redis_reply_type::integer);
  CAF_CHECK_EQUAL(incr->integer, 41);
  CAF_REQUIRE(run(*client, {"RPUSH", "list", "a", "b"}));
  auto range = run(*client, {"LRANGE", "list", "0", "-1"});
  CAF_REQUIRE(range);
  auto expected_range = redis_reply::make_array(
    {redis_reply::make_string("a"), redis_reply::make_string("b")});
  CAF_CHECK_EQUAL(*range, expected_range);
  auto bad = run(*client, {"NOSUCHCOMMAND", "x"});
  CAF_REQUIRE(bad);
  CAF_CHECK(bad->is_error());
  CAF_CHECK(bad->text.find("unknown command") != std::string::npos);
  auto empty = run(*client, {});
  CAF_CHECK_EQUAL(code_of(empty), redis_errc::redis_invalid_argument);
  auto stats = client->stats();
  CAF_CHECK_EQUAL(stats.replies, 7u);
  CAF_CHECK_EQUAL(stats.error_replies, 1u);
  CAF_CHECK_EQUAL(stats.in_flight, 0u);
  CAF_CHECK(stats.connected);
}

CAF_TEST(ten thousand pipelined commands are all answered in order) {
  constexpr int count = 10'000;
  std::mutex mutex;
  std::vector<int64_t> values;
  values.reserve(count);
  auto all = std::make_shared<std::promise<void>>();
  auto done = all->get_future();
  for (int i = 0; i < count; ++i) {
    client->command({"INCR", "pipelined"}, [&, all](reply r) {
      std::lock_guard guard{mutex};
      values.push_back(r && r->type == redis_reply_type::integer ? r->integer : -1);
      if (values.size() == static_cast<std::size_t>(count))
        all->set_value();
    });
  }
  CAF_REQUIRE(done.wait_for(30s) == std::future_status::ready);
  std::lock_guard guard{mutex};
  bool in_order = true;
  for (int i = 0; i < count; ++i)
    in_order = in_order && values[static_cast<std::size_t>(i)] == i + 1;
  CAF_CHECK(in_order);
  auto stats = client->stats();
  CAF_CHECK_EQUAL(stats.sent, static_cast<uint64_t>(count));
  CAF_CHECK_EQUAL(stats.replies, static_cast<uint64_t>(count));
  CAF_CHECK_EQUAL(stats.timeouts, 0u);
}

CAF_TEST(a command larger than the socket takes at once still goes out whole) {
  // 16 MiB is more than a loopback socket buffers: the client's first write is cut short and
  // the rest must wait for the socket to drain (the path besides the immediate write).
  std::string big(16u << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto set = run(*client, {"SET", "big", big});
  CAF_REQUIRE(set);
  CAF_CHECK(set->is_ok());
  auto get = run(*client, {"GET", "big"});
  CAF_REQUIRE(get);
  CAF_CHECK(get->text == big);
  auto after = run(*client, {"PING"});
  CAF_REQUIRE(after);
  CAF_CHECK_EQUAL(after->text, "PONG");
}

CAF_TEST(a command without a reply in time fails with a timeout and its late reply is dropped) {
  auto fast = make_client(200ms);
  auto pause = run(*client, {"CLIENT", "PAUSE", "1000", "ALL"});
  CAF_REQUIRE(pause);
  CAF_CHECK(pause->is_ok());
  auto started = std::chrono::steady_clock::now();
  auto slow = run(*fast, {"GET", "anything"});
  auto waited = std::chrono::steady_clock::now() - started;
  CAF_CHECK_EQUAL(code_of(slow), redis_errc::redis_timeout);
  CAF_CHECK(waited >= 180ms);
  CAF_CHECK(waited < 900ms);
  CAF_CHECK(eventually([&] { return fast->stats().late_replies == 1; }));
  auto after = run(*fast, {"PING"});
  CAF_REQUIRE(after);
  CAF_CHECK_EQUAL(after->text, "PONG");
  auto stats = fast->stats();
  CAF_CHECK_EQUAL(stats.timeouts, 1u);
  CAF_CHECK_EQUAL(stats.in_flight, 0u);
  CAF_CHECK_EQUAL(stats.reconnects, 0u);
}

CAF_TEST(commands in flight fail when Redis dies and the client reconnects when it is back) {
  CAF_REQUIRE(run(*client, {"CLIENT", "PAUSE", "3000", "ALL"}));
  auto lost = std::make_shared<std::promise<reply>>();
  auto lost_answer = lost->get_future();
  client->command({"GET", "k"}, [lost](reply r) { lost->set_value(std::move(r)); });
  CAF_CHECK(eventually([&] { return client->stats().in_flight == 1; }));
  server.kill_hard();
  CAF_REQUIRE(lost_answer.wait_for(5s) == std::future_status::ready);
  auto in_flight = lost_answer.get();
  CAF_CHECK_EQUAL(code_of(in_flight), redis_errc::redis_unavailable);
  CAF_CHECK(eventually([&] { return !client->connected(); }));
  auto while_down = run(*client, {"PING"});
  CAF_CHECK_EQUAL(code_of(while_down), redis_errc::redis_unavailable);
  std::this_thread::sleep_for(300ms); // several refused reconnect attempts
  server.start();
  CAF_CHECK(eventually([&] { return client->connected(); }));
  auto back = run(*client, {"PING"});
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->text, "PONG");
  CAF_CHECK_EQUAL(client->stats().reconnects, 1u);
}

CAF_TEST(a client started before its server connects once the server is up) {
  server.stop();
  redis_client_options options;
  options.port = server.port();
  options.reconnect_initial = 20ms;
  options.reconnect_max = 100ms;
  redis_client early{loop.io(), options};
  early.start();
  std::this_thread::sleep_for(300ms);
  CAF_CHECK(!early.connected());
  auto refused = run(early, {"PING"});
  CAF_CHECK_EQUAL(code_of(refused), redis_errc::redis_unavailable);
  server.start();
  CAF_CHECK(eventually([&] { return early.connected(); }));
  auto pong = run(early, {"PING"});
  CAF_REQUIRE(pong);
  CAF_CHECK_EQUAL(pong->text, "PONG");
  early.stop();
  CAF_CHECK(eventually([&] { return !early.connected(); }));
  auto stopped = run(early, {"PING"});
  CAF_CHECK_EQUAL(code_of(stopped), redis_errc::redis_unavailable);
}

CAF_TEST(a frozen server is given up and the connection comes back when it thaws) {
  redis_client_options options;
  options.port = server.port();
  options.command_timeout = 100ms;
  options.dead_after = 400ms;
  options.reconnect_initial = 20ms;
  options.reconnect_max = 100ms;
  redis_client watchful{loop.io(), options};
  watchful.start();
  CAF_REQUIRE(eventually([&] { return watchful.connected(); }));
  // SIGSTOP: the kernel keeps the socket open and even accepts new connections, but nothing
  // answers, as with a hung host or a network that drops packets.
  CAF_REQUIRE_EQUAL(::kill(server.pid(), SIGSTOP), 0);
  int unavailable = 0;
  for (int i = 0; i < 20 && watchful.stats().dead_connections == 0; ++i)
    unavailable += code_of(run(watchful, {"PING"})) == redis_errc::redis_unavailable ? 1 : 0;
  CAF_CHECK(watchful.stats().dead_connections >= 1);
  CAF_REQUIRE_EQUAL(::kill(server.pid(), SIGCONT), 0);
  CAF_CHECK(eventually([&] {
    auto pong = run(watchful, {"PING"});
    return pong && pong->text == "PONG";
  }));
  CAF_CHECK(watchful.stats().timeouts >= 4);
  CAF_MESSAGE("unavailable while frozen: " << unavailable);
}

CAF_TEST_FIXTURE_SCOPE_END()
