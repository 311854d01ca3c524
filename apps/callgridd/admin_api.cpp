#include "admin_api.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cluster/error.hpp"
#include "config/key_schema.hpp"

namespace callgrid::daemon {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr auto registry_timeout = 10s;

/// Maps a registry error to the HTTP answer an operator's tool can act on.
actors::http_answer registry_failure(const caf::error& err) {
  if (err && err.category() == caf::atom("cluster")) {
    auto code = static_cast<cluster::errc>(err.code());
    int status = 500;
    switch (code) {
      case cluster::errc::unknown_node: status = 404; break;
      case cluster::errc::invalid_request: status = 400; break;
      case cluster::errc::already_drained:
      case cluster::errc::not_draining:
      case cluster::errc::member_alive: status = 409; break;
      case cluster::errc::not_leader: status = 503; break;
      default: status = 500; break;
    }
    return error_answer(status, cluster::to_string(code), cluster::render_error(err));
  }
  return error_answer(500, "internal", cluster::render_error(err));
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Splits "/v1/nodes/NODE/ACTION" into NODE and ACTION ("" when absent); false for other paths.
bool split_node_path(const std::string& path, std::string& node, std::string& action) {
  constexpr std::string_view prefix = "/v1/nodes/";
  if (!path.starts_with(prefix))
    return false;
  auto rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  node = rest.substr(0, slash);
  action = slash == std::string::npos ? std::string{} : rest.substr(slash + 1);
  return !node.empty();
}

/// Asks the registry with a one-shot actor and turns the answer into an HTTP reply.
template <class Result, class Request, class OnSuccess>
void ask_registry(const admin_api_options& options, Request request, actors::http_reply reply,
                  OnSuccess on_success) {
  options.system->spawn([registry = options.registry, request = std::move(request),
                         reply = std::move(reply),
                         on_success = std::move(on_success)](caf::event_based_actor* self) {
    self->request(registry, registry_timeout, request)
      .then([reply, on_success](Result result) { reply(on_success(result)); },
            [reply](caf::error& err) { reply(registry_failure(err)); });
  });
}

std::string text_field(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool bool_field(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

} // namespace

actors::http_answer json_answer(int status, const json& body) {
  return {status, "application/json", body.dump() + "\n"};
}

actors::http_answer error_answer(int status, std::string code, std::string message) {
  return json_answer(status, json{{"error", std::move(code)}, {"message", std::move(message)}});
}

bool bearer_token_matches(const std::string& authorization, const std::string& token) {
  const std::string expected = "Bearer " + token;
  if (token.empty())
    return false;
  unsigned char differ = authorization.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto got = i < authorization.size() ? authorization[i] : '\0';
    differ |= static_cast<unsigned char>(got ^ expected[i]);
  }
  return differ == 0;
}

void serve_admin_request(const admin_api_options& options, const actors::http_request& request,
                         actors::http_reply reply) {
  if (!bearer_token_matches(request.authorization, options.token)) {
    spdlog::warn("admin API: {} {} refused: missing or wrong bearer token", request.method,
                 request.path);
    reply(error_answer(401, "unauthorized", "a valid 'Authorization: Bearer TOKEN' is required"));
    return;
  }
  if (request.method == "GET" && request.path == "/v1/nodes") {
    ask_registry<std::vector<cluster::member_view>>(options, cluster::list_members{}, std::move(reply),
                 [](std::vector<cluster::member_view>& members) {
                   return json_answer(200, json{{"nodes", members}});
                 });
    return;
  }
  std::string node;
  std::string action;
  if (!split_node_path(request.path, node, action)) {
    reply(error_answer(404, "not_found", "no such resource: " + request.path));
    return;
  }
  if (request.method == "GET" && action.empty()) {
    ask_registry<std::vector<cluster::member_view>>(options, cluster::list_members{}, std::move(reply),
                 [node](std::vector<cluster::member_view>& members) {
                   for (const auto& m : members)
                     if (m.node == node)
                       return json_answer(200, json(m));
                   return error_answer(404, "unknown_node", "no node named '" + node + "'");
                 });
    return;
  }
  json body = request.body.empty() ? json::object() : json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    reply(error_answer(400, "invalid_request", "the body must be a JSON object"));
    return;
  }
  auto who = text_field(body, "who");
  auto reason = text_field(body, "reason");
  if (who.empty())
    who = "unknown operator";
  if (action == "drain" && request.method == "POST") {
    cluster::request_drain drain{.node = node, .force = bool_field(body, "force"),
                                 .reason = reason, .who = who};
    auto deadline = text_field(body, "deadline");
    if (drain.force) {
      drain.deadline_unix_ms = now_unix_ms();
    } else if (deadline == "none") {
      drain.deadline_unix_ms = 0;
    } else {
      auto length = deadline.empty() ? std::optional{options.default_deadline}
                                     : config::parse_duration(deadline);
      if (!length) {
        reply(error_answer(400, "invalid_request",
                           "deadline '" + deadline + "' is not a duration such as 30m or 1h30m"));
        return;
      }
      drain.deadline_unix_ms = now_unix_ms() + length->count();
    }
    spdlog::info("admin API: drain of {} requested by {} ({}), deadline {}", node, who,
                 reason.empty() ? "no reason given" : reason,
                 drain.force ? std::string{"now (force)"}
                 : drain.deadline_unix_ms == 0
                   ? std::string{"none"}
                   : deadline.empty() ? config::format_duration(options.default_deadline)
                                      : deadline);
    auto deadline_ms = drain.deadline_unix_ms;
    ask_registry<caf::ok_atom>(options, std::move(drain), std::move(reply), [node, deadline_ms](caf::ok_atom) {
      json accepted{{"node", node}, {"drain_requested", true}};
      accepted["drain_deadline_unix_ms"] = deadline_ms == 0 ? json(nullptr) : json(deadline_ms);
      return json_answer(200, accepted);
    });
    return;
  }
  if (action == "drain" && request.method == "DELETE") {
    spdlog::info("admin API: drain of {} cancelled by {} ({})", node, who,
                 reason.empty() ? "no reason given" : reason);
    ask_registry<caf::ok_atom>(options, cluster::cancel_drain{node, reason, who}, std::move(reply),
                 [node](caf::ok_atom) {
                   return json_answer(200, json{{"node", node}, {"drain_requested", false}});
                 });
    return;
  }
  if (action == "eligibility" && request.method == "POST") {
    auto it = body.find("eligible");
    if (it == body.end() || !it->is_boolean()) {
      reply(error_answer(400, "invalid_request", "the body needs \"eligible\": true or false"));
      return;
    }
    bool eligible = it->get<bool>();
    spdlog::info("admin API: {} made {} by {} ({})", node, eligible ? "eligible" : "ineligible",
                 who, reason.empty() ? "no reason given" : reason);
    ask_registry<caf::ok_atom>(options, cluster::set_eligibility{node, eligible, reason, who}, std::move(reply),
                 [node, eligible](caf::ok_atom) {
                   return json_answer(200, json{{"node", node}, {"eligible", eligible}});
                 });
    return;
  }
  if (action == "force-leave" && request.method == "POST") {
    bool force = bool_field(body, "force");
    spdlog::info("admin API: force-leave of {} by {} ({}){}", node, who,
                 reason.empty() ? "no reason given" : reason, force ? ", forced" : "");
    ask_registry<caf::ok_atom>(options, cluster::force_leave{node, force, reason, who}, std::move(reply),
                 [node](caf::ok_atom) {
                   return json_answer(200, json{{"node", node}, {"removed", true}});
                 });
    return;
  }
  reply(error_answer(405, "method_not_allowed",
                     request.method + " " + request.path + " is not part of the admin API"));
}

} // namespace callgrid::daemon
