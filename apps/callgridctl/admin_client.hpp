#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace callgrid::ctl {

/// Where the coordinator's admin API is and how to authenticate to it.
struct admin_endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 9464;
  /// The bearer token (the content of the token file, trimmed).
  std::string token;
  std::chrono::milliseconds timeout{10'000};
};

/// One answer of the admin API: the HTTP status and the body. `status` is 0 when no answer came
/// (connection refused, timeout); `error` then says why.
struct admin_answer {
  int status = 0;
  std::string body;
  std::string error;
};

/// Sends one request to the admin API and waits for its answer, on the calling thread. Never
/// throws: a transport failure is an answer with status 0 and the reason in `error`.
[[nodiscard]] admin_answer admin_request(const admin_endpoint& endpoint, const std::string& method,
                                         const std::string& target, const std::string& body = {});

/// Builds the endpoint from `--api HOST:PORT` (or CALLGRID_ADMIN_API, or 127.0.0.1:9464) and
/// `--token-file` (or CALLGRID_ADMIN_TOKEN_FILE). Returns the problem as text when the address
/// is malformed or the token file cannot be read or is empty.
[[nodiscard]] std::optional<std::string> make_admin_endpoint(const std::string& api_option,
                                                             const std::string& token_file_option,
                                                             admin_endpoint& out);

} // namespace callgrid::ctl
