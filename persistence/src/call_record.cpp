#include "persistence/call_record.hpp"

namespace callgrid::persistence {

const char* to_string(call_direction value) noexcept {
  switch (value) {
    case call_direction::inbound: return "inbound";
    case call_direction::outbound: return "outbound";
  }
  return "unknown";
}

const char* to_string(esl_mode value) noexcept {
  switch (value) {
    case esl_mode::inbound: return "inbound";
    case esl_mode::outbound: return "outbound";
  }
  return "unknown";
}

const char* to_string(end_reason value) noexcept {
  switch (value) {
    case end_reason::normal: return "normal";
    case end_reason::node_drain: return "node_drain";
    case end_reason::node_lost: return "node_lost";
    case end_reason::engine_restart: return "engine_restart";
  }
  return "unknown";
}

} // namespace callgrid::persistence
