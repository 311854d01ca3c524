#include "ivr/errc.hpp"

#include <caf/message.hpp>

namespace callgrid::ivr {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::unknown_time_zone: return "unknown_time_zone";
    case errc::invalid_time_zone_file: return "invalid_time_zone_file";
    case errc::unreadable_flow_file: return "unreadable_flow_file";
  }
  return "unknown";
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() != caf::atom("ivr"))
    return caf::to_string(err);
  std::string out = "ivr.";
  out += to_string(static_cast<errc>(err.code()));
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace callgrid::ivr
