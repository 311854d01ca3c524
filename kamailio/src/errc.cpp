#include "kamailio/errc.hpp"

namespace callgrid::kamailio {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_list: return "invalid_list";
    case errc::invalid_settings: return "invalid_settings";
    case errc::io_error: return "io_error";
    case errc::rpc_unavailable: return "rpc_unavailable";
    case errc::rpc_timeout: return "rpc_timeout";
    case errc::rpc_failed: return "rpc_failed";
    case errc::rpc_bad_reply: return "rpc_bad_reply";
    case errc::list_mismatch: return "list_mismatch";
  }
  return "unknown";
}

std::string render_error(const error& err) {
  std::string out = "kamailio.";
  out += to_string(err.code);
  if (err.code == errc::rpc_failed) {
    out += " (";
    out += std::to_string(err.rpc_code);
    out += ")";
  }
  if (!err.message.empty()) {
    out += ": ";
    out += err.message;
  }
  return out;
}

} // namespace callgrid::kamailio
