#include "actors/errc.hpp"

#include <caf/message.hpp>

#include "esl/errc.hpp"
#include "persistence/errc.hpp"

namespace callgrid::actors {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none:
      return "none";
    case errc::invalid_address:
      return "invalid_address";
    case errc::listen_failed:
      return "listen_failed";
    case errc::invalid_flow:
      return "invalid_flow";
    case errc::invalid_request:
      return "invalid_request";
    case errc::node_draining:
      return "node_draining";
    case errc::esl_not_ready:
      return "esl_not_ready";
    case errc::at_capacity:
      return "at_capacity";
  }
  return "unknown";
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == caf::atom("esl"))
    return esl::render_error(err);
  if (err.category() == caf::atom("db"))
    return persistence::render_error(err);
  if (err.category() != caf::atom("engine"))
    return caf::to_string(err);
  std::string out = "engine.";
  out += to_string(static_cast<errc>(err.code()));
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace callgrid::actors
