#include "ivr/diagnostic.hpp"

namespace callgrid::ivr {

std::string render(const diagnostic& d) {
  std::string out = d.where.file.empty() ? std::string{"<flow>"} : d.where.file;
  if (d.where.line > 0) {
    out += ':';
    out += std::to_string(d.where.line);
    out += ':';
    out += std::to_string(d.where.column);
  }
  out += d.level == severity::error ? ": error: " : ": warning: ";
  if (!d.node.empty()) {
    out += "node '";
    out += d.node;
    out += "': ";
  }
  out += d.message;
  return out;
}

} // namespace callgrid::ivr
