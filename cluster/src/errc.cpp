#include "cluster/errc.hpp"

namespace callgrid::cluster {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::unknown_node: return "unknown_node";
    case errc::invalid_request: return "invalid_request";
    case errc::already_drained: return "already_drained";
    case errc::not_draining: return "not_draining";
    case errc::member_alive: return "member_alive";
    case errc::not_leader: return "not_leader";
    case errc::interface_mismatch: return "interface_mismatch";
    case errc::tls_invalid: return "tls_invalid";
  }
  return "unknown";
}

} // namespace callgrid::cluster
