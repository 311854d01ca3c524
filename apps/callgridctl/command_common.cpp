#include "command_common.hpp"

#include <cstdlib>

namespace callgrid::ctl {

std::string database_conninfo(const std::string& from_option) {
  if (!from_option.empty())
    return from_option;
  if (const char* env = std::getenv("CALLGRID_DATABASE_CONNINFO"))
    return env;
  return {};
}

} // namespace callgrid::ctl
