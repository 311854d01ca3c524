#pragma once

#include <string>

#include <caf/fwd.hpp>

#include "actors/http_endpoint.hpp"
#include "actors/node_supervisor.hpp"

namespace callgrid::daemon {

/// What the node's call API needs. Owned by the daemon's main; the API only reads it.
struct call_api_options {
  /// The bearer token every request must carry (cluster.admin_token_file). Empty: the API is
  /// off and answers 404, since placing calls costs money and must never be open.
  std::string token;
  caf::actor_system* system = nullptr;
  actors::node_supervisor_actor supervisor;
};

/// Serves `POST /v1/calls` on a node daemon (docs/callgridd.md): places an outbound call.
/// The body is a JSON object:
///   {"to": "sofia/gateway/carrier/4930123", "route": "1000" | "flow": "main_menu",
///    "caller_id": "4930999", "caller_id_name": "Callgrid", "variables": {"k": "v"},
///    "timeout": 60, "campaign": "17"}
/// Answers 202 {"uuid", "job_uuid"} once FreeSWITCH was asked (the call's fate comes later, in
/// its record); 400 for a bad body (the message says what is wrong), 401 without the token,
/// 404 when the API is off, 409 while the node drains, 503 when the ESL link is down or the
/// node is at capacity; errors are {"error": CODE, "message": TEXT}. Runs on the HTTP
/// endpoint's thread; each request is handed to a short-lived actor that asks the node
/// supervisor and replies.
void serve_call_request(const call_api_options& options, const actors::http_request& request,
                        actors::http_reply reply);

/// Turns a `POST /v1/calls` body into a request for the supervisor, or says what is wrong with
/// it; a body without `timeout` leaves it 0, for the supervisor's `node.answer_timeout`. Pure.
[[nodiscard]] caf::expected<actors::originate_request> parse_call_request(const std::string& body);

} // namespace callgrid::daemon
