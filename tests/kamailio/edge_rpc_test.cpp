#define CAF_SUITE kamailio.edge_rpc

#include <caf/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "edge_support.hpp"
#include "kamailio/dispatcher_updater.hpp"
#include "kamailio/list_file_writer.hpp"
#include "kamailio/rpc_client.hpp"

using namespace callgrid;
using namespace std::chrono_literals;
using kamailio::target_state;

namespace {

/// Targets at free ports where nothing listens: enough for the control plane (probing marks
/// them inactive, which the checks here ignore).
std::vector<kamailio::dispatcher_target> idle_targets(int count) {
  std::vector<kamailio::dispatcher_target> out;
  for (int i = 0; i < count; ++i) {
    kamailio::dispatcher_target t;
    t.set = 1;
    t.uri = "sip:127.0.0.1:" + std::to_string(test_support::pick_free_port());
    t.weight = 10 * (i + 1);
    t.node_id = "idle-" + std::to_string(i);
    out.push_back(t);
  }
  return out;
}

std::string read(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

struct fixture {
  std::vector<kamailio::dispatcher_target> targets = idle_targets(3);
  edge_test::edge_instance edge{edge_test::test_settings(), targets};
  kamailio::rpc_client rpc{{.socket_path = edge.server->rpc_socket_path(), .timeout = 2000ms}};

  /// Kamailio's current view of `uri`.
  std::optional<kamailio::listed_target> listed(const std::string& uri) {
    auto all = rpc.list();
    CAF_REQUIRE(all);
    for (const auto& l : *all)
      if (l.target.uri == uri)
        return l;
    return std::nullopt;
  }

  /// The state Kamailio holds for `uri` (active when it is unknown, which the checks catch).
  target_state state_of(const std::string& uri) {
    auto found = listed(uri);
    CAF_REQUIRE(found);
    return found->target.state;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(edge_rpc_tests, fixture)

CAF_TEST(the rendered config runs and lists the nodes in reverse file order) {
  auto all = rpc.list();
  CAF_REQUIRE(all);
  CAF_REQUIRE_EQUAL(all->size(), 3u);
  auto first = (*all)[0].target;
  auto last = (*all)[2].target;
  CAF_CHECK_EQUAL(first.uri, targets[2].uri);
  CAF_CHECK_EQUAL(last.uri, targets[0].uri);
  CAF_CHECK_EQUAL(first.weight, 30);
  CAF_CHECK_EQUAL(first.node_id, "idle-2");
  auto version = rpc.call("core.version");
  CAF_CHECK(version);
}

CAF_TEST(set_state disables a node at once and an unknown node is an error) {
  CAF_CHECK(!rpc.set_state(target_state::disabled, 1, targets[1].uri));
  auto node = listed(targets[1].uri);
  CAF_REQUIRE(node);
  auto state = node->target.state;
  auto flag = node->flags.substr(0, 1);
  CAF_CHECK_EQUAL(state, target_state::disabled);
  CAF_CHECK_EQUAL(flag, "D");
  auto err = rpc.set_state(target_state::disabled, 1, "sip:127.0.0.1:9");
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(err->code, kamailio::errc::rpc_failed);
  CAF_CHECK_EQUAL(err->rpc_code, 500);
  auto unknown = rpc.call("no.such_method");
  CAF_REQUIRE(!unknown);
  CAF_CHECK_EQUAL(unknown.error().code, kamailio::errc::rpc_failed);
}

CAF_TEST(a second reload within five seconds is refused as ongoing) {
  CAF_CHECK(!rpc.reload());
  auto again = rpc.reload();
  CAF_REQUIRE(again.has_value());
  CAF_CHECK(kamailio::is_ongoing_reload(*again));
}

CAF_TEST(a disabled flag written in the list file survives a reload) {
  auto written = targets;
  written[0].state = target_state::disabled;
  CAF_REQUIRE(!kamailio::write_file_atomically(edge.list_file(),
                                               kamailio::render_dispatcher_list(written)));
  // Kamailio started a moment ago: its reload limit may still hold.
  CAF_REQUIRE(edge_test::eventually([&] { return !rpc.reload(); }, 7s));
  auto after_reload = state_of(written[0].uri);
  CAF_CHECK_EQUAL(after_reload, target_state::disabled);
  // A runtime change is lost on the next reload; the file's flag wins.
  CAF_CHECK(!rpc.set_state(target_state::active, 1, written[0].uri));
  auto after_set_state = state_of(written[0].uri);
  CAF_CHECK_NOT_EQUAL(after_set_state, target_state::disabled);
  CAF_REQUIRE(edge_test::eventually([&] { return !rpc.reload(); }, 7s));
  auto after_second_reload = state_of(written[0].uri);
  CAF_CHECK_EQUAL(after_second_reload, target_state::disabled);
}

CAF_TEST(the updater refuses a list that would leave the set empty) {
  kamailio::updater_options options;
  options.list_file = edge.list_file();
  options.rpc = {.socket_path = edge.server->rpc_socket_path(), .timeout = 2000ms};
  options.validation.required_sets = {1};
  kamailio::dispatcher_updater updater{options};
  auto before = read(edge.list_file());
  auto drained = targets;
  for (auto& t : drained)
    t.state = target_state::disabled;
  auto published = updater.publish(drained, std::chrono::steady_clock::now());
  CAF_REQUIRE(!published);
  CAF_CHECK_EQUAL(published.error().code, kamailio::errc::invalid_list);
  CAF_CHECK_EQUAL(read(edge.list_file()), before);
  CAF_CHECK(!updater.next_due());
}

CAF_TEST(the updater enables at once a target Kamailio holds and waits for the reload otherwise) {
  // Kamailio starts with three targets, the last one disabled (a node provisioned, not joined).
  auto provisioned = targets;
  provisioned[2].state = target_state::disabled;
  CAF_REQUIRE(!kamailio::write_file_atomically(edge.list_file(),
                                               kamailio::render_dispatcher_list(provisioned)));
  CAF_REQUIRE(edge_test::eventually([&] { return !rpc.reload(); }, 7s));
  kamailio::updater_options options;
  options.list_file = edge.list_file();
  options.rpc = {.socket_path = edge.server->rpc_socket_path(), .timeout = 2000ms};
  kamailio::dispatcher_updater updater{options};
  // First the coordinator knows only the first two nodes: the third leaves the file, and
  // Kamailio (which holds it disabled) needs no set_state for it.
  std::vector<kamailio::dispatcher_target> two{targets[0], targets[1]};
  auto first = updater.publish(two, std::chrono::steady_clock::now());
  CAF_REQUIRE(first);
  CAF_CHECK(first->state_errors.empty());
  CAF_CHECK_EQUAL(first->states_set, 0u);
  // The third node joins before any reload: Kamailio still holds it, so set_state enables it
  // now (publishing compares with what Kamailio holds, not with the last file written).
  auto second = updater.publish(targets, std::chrono::steady_clock::now());
  CAF_REQUIRE(second);
  CAF_CHECK(second->state_errors.empty());
  CAF_CHECK_EQUAL(second->states_set, 1u);
  CAF_CHECK_EQUAL(state_of(targets[2].uri), target_state::active);
  // After a reload of a file without it, Kamailio no longer holds it: a later publish that
  // brings it back sends no set_state (it would fail) and leaves it to the next reload.
  CAF_REQUIRE(updater.publish(two, std::chrono::steady_clock::now()));
  // Polled on a clock that runs ahead, so only Kamailio's own rate limit spaces the attempts.
  auto reloaded = false;
  auto fake_now = std::chrono::steady_clock::now();
  CAF_REQUIRE(edge_test::eventually(
    [&] {
      fake_now += 10s;
      auto report = updater.poll(fake_now);
      reloaded = reloaded || report.reloaded;
      return reloaded;
    },
    7s));
  CAF_CHECK(!listed(targets[2].uri));
  auto back = targets;
  back[2].state = target_state::disabled;
  auto third = updater.publish(back, std::chrono::steady_clock::now());
  CAF_REQUIRE(third);
  CAF_CHECK(third->state_errors.empty());
  CAF_CHECK_EQUAL(third->states_set, 0u);
}

CAF_TEST(many list changes become few reloads within the real rate limit) {
  kamailio::updater_options options;
  options.list_file = edge.list_file();
  options.rpc = {.socket_path = edge.server->rpc_socket_path(), .timeout = 2000ms};
  options.validation.required_sets = {1};
  kamailio::dispatcher_updater updater{options};
  auto current = targets;
  std::size_t states_set = 0;
  std::size_t reloads = 0;
  std::vector<std::string> mismatches;
  auto start = std::chrono::steady_clock::now();
  auto next_change = start;
  int changes = 0;
  // Twelve changes in six seconds (a node drained and back, weights moving), then wait for the
  // last reload.
  while (std::chrono::steady_clock::now() < start + 13s) {
    auto now = std::chrono::steady_clock::now();
    if (changes < 12 && now >= next_change) {
      ++changes;
      current[1].state = changes % 2 == 1 ? target_state::disabled : target_state::active;
      current[2].weight = 30 + changes;
      auto published = updater.publish(current, now);
      CAF_REQUIRE(published);
      CAF_CHECK(published->state_errors.empty());
      states_set += published->states_set;
      next_change += 500ms;
      // set_state takes effect at once, before any reload.
      auto expected = current[1].state == target_state::disabled;
      auto disabled = state_of(current[1].uri) == target_state::disabled;
      CAF_CHECK_EQUAL(disabled, expected);
    }
    auto report = updater.poll(now);
    if (report.failure)
      CAF_FAIL("reload failed: " << kamailio::render_error(*report.failure));
    if (report.reloaded) {
      ++reloads;
      mismatches = report.mismatches;
    }
    if (changes == 12 && !updater.next_due())
      break;
    std::this_thread::sleep_for(20ms);
  }
  CAF_CHECK_EQUAL(changes, 12);
  CAF_CHECK_EQUAL(states_set, 12u);
  CAF_CHECK(!updater.next_due());
  // One reload at the first change and one per 5.1 s interval after it.
  CAF_CHECK_GREATER_OR_EQUAL(reloads, 2u);
  CAF_CHECK_LESS_OR_EQUAL(reloads, 3u);
  CAF_CHECK_EQUAL(updater.coalescer().reloads_refused(), 0u);
  CAF_CHECK(mismatches.empty());
  auto last = listed(current[2].uri);
  CAF_REQUIRE(last);
  auto weight = last->target.weight;
  CAF_CHECK_EQUAL(weight, 42);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

struct security_fixture {
  edge_test::edge_instance edge{edge_test::test_settings(), idle_targets(1)};
  std::uint16_t port = edge.server->sip_port();
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(edge_security_tests, security_fixture)

CAF_TEST(a trusted peer is answered and an unknown source gets 403) {
  auto trusted = edge_test::udp_exchange(
    "127.0.0.1", port, edge_test::sip_request("OPTIONS", port, "127.0.0.1", 5999, "trunk/1.0"), 2s);
  CAF_REQUIRE(trusted);
  CAF_CHECK_EQUAL(edge_test::status_of(*trusted), 200);
  auto stranger = edge_test::udp_exchange(
    "127.0.0.2", port, edge_test::sip_request("INVITE", port, "127.0.0.2", 5999, "pbx/2.0"), 2s);
  CAF_REQUIRE(stranger);
  CAF_CHECK_EQUAL(edge_test::status_of(*stranger), 403);
}

CAF_TEST(a scanner user agent gets no answer at all) {
  for (auto agent : {"friendly-scanner", "sipvicious", "sipcli/v1.8", "Friendly-Scanner"}) {
    auto reply = edge_test::udp_exchange(
      "127.0.0.1", port, edge_test::sip_request("OPTIONS", port, "127.0.0.1", 5999, agent), 700ms);
    if (reply)
      CAF_MESSAGE("the scanner " << agent << " got an answer: " << reply->substr(0, 40));
    CAF_CHECK(!reply.has_value());
  }
}

CAF_TEST(an oversized message is refused with 513) {
  std::string padding = "X-Padding: " + std::string(9000, 'a') + "\r\n";
  auto reply = edge_test::udp_exchange(
    "127.0.0.1", port,
    edge_test::sip_request("OPTIONS", port, "127.0.0.1", 5999, "trunk/1.0", padding), 2s);
  CAF_REQUIRE(reply);
  CAF_CHECK_EQUAL(edge_test::status_of(*reply), 513);
}

CAF_TEST(an untrusted source that floods is banned and then dropped) {
  int forbidden = 0;
  int silent = 0;
  for (int i = 0; i < 60; ++i) {
    auto reply = edge_test::udp_exchange(
      "127.0.0.3", port, edge_test::sip_request("OPTIONS", port, "127.0.0.3", 5999, "pbx/2.0"),
      100ms);
    if (reply && edge_test::status_of(*reply) == 403)
      ++forbidden;
    else if (!reply)
      ++silent;
  }
  CAF_MESSAGE(forbidden << " answered 403, " << silent << " dropped");
  CAF_CHECK_GREATER(forbidden, 0);
  CAF_CHECK_GREATER(silent, 20);
  // The trusted peer is not affected.
  auto trusted = edge_test::udp_exchange(
    "127.0.0.1", port, edge_test::sip_request("OPTIONS", port, "127.0.0.1", 5999, "trunk/1.0"), 2s);
  CAF_REQUIRE(trusted);
  CAF_CHECK_EQUAL(edge_test::status_of(*trusted), 200);
}

CAF_TEST_FIXTURE_SCOPE_END()
