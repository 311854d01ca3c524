#include "persistence/errc.hpp"

#include <caf/message.hpp>

namespace callgrid::persistence {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::spool_io_error: return "spool_io_error";
    case errc::spool_full: return "spool_full";
    case errc::spool_corrupt: return "spool_corrupt";
    case errc::spool_locked: return "spool_locked";
    case errc::spool_broken: return "spool_broken";
    case errc::record_decode_failed: return "record_decode_failed";
    case errc::unsupported_record_version: return "unsupported_record_version";
    case errc::record_too_large: return "record_too_large";
    case errc::invalid_acknowledgement: return "invalid_acknowledgement";
    case errc::db_unavailable: return "db_unavailable";
    case errc::db_query_failed: return "db_query_failed";
    case errc::schema_too_old: return "schema_too_old";
    case errc::schema_too_new: return "schema_too_new";
    case errc::migration_failed: return "migration_failed";
  }
  return "unknown";
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() != caf::atom("db"))
    return caf::to_string(err);
  std::string out = "db.";
  out += to_string(static_cast<errc>(err.code()));
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace callgrid::persistence
