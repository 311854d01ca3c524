#include "cluster/wire.hpp"

#include "cluster/error.hpp"

namespace callgrid::cluster {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::callgrid_cluster>();
  add_error_category(cfg);
}

} // namespace callgrid::cluster
