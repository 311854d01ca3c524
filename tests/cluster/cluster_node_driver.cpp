// cluster_node_driver: a test program that plays one node of the cluster in a process of its
// own: a membership client (the one callgridd uses) with a stand-in node supervisor that reports
// a healthy, idle node. Used by tests/cluster/two_process_test.cpp, which stops it with SIGSTOP
// and kills it with SIGKILL.
//
//   cluster_node_driver --node NAME --coordinator HOST:PORT [--capacity N] [--heartbeat-ms MS]
//
// Runs until it is killed (or SIGTERM / SIGINT: it then leaves the cluster and exits 0). Exit
// status 1 for bad arguments. One line on stdout when it joined, and the client's warnings.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "cluster/membership_client.hpp"
#include "cluster/wire.hpp"
#include "cluster_test_support.hpp"

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) {
  stop_requested = true;
}

int usage(const std::string& problem) {
  std::cerr << "cluster_node_driver: " << problem
            << "\nusage: cluster_node_driver --node NAME --coordinator HOST:PORT [--capacity N] "
               "[--heartbeat-ms MS]\n";
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  using namespace callgrid::cluster;
  membership_client_options options;
  options.capacity = 100;
  options.version = "driver";
  options.retry_interval = std::chrono::milliseconds{200};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc)
      return usage("missing value for " + arg);
    std::string value = argv[++i];
    try {
      if (arg == "--node")
        options.node = value;
      else if (arg == "--coordinator")
        options.coordinators.push_back(value);
      else if (arg == "--capacity")
        options.capacity = std::stoi(value);
      else if (arg == "--heartbeat-ms")
        options.heartbeat_interval = std::chrono::milliseconds{std::stoi(value)};
      else
        return usage("unknown option " + arg);
    } catch (const std::exception&) {
      return usage("bad value for " + arg + ": " + value);
    }
  }
  if (options.node.empty() || options.coordinators.empty())
    return usage("--node and --coordinator are required");
  options.sip_uri = "sip:" + options.node + ".test:5060";
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  register_types(cfg);
  caf::actor_system system{cfg};
  auto supervisor
    = testing::spawn_fake_supervisor(system, testing::healthy_node_load(options.capacity), true);
  options.supervisor = caf::actor_cast<node_load_source_actor>(supervisor);
  auto client = spawn_membership_client(system, options);
  bool announced = false;
  caf::scoped_actor self{system};
  while (!stop_requested) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    if (announced)
      continue;
    self->request(client, std::chrono::seconds{1}, caf::get_atom::value)
      .receive(
        [&](const membership_client_status& status) {
          if (status.joined) {
            std::cout << "joined " << status.coordinator << std::endl;
            announced = true;
          }
        },
        [](const caf::error&) {});
  }
  self->request(client, std::chrono::seconds{2}, caf::leave_atom::value)
    .receive([](caf::ok_atom) {}, [](const caf::error&) {});
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
  // The leave is done; this program's job ends here. It does not wait for the actor system's
  // teardown: CAF 0.17's middleman sometimes hangs in it (about 1 run in 18 here, in its
  // multiplexer's shutdown), and the test would then see a SIGKILL instead of exit 0. What is
  // under test (join, heartbeats, leave) is complete before this line.
  std::cout.flush();
  std::_Exit(0);
}
