#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

#include "actors/http_endpoint.hpp"
#include "cluster/registry_actor.hpp"

namespace callgrid::daemon {

/// What the coordinator's admin API needs. Owned by the daemon's main; the API only reads it.
struct admin_api_options {
  /// The bearer token every request must carry ("Authorization: Bearer TOKEN").
  std::string token;
  /// The deadline of a drain whose request names none (`cluster.drain_deadline`).
  std::chrono::milliseconds default_deadline{30 * 60'000};
  caf::actor_system* system = nullptr;
  cluster::registry_actor registry;
};

/// Serves the admin API (docs/cluster.md) for a request whose path starts with `/v1/`:
///   GET    /v1/nodes                      every member, {"nodes": [...]}
///   GET    /v1/nodes/NODE                 one member
///   POST   /v1/nodes/NODE/drain           {"deadline": "30m" | "none", "force", "reason", "who"}
///   DELETE /v1/nodes/NODE/drain           {"reason", "who"}: cancels the drain
///   POST   /v1/nodes/NODE/eligibility     {"eligible", "reason", "who"}
///   POST   /v1/nodes/NODE/force-leave     {"force", "reason", "who"}
/// Answers 401 without the token, 400 for a bad body, 404 for an unknown node, 409 when the
/// request does not fit the node's state, 503 on a coordinator that does not lead; errors are
/// {"error": CODE, "message": TEXT}. Every mutating request is logged with who and why. Runs on
/// the HTTP endpoint's thread; each request is handed to a short-lived actor that asks the
/// registry and replies.
void serve_admin_request(const admin_api_options& options, const actors::http_request& request,
                         actors::http_reply reply);

/// Compares the Authorization header with "Bearer TOKEN" in time independent of where they
/// differ. Pure.
[[nodiscard]] bool bearer_token_matches(const std::string& authorization, const std::string& token);

/// The answer `status` with `body` as JSON (one line): how the admin API and the node's call API
/// answer. Pure.
[[nodiscard]] actors::http_answer json_answer(int status, const nlohmann::json& body);

/// The error answer both APIs give: `status` with {"error": CODE, "message": TEXT}. Pure.
[[nodiscard]] actors::http_answer error_answer(int status, std::string code, std::string message);

} // namespace callgrid::daemon
