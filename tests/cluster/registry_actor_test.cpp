#define CAF_SUITE cluster.registry_actor

#include "cluster/registry_actor.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/metrics_registry.hpp"
#include "cluster/error.hpp"
#include "cluster/membership_client.hpp"
#include "cluster_test_support.hpp"

using namespace callgrid::cluster;
using namespace callgrid::cluster::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

membership_settings fast_settings() {
  membership_settings settings;
  settings.heartbeat_interval = 100ms;
  settings.suspect_after = 400ms;
  settings.down_after = 1000ms;
  settings.command_retry = 300ms;
  return settings;
}

struct fixture {
  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.max-threads", 2);
    register_types(cfg);
    return cfg;
  }

  caf::actor_system_config cfg;
  caf::actor_system system{configured(cfg)};
  callgrid::actors::metrics_registry metrics;
  view_sink_actor sink = spawn_view_sink(system);
  registry_actor registry;
  std::string address;

  void start_registry(bool leading) {
    registry_options options;
    options.settings = fast_settings();
    options.tick_interval = 50ms;
    options.request_timeout = 1s;
    options.lead_without_lock = leading;
    options.dispatcher = caf::actor_cast<dispatcher_sink_actor>(sink);
    options.metrics = &metrics;
    registry = spawn_registry(system, options);
    auto port = publish_registry(system, registry, 0, "127.0.0.1");
    CAF_REQUIRE(port);
    address = "127.0.0.1:" + std::to_string(*port);
  }

  membership_client_actor start_client(const std::string& node,
                                       const fake_supervisor_actor& supervisor) {
    membership_client_options options;
    options.node = node;
    options.sip_uri = "sip:" + node + ".test:5060";
    options.capacity = 100;
    options.version = "test";
    options.coordinators = {address};
    options.retry_interval = 100ms;
    options.request_timeout = 1s;
    options.supervisor = caf::actor_cast<node_load_source_actor>(supervisor);
    return spawn_membership_client(system, options);
  }

  ~fixture() {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }

  std::vector<member_view> members() {
    caf::scoped_actor self{system};
    std::vector<member_view> out;
    self->request(registry, 2s, list_members{})
      .receive([&](std::vector<member_view>& xs) { out = std::move(xs); },
               [&](const caf::error& err) { CAF_FAIL("list_members: " << render_error(err)); });
    return out;
  }

  std::string state_of(const std::string& node) {
    for (const auto& m : members())
      if (m.node == node)
        return to_string(m.state);
    return "missing";
  }

  dispatcher_view sink_view() {
    caf::scoped_actor self{system};
    dispatcher_view out;
    self->request(sink, 2s, caf::get_atom::value)
      .receive([&](dispatcher_view& view, int32_t) { out = std::move(view); },
               [&](const caf::error& err) { CAF_FAIL("sink: " << render_error(err)); });
    return out;
  }

  std::string edge_state_of(const std::string& node) {
    for (const auto& entry : sink_view().entries)
      if (entry.node == node)
        return to_string(entry.state);
    return "missing";
  }

  template <class Request>
  caf::error admin(Request request) {
    caf::scoped_actor self{system};
    caf::error result;
    self->request(registry, 5s, std::move(request))
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::vector<std::string> commands_of(const fake_supervisor_actor& supervisor) {
    caf::scoped_actor self{system};
    std::vector<std::string> out;
    self->request(supervisor, 2s, caf::get_atom::value)
      .receive([&](std::vector<std::string>& xs) { out = std::move(xs); },
               [&](const caf::error& err) { CAF_FAIL("supervisor: " << render_error(err)); });
    return out;
  }

  membership_client_status status_of(const membership_client_actor& client) {
    caf::scoped_actor self{system};
    membership_client_status out;
    self->request(client, 2s, caf::get_atom::value)
      .receive([&](membership_client_status& status) { out = std::move(status); },
               [&](const caf::error& err) { CAF_FAIL("client: " << render_error(err)); });
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_actor_tests, fixture)

CAF_TEST(a healthy node joins over TCP and receives calls at once) {
  start_registry(true);
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "active"; }, 5s));
  CAF_CHECK(eventually([&] { return edge_state_of("fs-1") == "active"; }, 2s));
  CAF_CHECK(eventually([&] { return status_of(client).heartbeats >= 3; }, 3s));
  auto status = status_of(client);
  CAF_CHECK(status.joined);
  CAF_CHECK_EQUAL(status.coordinator, address);
  auto listed = members();
  CAF_REQUIRE_EQUAL(listed.size(), 1u);
  CAF_CHECK_EQUAL(listed[0].sip_uri, "sip:fs-1.test:5060");
  CAF_CHECK_EQUAL(listed[0].capacity, 100);
  auto page = metrics.render();
  CAF_CHECK(page.find("callgrid_cluster_members{state=\"active\"} 1") != std::string::npos);
  CAF_CHECK(page.find("callgrid_cluster_heartbeats_total") != std::string::npos);
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

