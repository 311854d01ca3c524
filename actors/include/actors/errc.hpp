#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace callgrid::actors {

/// Error codes of the engine (category atom "engine"). Each error carries a context string
/// saying what failed, where, and how to fix it.
enum class errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// An address in the configuration is not usable (not an IP address).
  invalid_address,
  /// A listening socket could not be bound (address in use, permission).
  listen_failed,
  /// A flow document from the catalog or a file failed to load.
  invalid_flow,
  /// A request to the engine is malformed or names something unknown (route, flow); the
  /// context says what.
  invalid_request,
  /// The node is draining or drained and places no new calls.
  node_draining,
  /// The ESL link to FreeSWITCH is not up; nothing can be sent to it.
  esl_not_ready,
  /// The node already carries `node.capacity` calls.
  at_capacity,
};

/// Returns the name of `code`, e.g. "listen_failed".
[[nodiscard]] const char* to_string(errc code) noexcept;

/// Renders any error for humans: engine errors as "engine.listen_failed: <context>", the other
/// components' errors by their own renderers.
[[nodiscard]] std::string render_error(const caf::error& err);

} // namespace callgrid::actors

CAF_ERROR_CODE_ENUM(callgrid::actors::errc, "engine")
