#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace callgrid::persistence {

/// Error codes of the Redis client and the hot state on top of it (category atom "redis"). Every
/// error built from them carries a context string naming the command or the operation and, for
/// connection problems, the server address and hiredis' message.
enum class redis_errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// No reply arrived within the command timeout; a reply that arrives later is dropped.
  redis_timeout,
  /// There is no connection (not yet connected, lost, reconnecting or stopped); commands in
  /// flight when the connection was lost fail with it too.
  redis_unavailable,
  /// Redis answered with an error reply (`-ERR ...`); the context holds it.
  redis_error_reply,
  /// Redis answered with a reply of a type the operation does not expect.
  redis_unexpected_reply,
  /// The arguments were refused before anything was sent (empty command, bad TTL, ...).
  redis_invalid_argument,
};

/// Returns the name of `code`, e.g. "redis_timeout".
[[nodiscard]] const char* to_string(redis_errc code) noexcept;

/// Renders a Redis error for humans, e.g. "redis.redis_timeout: GET after 200 ms"; errors of
/// other categories go to `render_error` of errc.hpp or CAF.
[[nodiscard]] std::string render_redis_error(const caf::error& err);

} // namespace callgrid::persistence

CAF_ERROR_CODE_ENUM(callgrid::persistence::redis_errc, "redis")
