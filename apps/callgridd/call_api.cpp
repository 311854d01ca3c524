#include "call_api.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/errc.hpp"
#include "admin_api.hpp"

namespace callgrid::daemon {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr auto supervisor_timeout = 10s;

/// Maps the supervisor's refusal to the answer an operator's tool can act on.
actors::http_answer refusal(const caf::error& err) {
  if (err && err.category() == caf::atom("engine")) {
    auto code = static_cast<actors::errc>(err.code());
    int status = 500;
    switch (code) {
      case actors::errc::invalid_request: status = 400; break;
      case actors::errc::node_draining: status = 409; break;
      case actors::errc::esl_not_ready:
      case actors::errc::at_capacity: status = 503; break;
      default: status = 500; break;
    }
    return error_answer(status, actors::to_string(code), actors::render_error(err));
  }
  return error_answer(500, "internal", actors::render_error(err));
}

caf::error bad_body(std::string what) {
  return caf::make_error(actors::errc::invalid_request, std::move(what));
}

} // namespace

caf::expected<actors::originate_request> parse_call_request(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return bad_body("the body must be a JSON object such as {\"to\": \"loopback/5000\", "
                    "\"route\": \"1000\"}");
  actors::originate_request request;
  for (const auto& [key, value] : doc.items()) {
    auto text = [&, &key = key, &value = value](std::string& out) -> caf::error {
      if (!value.is_string())
        return bad_body("\"" + key + "\" must be a string");
      out = value.get<std::string>();
      return caf::none;
    };
    caf::error problem;
    if (key == "to")
      problem = text(request.destination);
    else if (key == "route")
      problem = text(request.route_number);
    else if (key == "flow")
      problem = text(request.flow_name);
    else if (key == "caller_id")
      problem = text(request.caller_id_number);
    else if (key == "caller_id_name")
      problem = text(request.caller_id_name);
    else if (key == "campaign")
      problem = text(request.campaign);
    else if (key == "timeout") {
      if (!value.is_number_integer())
        return bad_body("\"timeout\" must be a whole number of seconds");
      auto seconds = value.get<int64_t>();
      if (seconds < 1 || seconds > 3600)
        return bad_body("\"timeout\" must be 1 to 3600 seconds");
      request.timeout_seconds = static_cast<int32_t>(seconds);
    } else if (key == "variables") {
      if (!value.is_object())
        return bad_body("\"variables\" must be an object of names and string values");
      for (const auto& [name, v] : value.items()) {
        if (!v.is_string())
          return bad_body("the variable \"" + name + "\" must have a string value");
        request.variables.emplace_back(name, v.get<std::string>());
      }
    } else {
      return bad_body("unknown field \"" + key
                      + "\" (known: to, route, flow, caller_id, caller_id_name, variables, "
                        "timeout, campaign)");
    }
    if (problem)
      return problem;
  }
  if (request.destination.empty())
    return bad_body("\"to\" (the dial string, e.g. sofia/gateway/carrier/4930123) is missing");
  if (request.route_number.empty() == request.flow_name.empty())
    return bad_body("give exactly one of \"route\" (a destination number of the route table) "
                    "and \"flow\" (a flow name)");
  return request;
}

void serve_call_request(const call_api_options& options, const actors::http_request& request,
                        actors::http_reply reply) {
  if (options.token.empty()) {
    reply(error_answer(404, "not_found",
                       "the call API is off: set cluster.admin_token_file on this node"));
    return;
  }
  if (!bearer_token_matches(request.authorization, options.token)) {
    spdlog::warn("call API: {} {} refused: missing or wrong bearer token", request.method,
                 request.path);
    reply(error_answer(401, "unauthorized", "a valid 'Authorization: Bearer TOKEN' is required"));
    return;
  }
  if (request.method != "POST") {
    reply(error_answer(405, "method_not_allowed", "only POST /v1/calls is served"));
    return;
  }
  auto parsed = parse_call_request(request.body);
  if (!parsed) {
    reply(refusal(parsed.error()));
    return;
  }
  spdlog::info("call API: originate to {} requested", parsed->destination);
  options.system->spawn([supervisor = options.supervisor, originate = std::move(*parsed),
                         reply = std::move(reply)](caf::event_based_actor* self) {
    self->request(supervisor, supervisor_timeout, originate)
      .then(
        [reply](const actors::originate_reply& accepted) {
          reply(json_answer(202, json{{"uuid", accepted.uuid}, {"job_uuid", accepted.job_uuid}}));
        },
        [reply](caf::error& err) { reply(refusal(err)); });
  });
}

} // namespace callgrid::daemon
