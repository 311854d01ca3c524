#include "cluster/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

#include "persistence/errc.hpp"

namespace callgrid::cluster {

namespace {

std::string render_cluster(uint8_t code, const caf::message& context) {
  std::string out = "cluster.";
  out += to_string(static_cast<errc>(code));
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace

caf::error make_cluster_error(errc code, std::string context) {
  return caf::make_error(code, std::move(context));
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == caf::atom("db"))
    return persistence::render_error(err);
  if (err.category() != caf::atom("cluster"))
    return caf::to_string(err);
  return render_cluster(err.code(), err.context());
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("cluster"),
                         [](uint8_t code, caf::atom_value, const caf::message& context) {
                           return render_cluster(code, context);
                         });
}

} // namespace callgrid::cluster
