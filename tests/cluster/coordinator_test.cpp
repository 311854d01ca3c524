#define CAF_SUITE cluster.coordinator

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/test/unit_test.hpp>

#include "cluster/admin_state_store.hpp"
#include "cluster/error.hpp"
#include "cluster/leader_lock.hpp"
#include "cluster/membership_client.hpp"
#include "cluster/registry_actor.hpp"
#include "cluster_test_support.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::cluster;
using namespace callgrid::cluster::testing;
using namespace std::chrono_literals;
using callgrid::persistence::schema_migrator;
using callgrid::test_support::postgres_server;

namespace {

using steady = std::chrono::steady_clock;

/// How often standbys retry and leaders check in these tests.
constexpr auto elector_interval = 200ms;

/// One coordinator: a registry published on a free port and its leader elector.
struct coordinator {
  registry_actor registry;
  leader_elector_actor elector;
  std::string address;
};

struct fixture {
  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.max-threads", 2);
    register_types(cfg);
    return cfg;
  }

  postgres_server pg;
  std::string conninfo;
  caf::actor_system_config cfg;
  caf::actor_system system{configured(cfg)};
  std::vector<caf::actor> to_stop;

  fixture() {
    pg.create_database("cluster");
    conninfo = pg.conninfo("cluster");
    auto migrated = schema_migrator::migrate(conninfo);
    if (!migrated)
      CAF_FAIL("migrate: " << callgrid::persistence::render_error(migrated.error()));
  }

  ~fixture() {
    for (auto& actor : to_stop)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  coordinator start_coordinator(const std::string& name) {
    coordinator c;
    registry_options options;
    options.settings.heartbeat_interval = 200ms;
    options.settings.suspect_after = 1s;
    options.settings.down_after = 3s;
    options.settings.command_retry = 500ms;
    options.tick_interval = 100ms;
    c.registry = spawn_registry(system, options);
    auto port = publish_registry(system, c.registry, 0, "127.0.0.1");
    CAF_REQUIRE(port);
    c.address = "127.0.0.1:" + std::to_string(*port);
    // The registry tells joining nodes its address; the elector records it for them.
    c.elector = spawn_leader_elector(
      system, leader_elector_options{conninfo, default_leader_lock_key, c.address, name,
                                     elector_interval, elector_interval, c.registry});
    return c;
  }

  void stop(const coordinator& c) {
    caf::anon_send_exit(c.elector, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(c.registry, caf::exit_reason::user_shutdown);
  }

  void stop_node(const membership_client_actor& client, const fake_supervisor_actor& supervisor) {
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    to_stop.clear();
  }

  std::string recorded_leader() {
    auto address = leader_lock::read_leader_address(conninfo);
    return address ? *address : "";
  }

  membership_client_actor start_client(const std::string& node,
                                       const fake_supervisor_actor& supervisor) {
    membership_client_options options;
    options.node = node;
    options.sip_uri = "sip:" + node + ".test:5060";
    options.capacity = 100;
    options.version = "test";
    options.conninfo = conninfo;
    options.retry_interval = 200ms;
    options.request_timeout = 1s;
    options.supervisor = caf::actor_cast<node_load_source_actor>(supervisor);
    auto client = spawn_membership_client(system, options);
    to_stop.push_back(caf::actor_cast<caf::actor>(client));
    to_stop.push_back(caf::actor_cast<caf::actor>(supervisor));
    return client;
  }

  /// The member's state at `c`, "refused" when `c` does not serve, "missing" when unknown.
  std::string state_at(const coordinator& c, const std::string& node) {
    caf::scoped_actor self{system};
    std::string out = "missing";
    self->request(c.registry, 2s, list_members{})
      .receive(
        [&](const std::vector<member_view>& members) {
          for (const auto& m : members)
            if (m.node == node)
              out = to_string(m.state);
        },
        [&](const caf::error&) { out = "refused"; });
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

  std::string query(const std::string& sql) {
    auto conn = callgrid::persistence::internal::pg_connect(conninfo);
    CAF_REQUIRE(conn);
    auto result = callgrid::persistence::internal::pg_exec(conn->get(), "test", sql);
    CAF_REQUIRE(result);
    return callgrid::persistence::internal::pg_text(result->get(), 0, 0);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(coordinator_tests, fixture)

CAF_TEST(a drain survives a restart of the coordinator) {
  auto first = start_coordinator("coord-a");
  CAF_REQUIRE(eventually([&] { return recorded_leader() == first.address; }, 5s));
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  CAF_REQUIRE(eventually([&] { return state_at(first, "fs-1") == "active"; }, 5s));
  {
    caf::scoped_actor self{system};
    self->request(first.registry, 5s, request_drain{"fs-1", 0, false, "disk swap", "ops"})
      .receive([](caf::ok_atom) {},
               [](const caf::error& err) { CAF_FAIL("drain refused: " << render_error(err)); });
  }
  // Answered only once the row is committed.
  CAF_CHECK_EQUAL(query("SELECT drain_requested || ' ' || drain_reason || ' ' || "
                        "admin_changed_by FROM nodes WHERE id = 'fs-1'"),
                  "true disk swap ops");
  CAF_CHECK_EQUAL(query("SELECT action || ' ' || who || ' ' || reason FROM node_admin_actions"),
                  "drain ops disk swap");
  CAF_CHECK(eventually([&] { return state_at(first, "fs-1") == "drained"; }, 3s));
  stop(first);
  // The node restarts too: it comes back without its drain.
  caf::anon_send(supervisor, caf::put_atom::value, healthy_node_load());
  auto second = start_coordinator("coord-b");
  CAF_REQUIRE(eventually([&] { return recorded_leader() == second.address; }, 5s));
  CAF_CHECK(eventually([&] { return status_of(client).coordinator == second.address; }, 5s));
  // The restored admin state wins: the node is told again and ends drained at the new leader.
  CAF_CHECK(eventually([&] { return state_at(second, "fs-1") == "drained"; }, 5s));
  // The node first, so that it does not start looking for a leader while the system shuts down.
  stop_node(client, supervisor);
  stop(second);
}

CAF_TEST(the standby leads within the bound when the leader loses its connection) {
  auto a = start_coordinator("coord-a");
  CAF_REQUIRE(eventually([&] { return recorded_leader() == a.address; }, 5s));
  auto b = start_coordinator("coord-b");
  auto supervisor = spawn_fake_supervisor(system, healthy_node_load(), true);
  auto client = start_client("fs-1", supervisor);
  CAF_REQUIRE(eventually([&] { return state_at(a, "fs-1") == "active"; }, 5s));
  CAF_CHECK_EQUAL(state_at(b, "fs-1"), "refused");
  const auto cut_at = steady::now();
  CAF_CHECK_EQUAL(query("SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND granted"),
                  "1");
  CAF_REQUIRE(eventually([&] { return recorded_leader() == b.address; }, 5s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - cut_at);
  CAF_MESSAGE("coordinator b leads " << took.count() << " ms after a lost its connection");
  CAF_CHECK_LESS(took, elector_interval + 1s);
  CAF_CHECK(eventually([&] { return state_at(a, "fs-1") == "refused"; }, 2s));
  CAF_CHECK(eventually([&] { return state_at(b, "fs-1") == "active"; }, 5s));
  auto followed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - cut_at);
  CAF_MESSAGE("the node is active at b " << followed.count() << " ms after the cut");
  CAF_CHECK_EQUAL(status_of(client).coordinator, b.address);
  stop_node(client, supervisor);
  stop(a);
  stop(b);
}

CAF_TEST_FIXTURE_SCOPE_END()