CAF_TEST(a drain request reaches the node and the member ends drained) {
  start_registry(true);
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  CAF_REQUIRE(eventually([&] { return state_of("fs-1") == "active"; }, 5s));
  auto err = admin(request_drain{"fs-1", 0, false, "maintenance", "ops"});
  CAF_REQUIRE(!err);
  // The edge stops sending calls as soon as the request is answered.
  CAF_CHECK(eventually([&] { return edge_state_of("fs-1") == "admin_disabled"; }, 1s));
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "drained"; }, 3s));
  auto commands = commands_of(supervisor);
  CAF_REQUIRE_EQUAL(commands.size(), 1u);
  CAF_CHECK_EQUAL(commands[0], "start_drain 0 maintenance");
  err = admin(request_drain{"fs-1", 0, false, "again", "ops"});
  CAF_CHECK(err == errc::already_drained);
  CAF_REQUIRE(!admin(cancel_drain{"fs-1", "done", "ops"}));
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "active"; }, 3s));
  CAF_CHECK(eventually([&] { return edge_state_of("fs-1") == "active"; }, 1s));
  commands = commands_of(supervisor);
  CAF_REQUIRE_GREATER_OR_EQUAL(commands.size(), 2u);
  CAF_CHECK_EQUAL(commands[1], "cancel_drain");
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

CAF_TEST(admin requests that make no sense are refused with a cluster error) {
  start_registry(true);
  auto err = admin(request_drain{"fs-9", 0, false, "x", "ops"});
  CAF_CHECK(err == errc::unknown_node);
  CAF_CHECK_EQUAL(render_error(err), "cluster.unknown_node: no member named fs-9");
  err = admin(set_eligibility{"fs-9", false, "x", "ops"});
  CAF_CHECK(err == errc::unknown_node);
}

CAF_TEST(a node that stops sending heartbeats is suspect and then down) {
  start_registry(true);
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  CAF_REQUIRE(eventually([&] { return state_of("fs-1") == "active"; }, 5s));
  const auto stopped_at = steady::now();
  caf::anon_send_exit(client, caf::exit_reason::kill);
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "suspect"; }, 2s));
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "down"; }, 2s));
  auto took = steady::now() - stopped_at;
  // Bound: down_after after the last heartbeat, plus one tick.
  CAF_CHECK_LESS(took, fast_settings().down_after + 300ms);
  CAF_CHECK(eventually([&] { return edge_state_of("fs-1") == "admin_disabled"; }, 1s));
  CAF_REQUIRE(!admin(force_leave{"fs-1", false, "dead", "ops"}));
  CAF_CHECK(members().empty());
  auto page = metrics.render();
  CAF_CHECK(page.find("callgrid_cluster_failure_detector_transitions_total{to=\"down\"} 1")
            != std::string::npos);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

CAF_TEST(a coordinator that does not lead refuses nodes until it leads) {
  start_registry(false);
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  std::this_thread::sleep_for(400ms);
  CAF_CHECK(!status_of(client).joined);
  {
    caf::scoped_actor self{system};
    self->request(registry, 2s, list_members{})
      .receive([](const std::vector<member_view>&) { CAF_FAIL("a standby listed members"); },
               [](const caf::error& err) { CAF_CHECK(err == errc::not_leader); });
  }
  admin_state stored;
  stored.node = "fs-1";
  stored.eligible = false;
  stored.reason = "kept from before";
  caf::anon_send(registry, leadership{true, address, {stored}, leader_elector_actor{}});
  CAF_CHECK(eventually([&] { return status_of(client).joined; }, 3s));
  CAF_CHECK(eventually([&] { return state_of("fs-1") == "active"; }, 2s));
  // The restored admin state wins: eligible=false keeps it disabled at the edge.
  CAF_CHECK(eventually([&] { return edge_state_of("fs-1") == "admin_disabled"; }, 2s));
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
