#include "node_command.hpp"

#include <chrono>
#include <csignal>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "admin_client.hpp"

namespace callgrid::ctl {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// The exit codes of `node drain` (issue 6); usage errors are 1 for this command.
enum drain_exit : int {
  drain_done = 0,
  drain_error = 1,
  drain_deadline_hung_up = 2,
  drain_cancelled = 3,
  drain_records_not_flushed = 4,
};

struct node_options {
  std::string api;
  std::string token_file;
  std::string output = "text";
  // list / drain / eligibility / force-leave
  std::string node;
  std::string deadline;
  bool force = false;
  bool no_deadline = false;
  bool detach = false;
  bool yes = false;
  bool monitor = false;
  bool disable_drain = false;
  bool enable = false;
  bool disable = false;
  std::string reason;
  std::chrono::seconds flush_timeout{120};
};

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_interrupt(int) {
  interrupted = 1;
}

std::string who_am_i() {
  std::string user;
  if (const char* sudo = std::getenv("SUDO_USER"))
    user = sudo;
  else if (const char* name = std::getenv("USER"))
    user = name;
  else
    user = "uid" + std::to_string(getuid());
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0)
    user += "@" + std::string{host};
  return user;
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::ostringstream out;
  out << std::put_time(&utc, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

/// The API's error text: `message` of a JSON error body, else the body, else the transport error.
std::string describe_failure(const admin_answer& answer) {
  if (answer.status == 0)
    return answer.error;
  auto doc = json::parse(answer.body, nullptr, false);
  std::string text;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("message"))
    text = doc["message"].get<std::string>();
  else
    text = answer.body;
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (answer.status == 401)
    return "the admin API refused the token (HTTP 401): check --token-file against the "
           "coordinator's cluster.admin_token_file";
  return "HTTP " + std::to_string(answer.status) + ": " + text;
}

std::string phase_text(const json& member) {
  return member.value("phase", std::string{"none"});
}

std::string deadline_text(const json& member) {
  auto it = member.find("drain_deadline_unix_ms");
  if (it == member.end() || it->is_null() || it->get<int64_t>() == 0)
    return "-";
  auto seconds = static_cast<std::time_t>(it->get<int64_t>() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::ostringstream out;
  out << std::put_time(&utc, "%H:%M:%SZ");
  return out.str();
}

void print_table(const json& nodes) {
  std::cout << std::left << std::setw(16) << "NODE" << std::setw(10) << "STATE" << std::setw(10)
            << "ELIGIBLE" << std::setw(10) << "DRAIN" << std::setw(10) << "DEADLINE"
            << std::setw(12) << "CALLS" << std::setw(7) << "LOAD" << std::setw(8) << "SPOOL"
            << std::setw(8) << "SEEN" << "REASON\n";
  for (const auto& m : nodes) {
    std::ostringstream calls;
    calls << m.value("live_calls", 0) << "/" << m.value("capacity", 0);
    std::ostringstream load;
    load << std::fixed << std::setprecision(0) << m.value("load", 0.0) * 100 << "%";
    std::ostringstream seen;
    seen << std::fixed << std::setprecision(1)
         << static_cast<double>(m.value("last_heartbeat_age_ms", int64_t{0})) / 1000.0 << "s";
    auto reason = m.value("reason", std::string{});
    if (auto by = m.value("changed_by", std::string{}); !by.empty())
      reason += (reason.empty() ? "" : " ") + std::string{"("} + by + ")";
    std::cout << std::left << std::setw(16) << m.value("node", std::string{}) << std::setw(10)
              << m.value("state", std::string{}) << std::setw(10)
              << (m.value("eligible", true) ? "yes" : "no") << std::setw(10)
              << (m.value("drain_requested", false) ? phase_text(m) : std::string{"-"})
              << std::setw(10) << deadline_text(m) << std::setw(12) << calls.str()
              << std::setw(7) << load.str() << std::setw(8) << m.value("spool_depth", 0)
              << std::setw(8) << seen.str() << reason << "\n";
  }
}

std::string node_target(const std::string& node, const std::string& suffix = {}) {
  return "/v1/nodes/" + node + suffix;
}

/// Fetches one member; prints the problem and returns nullopt when it cannot.
std::optional<json> fetch_member(const admin_endpoint& endpoint, const std::string& node) {
  auto answer = admin_request(endpoint, "GET", node_target(node));
  if (answer.status != 200) {
    std::cerr << "callgridctl: node " << node << ": " << describe_failure(answer) << "\n";
    return std::nullopt;
  }
  auto doc = json::parse(answer.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    std::cerr << "callgridctl: node " << node << ": the admin API answered no JSON object\n";
    return std::nullopt;
  }
  return doc;
}

/// Watches a drain until it ends; prints a line when something changes and at least every 10 s.
int watch_drain(const admin_endpoint& endpoint, const node_options& o) {
  std::string last_line;
  auto last_print = std::chrono::steady_clock::now() - 1h;
  // When the node had no calls left but records pending; min() = not flushing.
  auto flushing_since = std::chrono::steady_clock::time_point::min();
  int failures = 0;
  while (!interrupted) {
    auto member = fetch_member(endpoint, o.node);
    if (!member) {
      if (++failures >= 10)
        return drain_error;
      std::this_thread::sleep_for(1s);
      continue;
    }
    failures = 0;
    const auto& m = *member;
    auto state = m.value("state", std::string{});
    auto phase = phase_text(m);
    auto calls = m.value("live_calls", 0);
    auto spool = m.value("spool_depth", 0);
    auto hung_up = m.value("hung_up_at_deadline", 0);
    std::ostringstream line;
    line << o.node << ": " << state << ", " << calls << " call" << (calls == 1 ? "" : "s")
         << " up, " << spool << " record" << (spool == 1 ? "" : "s") << " pending";
    if (phase != "none" && phase != state)
      line << " (node: " << phase << ")";
    if (hung_up > 0)
      line << ", " << hung_up << " hung up at the deadline";
    auto now = std::chrono::steady_clock::now();
    if (o.output == "text" && (line.str() != last_line || now - last_print >= 10s)) {
      std::cout << timestamp() << " " << line.str() << std::endl;
      last_line = line.str();
      last_print = now;
    }
    if (state == "drained") {
      if (o.output == "json")
        std::cout << m.dump() << std::endl;
      if (hung_up > 0) {
        std::cout << timestamp() << " " << o.node << " drained; " << hung_up
                  << " call(s) were hung up with SYSTEM_SHUTDOWN at the deadline" << std::endl;
        return drain_deadline_hung_up;
      }
      std::cout << timestamp() << " " << o.node << " drained" << std::endl;
      return drain_done;
    }
    if (!m.value("drain_requested", false)) {
      std::cerr << "callgridctl: the drain of " << o.node << " was cancelled"
                << (m.value("changed_by", std::string{}).empty()
                      ? std::string{}
                      : " by " + m.value("changed_by", std::string{}))
                << "\n";
      return drain_cancelled;
    }
    if (state == "down" || state == "left") {
      std::cerr << "callgridctl: " << o.node << " is " << state
                << " while draining; its calls' records are recovered when it comes back "
                   "(docs/cluster.md)\n";
      return drain_error;
    }
    if (phase == "flushing" && calls == 0) {
      if (flushing_since == std::chrono::steady_clock::time_point::min())
        flushing_since = now;
      if (now - flushing_since > o.flush_timeout) {
        std::cerr << "callgridctl: " << o.node << " has no calls left but " << spool
                  << " records are still not in PostgreSQL after " << o.flush_timeout.count()
                  << " s; the node keeps them in its spool and retries\n";
        return drain_records_not_flushed;
      }
    } else {
      flushing_since = std::chrono::steady_clock::time_point::min();
    }
    for (int i = 0; i < 10 && !interrupted; ++i)
      std::this_thread::sleep_for(100ms);
  }
  std::cerr << "\ncallgridctl: stopped watching; the drain of " << o.node
            << " goes on (watch it again with: callgridctl node drain --monitor " << o.node
            << ")\n";
  return exit_interrupted;
}

bool confirm(const std::string& question) {
  if (!isatty(STDIN_FILENO))
    return false;
  std::cout << question << " [y/N] " << std::flush;
  std::string reply;
  std::getline(std::cin, reply);
  return reply == "y" || reply == "Y" || reply == "yes";
}

int run_list(const admin_endpoint& endpoint, const node_options& o) {
  auto answer = admin_request(endpoint, "GET", "/v1/nodes");
  if (answer.status != 200) {
    std::cerr << "callgridctl: node list: " << describe_failure(answer) << "\n";
    return drain_error;
  }
  auto doc = json::parse(answer.body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("nodes")) {
    std::cerr << "callgridctl: node list: the admin API answered no node list\n";
    return drain_error;
  }
  if (o.output == "json")
    std::cout << doc["nodes"].dump(2) << "\n";
  else
    print_table(doc["nodes"]);
  return exit_ok;
}

int run_drain(const admin_endpoint& endpoint, const node_options& o) {
  if (o.monitor)
    return watch_drain(endpoint, o);
  if (o.disable_drain) {
    json body{{"reason", o.reason}, {"who", who_am_i()}};
    auto answer = admin_request(endpoint, "DELETE", node_target(o.node, "/drain"), body.dump());
    if (answer.status != 200) {
      std::cerr << "callgridctl: node drain --disable " << o.node << ": "
                << describe_failure(answer) << "\n";
      return drain_error;
    }
    std::cout << timestamp() << " drain of " << o.node << " cancelled; it takes calls again "
              << "once healthy\n";
    return drain_done;
  }
  int modes = (o.deadline.empty() ? 0 : 1) + (o.force ? 1 : 0) + (o.no_deadline ? 1 : 0);
  if (modes > 1) {
    std::cerr << "callgridctl: node drain: give at most one of --deadline, --force and "
                 "--no-deadline\n";
    return drain_error;
  }
  if (!o.yes) {
    std::string what = o.force ? "hang up every call on " + o.node + " now"
                               : "drain " + o.node + " (no new calls; "
                                   + (o.no_deadline ? std::string{"no deadline"}
                                                    : "deadline "
                                                        + (o.deadline.empty()
                                                             ? std::string{"the default"}
                                                             : o.deadline))
                                   + ")";
    if (!confirm("Really " + what + "?")) {
      std::cerr << "callgridctl: not confirmed; pass --yes to drain without asking\n";
      return drain_error;
    }
  }
  json body{{"force", o.force}, {"reason", o.reason}, {"who", who_am_i()}};
  if (o.no_deadline)
    body["deadline"] = "none";
  else if (!o.deadline.empty())
    body["deadline"] = o.deadline;
  auto answer = admin_request(endpoint, "POST", node_target(o.node, "/drain"), body.dump());
  if (answer.status != 200) {
    std::cerr << "callgridctl: node drain " << o.node << ": " << describe_failure(answer) << "\n";
    return drain_error;
  }
  auto accepted = json::parse(answer.body, nullptr, false);
  if (o.output == "text") {
    std::cout << timestamp() << " drain of " << o.node << " requested";
    if (!accepted.is_discarded() && accepted.is_object())
      std::cout << " (deadline " << deadline_text(accepted) << ")";
    std::cout << "; the edge no longer sends it calls" << std::endl;
  }
  if (o.detach) {
    if (o.output == "json")
      std::cout << answer.body << "\n";
    return drain_done;
  }
  return watch_drain(endpoint, o);
}

int run_eligibility(const admin_endpoint& endpoint, const node_options& o) {
  if (o.enable == o.disable) {
    std::cerr << "callgridctl: node eligibility: give exactly one of --enable and --disable\n";
    return drain_error;
  }
  json body{{"eligible", o.enable}, {"reason", o.reason}, {"who", who_am_i()}};
  auto answer = admin_request(endpoint, "POST", node_target(o.node, "/eligibility"), body.dump());
  if (answer.status != 200) {
    std::cerr << "callgridctl: node eligibility " << o.node << ": " << describe_failure(answer)
              << "\n";
    return drain_error;
  }
  if (o.output == "json")
    std::cout << answer.body << "\n";
  else
    std::cout << o.node << " is now " << (o.enable ? "eligible" : "ineligible")
              << " for new calls\n";
  return exit_ok;
}

int run_force_leave(const admin_endpoint& endpoint, const node_options& o) {
  json body{{"force", o.force}, {"reason", o.reason}, {"who", who_am_i()}};
  auto answer = admin_request(endpoint, "POST", node_target(o.node, "/force-leave"), body.dump());
  if (answer.status != 200) {
    std::cerr << "callgridctl: node force-leave " << o.node << ": " << describe_failure(answer)
              << "\n";
    return drain_error;
  }
  if (o.output == "json")
    std::cout << answer.body << "\n";
  else
    std::cout << o.node << " removed from the cluster\n";
  return exit_ok;
}

void add_common(CLI::App& sub, node_options& o) {
  sub.add_option("--api", o.api,
                 "Coordinator admin API as HOST:PORT (default: CALLGRID_ADMIN_API or "
                 "127.0.0.1:9464, the coordinator's http.listen and http.port)");
  sub.add_option("--token-file", o.token_file,
                 "File with the admin API's bearer token (default: CALLGRID_ADMIN_TOKEN_FILE)");
  sub.add_option("-o,--output", o.output, "Output format: text or json")
    ->check(CLI::IsMember({"text", "json"}));
}

} // namespace

void accept_single_dash_options(int argc, char** argv, std::vector<std::string>& storage) {
  if (argc < 2 || std::string_view{argv[1]} != "node")
    return;
  storage.reserve(static_cast<std::size_t>(argc));
  for (int i = 2; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg.size() > 2 && arg[0] == '-' && arg[1] != '-') {
      storage.push_back("-" + std::string{arg});
      argv[i] = storage.back().data();
    }
  }
}

