#define CAF_SUITE actors.call_actor

// The call actor as the node supervisor pools it: after its call it reports `call_finished`
// instead of exiting, hosts the next call it is given, writes exactly one record per call,
// and lets nothing of an earlier call (a late event, a timer) reach the next one.

#include "actors/call_actor.hpp"

#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/test/unit_test.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/channel_link.hpp"
#include "actors/metrics_registry.hpp"
#include "esl/frame.hpp"
#include "json_event.hpp"

using namespace callgrid;
using namespace callgrid::actors;
using namespace std::chrono_literals;

namespace {

constexpr const char* first_uuid = "5f1c0a52-0000-4000-8000-0000000000b1";
constexpr const char* second_uuid = "5f1c0a52-0000-4000-8000-0000000000b2";

/// Notes every command a call sends, as "<uuid> <command>".
class recording_link final : public channel_link {
public:
  recording_link(std::string uuid, std::shared_ptr<std::vector<std::string>> log,
                 std::shared_ptr<std::mutex> mutex)
    : uuid_(std::move(uuid)), log_(std::move(log)), mutex_(std::move(mutex)) {
  }

  void execute(const std::string& app, const std::string& arg, const std::string&) override {
    note("execute " + app + " " + arg);
  }
  void hangup(const std::string& cause) override {
    note("hangup " + cause);
  }
  void api(const std::string& command) override {
    note("api " + command);
  }
  void release() override {
  }

private:
  void note(std::string what) {
    std::lock_guard guard{*mutex_};
    log_->push_back(uuid_ + " " + what);
  }

  std::string uuid_;
  std::shared_ptr<std::vector<std::string>> log_;
  std::shared_ptr<std::mutex> mutex_;
};

/// A call routed to a hangup: it rejects at once and ends with its CHANNEL_HANGUP_COMPLETE.
call_setup rejected_call(const char* uuid) {
  call_setup setup;
  setup.uuid = uuid;
  setup.caller = "5551234";
  setup.callee = "1000";
  setup.node = "node-a";
  setup.created_us = 1'795'666'019'839'996;
  route r;
  r.id = 4;
  r.name = "reject";
  r.action = route_action::hangup;
  r.hangup_cause = "CALL_REJECTED";
  setup.matched_route = std::make_shared<const actors::route>(r);
  return setup;
}

esl_event hangup_complete(const char* uuid, const char* cause) {
  auto frame = test_support::json_event(
    uuid, "CHANNEL_HANGUP_COMPLETE",
    {{"Hangup-Cause", cause},
     {"Caller-Channel-Created-Time", "1795666019839996"},
     {"Caller-Channel-Hangup-Time", "1795666020059998"}});
  return esl_event{std::make_shared<const esl::frame>(std::move(frame))};
}

struct fixture {
  caf::actor_system_config config;
  caf::actor_system system{config};
  caf::scoped_actor test{system};
  std::shared_ptr<std::vector<std::string>> commands
    = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> commands_mutex = std::make_shared<std::mutex>();
  /// Stands in for the record writer: passes every record on to `test`.
  record_writer_actor records = system.spawn(
    [sink = caf::actor{test}]() -> record_writer_actor::behavior_type {
      return {
        [sink](record_message& msg) { caf::anon_send(sink, std::move(msg)); },
        [](caf::flush_atom) -> uint64_t { return 0; },
        [](caf::tick_atom) {},
        [](append_group_due) {},
      };
    });

  std::shared_ptr<channel_link> link(const char* uuid) {
    return std::make_shared<recording_link>(uuid, commands, commands_mutex);
  }

  call_context pooled_context(const char* uuid) {
    call_context context{link(uuid), records, nullptr, {}, {}};
    context.on_finished = [sink = caf::actor{test}](call_finished done) {
      caf::anon_send(sink, std::move(done));
    };
    return context;
  }

  persistence::call_record expect_record() {
    persistence::call_record out;
    test->receive([&](record_message& msg) { out = std::move(msg.record); },
                  caf::after(5s) >> [] { CAF_FAIL("no record within 5 s"); });
    return out;
  }

  call_finished expect_finished() {
    call_finished out;
    test->receive([&](call_finished& done) { out = std::move(done); },
                  caf::after(5s) >> [] { CAF_FAIL("no call_finished within 5 s"); });
    return out;
  }

  void expect_nothing_for(std::chrono::milliseconds wait) {
    test->receive(
      [](record_message& msg) {
        CAF_FAIL("unexpected record of call " << msg.record.call_uuid);
      },
      [](call_finished& done) { CAF_FAIL("unexpected call_finished of " << done.uuid); },
      caf::after(wait) >> [] {});
  }

