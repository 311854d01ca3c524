#define CAF_SUITE cluster.wire

#include "cluster/wire.hpp"

#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/test/unit_test.hpp>

#include "cluster/error.hpp"

using namespace callgrid::cluster;

namespace {

struct fixture {
  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    register_types(cfg);
    return cfg;
  }
  caf::actor_system_config cfg;
  caf::actor_system system{configured(cfg)};

  /// Serializes `value` inside a message (as the network layer does, type names included) and
  /// reads it back; returns the bytes written through `size`.
  template <class T>
  T round_trip(const T& value, std::size_t& size) {
    std::vector<char> buffer;
    auto msg = caf::make_message(value);
    caf::binary_serializer sink{system, buffer};
    if (auto err = sink(msg)) {
      CAF_FAIL("serializing failed: " << system.render(err));
      return T{};
    }
    size = buffer.size();
    caf::message copy;
    caf::binary_deserializer source{system, buffer};
    if (auto err = source(copy)) {
      CAF_FAIL("deserializing failed: " << system.render(err));
      return T{};
    }
    if (!copy.match_elements<T>()) {
      CAF_FAIL("the message read back holds " << copy.content().stringify());
      return T{};
    }
    return copy.get_as<T>(0);
  }

  template <class T>
  void check_round_trip(const T& value) {
    std::size_t size = 0;
    auto copy = round_trip(value, size);
    CAF_CHECK(copy == value);
    // A type that is not registered is written as nothing at all (platform-notes.md).
    CAF_CHECK_GREATER(size, 8u);
  }
};

load_report busy_load() {
  load_report load;
  load.live_calls = 41;
  load.calls_total = 123'456'789'012;
  load.capacity = 200;
  load.esl_ready = true;
  load.freeswitch_ready = true;
  load.session_count = 43;
  load.max_sessions = 1000;
  load.idle_cpu = 87.5;
  load.phase = drain_phase::flushing;
  load.hung_up_at_deadline = 2;
  load.spool_depth = 17;
  return load;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(wire_tests, fixture)

CAF_TEST(every cluster message survives the binary serializer) {
  check_round_trip(busy_load());
  check_round_trip(join_request{"fs-1", "sip:10.0.0.5:5060", 200, "0.1.0", 1764150000000,
                                busy_load()});
  check_round_trip(join_reply{"10.0.0.2:4242", 1000});
  check_round_trip(heartbeat{"fs-1", 1764150000000, busy_load()});
  check_round_trip(leave_request{"fs-1", 1764150000000});
  check_round_trip(node_command{command_kind::cancel_drain, 0, ""});
  check_round_trip(node_command{command_kind::start_drain, 1'800'000'000'000, "kernel update"});
  check_round_trip(admin_state{"fs-1", false, true, "hardware", 1'800'000'000'000, "hw", "ops"});
  check_round_trip(list_members{});
  check_round_trip(request_drain{"fs-1", 1'800'000'000'000, true, "fire", "ops"});
  check_round_trip(cancel_drain{"fs-1", "false alarm", "ops"});
  check_round_trip(set_eligibility{"fs-1", false, "noisy", "alice"});
  check_round_trip(force_leave{"fs-1", true, "gone", "bob"});
  member_view view;
  view.node = "fs-1";
  view.sip_uri = "sip:10.0.0.5:5060";
  view.version = "0.1.0";
  view.state = member_state::suspect;
  view.eligible = false;
  view.drain_requested = true;
  view.drain_deadline_unix_ms = 1'800'000'000'000;
  view.phase = drain_phase::draining;
  view.live_calls = 5;
  view.capacity = 100;
  view.load = 0.05;
  view.idle_cpu = 90;
  view.spool_depth = 3;
  view.hung_up_at_deadline = 1;
  view.reason = "r";
  view.changed_by = "w";
  view.last_heartbeat_age_ms = 3100;
  check_round_trip(view);
  dispatcher_view dispatch;
  dispatch.entries.push_back({"fs-1", "sip:10.0.0.5:5060", 200, 67, dispatcher_state::active, ""});
  dispatch.entries.push_back(
    {"fs-2", "sip:10.0.0.6:5060", 100, 33, dispatcher_state::admin_disabled, "down"});
  check_round_trip(dispatch.entries[1]);
  check_round_trip(dispatch);
}

CAF_TEST(the type names are the registered ones) {
  CAF_CHECK_EQUAL(std::string{caf::type_name<heartbeat>::value}, "callgrid::cluster::heartbeat");
  CAF_CHECK_EQUAL(caf::type_id<load_report>::value, caf::first_custom_type_id + 100);
  CAF_CHECK_EQUAL(caf::id_block::callgrid_cluster::end - caf::id_block::callgrid_cluster::begin,
                  15);
}

CAF_TEST(cluster errors cross the wire and render by name) {
  auto err = make_cluster_error(errc::not_leader, "the leader is at 10.0.0.3:4242");
  std::size_t size = 0;
  auto copy = round_trip(err, size);
  CAF_CHECK(copy == errc::not_leader);
  CAF_CHECK_EQUAL(render_error(copy), "cluster.not_leader: the leader is at 10.0.0.3:4242");
  CAF_CHECK_EQUAL(system.render(copy), "cluster.not_leader: the leader is at 10.0.0.3:4242");
}

CAF_TEST_FIXTURE_SCOPE_END()