command_runner install_node_command(CLI::App& command) {
  auto o = std::make_shared<node_options>();
  command.require_subcommand(1);
  command.footer("Nomad-style single-dash options work too: node drain fs-2 -deadline 30m -yes.\n"
                 "node drain exits 0 drained, 1 usage/connection/auth error, 2 calls were hung up "
                 "at the deadline, 3 cancelled by another operator, 4 records not flushed in "
                 "time, 130 interrupted (the drain goes on).");

  auto* list = command.add_subcommand(
    "list", "Show every node: member state, eligibility, drain, calls, load, spool, last seen");
  add_common(*list, *o);

  auto* drain = command.add_subcommand(
    "drain", "Drain a node: the edge stops sending it calls, FreeSWITCH pauses inbound, calls "
             "finish (or are hung up with SYSTEM_SHUTDOWN at the deadline), records are flushed");
  add_common(*drain, *o);
  drain->add_option("node", o->node, "The node's name (node.name)")->required();
  drain->add_option("--deadline", o->deadline,
                    "Hang up the calls still up after this long, e.g. 30m, 1h30m (default: the "
                    "coordinator's cluster.drain_deadline)");
  drain->add_flag("--force", o->force, "Hang up every call now (SYSTEM_SHUTDOWN, with records)");
  drain->add_flag("--no-deadline", o->no_deadline, "Wait for the calls however long they last");
  drain->add_flag("--detach", o->detach, "Return once the drain is requested; do not watch");
  drain->add_flag("--yes,-y", o->yes, "Do not ask for confirmation");
  drain->add_option("-m,--message", o->reason, "Why (logged and shown in node list)");
  drain->add_flag("--monitor", o->monitor, "Watch a drain already under way (no new request)");
  drain->add_flag("--disable", o->disable_drain,
                  "Cancel the drain: the node takes calls again once healthy");
  drain->add_option("--flush-timeout", o->flush_timeout,
                    "Seconds to wait for the records once the calls are gone before exit 4")
    ->default_val(120);

  auto* eligibility = command.add_subcommand(
    "eligibility", "Make a node eligible or ineligible for new calls (calls up continue)");
  add_common(*eligibility, *o);
  eligibility->add_option("node", o->node, "The node's name")->required();
  eligibility->add_flag("--enable", o->enable, "Eligible: the edge sends it calls");
  eligibility->add_flag("--disable", o->disable, "Ineligible: admin-disabled at the edge");
  eligibility->add_option("-m,--message", o->reason, "Why (logged and shown in node list)");

  auto* leave = command.add_subcommand(
    "force-leave", "Remove a dead (down or left) node from the cluster and the edge");
  add_common(*leave, *o);
  leave->add_option("node", o->node, "The node's name")->required();
  leave->add_flag("--force", o->force, "Remove it even though it still looks alive");
  leave->add_option("-m,--message", o->reason, "Why (logged)");

  return [o, list, drain, eligibility, leave]() -> int {
    admin_endpoint endpoint;
    if (auto problem = make_admin_endpoint(o->api, o->token_file, endpoint)) {
      std::cerr << "callgridctl: " << *problem << "\n";
      return drain_error;
    }
    struct sigaction action{};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    if (list->parsed())
      return run_list(endpoint, *o);
    if (drain->parsed())
      return run_drain(endpoint, *o);
    if (eligibility->parsed())
      return run_eligibility(endpoint, *o);
    if (leave->parsed())
      return run_force_leave(endpoint, *o);
    return drain_error;
  };
}

} // namespace callgrid::ctl