  std::vector<std::string> commands_sent() {
    std::lock_guard guard{*commands_mutex};
    return *commands;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(call_actor_tests, fixture)

CAF_TEST(a pooled call actor hosts a second call after the first with one record each) {
  auto actor = spawn_call_actor(system, rejected_call(first_uuid), pooled_context(first_uuid));
  test->send(actor, hangup_complete(first_uuid, "CALL_REJECTED"));
  auto first = expect_record();
  CAF_CHECK_EQUAL(first.call_uuid, first_uuid);
  CAF_CHECK_EQUAL(first.hangup_cause, "CALL_REJECTED");
  auto finished = expect_finished();
  CAF_CHECK_EQUAL(finished.uuid, first_uuid);
  CAF_CHECK(finished.handle == actor);

  // Late messages of the first call: an event, an end request, a timer of its serial. The
  // idle actor ignores them; none makes a second record.
  test->send(actor, hangup_complete(first_uuid, "NORMAL_CLEARING"));
  test->send(actor, end_call{persistence::end_reason::node_drain, "SYSTEM_SHUTDOWN", true});
  test->send(actor, call_timer{1, 1});
  expect_nothing_for(200ms);

  test->send(actor, host_call{rejected_call(second_uuid), link(second_uuid)});
  // The first call's event, queued behind the second call's start, does not end the second.
  test->send(actor, hangup_complete(first_uuid, "NORMAL_CLEARING"));
  expect_nothing_for(200ms);
  test->send(actor, hangup_complete(second_uuid, "ORIGINATOR_CANCEL"));
  auto second = expect_record();
  CAF_CHECK_EQUAL(second.call_uuid, second_uuid);
  CAF_CHECK_EQUAL(second.hangup_cause, "ORIGINATOR_CANCEL");
  CAF_CHECK_EQUAL(expect_finished().uuid, second_uuid);

  // Each call rejected its own channel once; the idle actor sent nothing for the end request.
  CAF_CHECK_EQUAL(commands_sent(), (std::vector<std::string>{
                                     std::string{first_uuid} + " hangup CALL_REJECTED",
                                     std::string{second_uuid} + " hangup CALL_REJECTED"}));
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(records, caf::exit_reason::user_shutdown);
}

CAF_TEST(a pooled call actor counts each call under its own disposition) {
  metrics_registry metrics;
  auto context = pooled_context(first_uuid);
  context.metrics = &metrics;
  auto actor = spawn_call_actor(system, rejected_call(first_uuid), std::move(context));
  test->send(actor, hangup_complete(first_uuid, "CALL_REJECTED"));
  expect_record();
  expect_finished();
  // A call without a route ends as no_route; then a rejected one again.
  auto unrouted = rejected_call(second_uuid);
  unrouted.matched_route.reset();
  test->send(actor, host_call{std::move(unrouted), link(second_uuid)});
  test->send(actor, hangup_complete(second_uuid, "NO_ROUTE_DESTINATION"));
  CAF_CHECK_EQUAL(expect_record().disposition, "no_route");
  expect_finished();
  constexpr const char* third_uuid = "5f1c0a52-0000-4000-8000-0000000000b3";
  test->send(actor, host_call{rejected_call(third_uuid), link(third_uuid)});
  test->send(actor, hangup_complete(third_uuid, "CALL_REJECTED"));
  CAF_CHECK_EQUAL(expect_record().disposition, "rejected");
  expect_finished();
  auto page = metrics.render();
  CAF_CHECK(page.find("callgrid_calls_total{disposition=\"rejected\"} 2\n") != std::string::npos);
  CAF_CHECK(page.find("callgrid_calls_total{disposition=\"no_route\"} 1\n") != std::string::npos);
  CAF_CHECK(page.find("callgrid_live_calls 0\n") != std::string::npos);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(records, caf::exit_reason::user_shutdown);
}

CAF_TEST(a call actor without on_finished exits after its call) {
  call_context context{link(first_uuid), records, nullptr, {}, {}};
  auto actor = spawn_call_actor(system, rejected_call(first_uuid), std::move(context));
  test->monitor(actor);
  test->send(actor, hangup_complete(first_uuid, "CALL_REJECTED"));
  CAF_CHECK_EQUAL(expect_record().call_uuid, first_uuid);
  bool down = false;
  test->receive([&](caf::down_msg& msg) { down = msg.source == actor.address(); },
                caf::after(5s) >> [] {});
  CAF_CHECK(down);
  caf::anon_send_exit(records, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
