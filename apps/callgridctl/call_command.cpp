#include "call_command.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "admin_client.hpp"

namespace callgrid::ctl {

namespace {

using json = nlohmann::json;

struct originate_options {
  std::string api;
  std::string token_file;
  std::string output = "text";
  std::string to;
  std::string route;
  std::string flow;
  std::string caller_id;
  std::string caller_id_name;
  std::vector<std::string> variables;
  /// Unset: the node's `node.answer_timeout` applies.
  std::optional<int> timeout;
  std::string campaign;
};

/// "http://127.0.0.1:9464/" and "127.0.0.1:9464" both name the node's HTTP endpoint.
std::string host_and_port(std::string api) {
  for (std::string_view scheme : {"http://", "https://"})
    if (api.starts_with(scheme))
      api.erase(0, scheme.size());
  while (!api.empty() && api.back() == '/')
    api.pop_back();
  return api;
}

/// The request body, or the problem with the command line.
std::optional<json> make_body(const originate_options& o, std::string& problem) {
  if (o.route.empty() == o.flow.empty()) {
    problem = "give exactly one of --route NUMBER and --flow NAME";
    return std::nullopt;
  }
  json body{{"to", o.to}};
  if (o.timeout)
    body["timeout"] = *o.timeout;
  if (!o.route.empty())
    body["route"] = o.route;
  else
    body["flow"] = o.flow;
  if (!o.caller_id.empty())
    body["caller_id"] = o.caller_id;
  if (!o.caller_id_name.empty())
    body["caller_id_name"] = o.caller_id_name;
  if (!o.campaign.empty())
    body["campaign"] = o.campaign;
  json variables = json::object();
  for (const auto& item : o.variables) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      problem = "--var '" + item + "' is not NAME=VALUE";
      return std::nullopt;
    }
    variables[item.substr(0, eq)] = item.substr(eq + 1);
  }
  if (!variables.empty())
    body["variables"] = std::move(variables);
  return body;
}

std::string failure_text(const admin_answer& answer) {
  if (answer.status == 0)
    return answer.error;
  if (answer.status == 401)
    return "the node refused the token (HTTP 401): check --token-file against its "
           "cluster.admin_token_file";
  auto doc = json::parse(answer.body, nullptr, false);
  std::string text = !doc.is_discarded() && doc.is_object() && doc.contains("message")
                       && doc["message"].is_string()
                       ? doc["message"].get<std::string>()
                       : answer.body;
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  return "HTTP " + std::to_string(answer.status) + ": " + text;
}

int run_originate(const originate_options& o) {
  std::string problem;
  auto body = make_body(o, problem);
  if (!body) {
    std::cerr << "callgridctl: call originate: " << problem << "\n";
    return exit_usage;
  }
  admin_endpoint endpoint;
  if (auto bad = make_admin_endpoint(host_and_port(o.api), o.token_file, endpoint)) {
    std::cerr << "callgridctl: call originate: " << *bad << "\n";
    return exit_failure;
  }
  auto answer = admin_request(endpoint, "POST", "/v1/calls", body->dump());
  if (answer.status != 202) {
    std::cerr << "callgridctl: call originate to " << o.to << ": " << failure_text(answer)
              << "\n";
    return exit_failure;
  }
  auto accepted = json::parse(answer.body, nullptr, false);
  if (accepted.is_discarded() || !accepted.is_object()) {
    std::cerr << "callgridctl: call originate: the node answered no JSON object\n";
    return exit_failure;
  }
  if (o.output == "json")
    std::cout << accepted.dump() << "\n";
  else
    std::cout << "originating " << o.to << ": call " << accepted.value("uuid", std::string{})
              << ", job " << accepted.value("job_uuid", std::string{})
              << " (its record tells how it ended)\n";
  return exit_ok;
}

} // namespace

command_runner install_call_command(CLI::App& command) {
  auto o = std::make_shared<originate_options>();
  command.require_subcommand(1);
  auto* originate = command.add_subcommand(
    "originate", "Place an outbound call on a node; once answered it runs a route or a flow");
  originate->add_option("--api", o->api,
                        "The node's HTTP endpoint as HOST:PORT or http://HOST:PORT (default: "
                        "CALLGRID_ADMIN_API or 127.0.0.1:9464, the node's http.listen and "
                        "http.port)");
  originate->add_option("--token-file", o->token_file,
                        "File with the bearer token of the node's cluster.admin_token_file "
                        "(default: CALLGRID_ADMIN_TOKEN_FILE)");
  originate->add_option("--to", o->to,
                        "FreeSWITCH dial string, e.g. sofia/gateway/carrier/4930123")
    ->required();
  originate->add_option("--route", o->route,
                        "Run the route this destination number matches in the route table");
  originate->add_option("--flow", o->flow, "Run this IVR flow (by name)");
  originate->add_option("--caller-id", o->caller_id, "Caller id number presented");
  originate->add_option("--caller-id-name", o->caller_id_name, "Caller id name presented");
  originate->add_option("--var", o->variables,
                        "Channel variable NAME=VALUE for the new channel (repeatable)");
  originate->add_option("--timeout", o->timeout,
                        "Seconds the far end may ring (1 to 3600); default: the node's "
                        "node.answer_timeout (60 s unless configured)")
    ->check(CLI::Range(1, 3600));
  originate->add_option("--campaign", o->campaign, "Campaign id the call belongs to");
  originate->add_option("-o,--output", o->output, "Output format: text or json")
    ->check(CLI::IsMember({"text", "json"}));
  return [o]() -> int { return run_originate(*o); };
}

} // namespace callgrid::ctl
