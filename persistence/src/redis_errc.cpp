#include "persistence/redis_errc.hpp"

#include <caf/message.hpp>

#include "persistence/errc.hpp"

namespace callgrid::persistence {

const char* to_string(redis_errc code) noexcept {
  switch (code) {
    case redis_errc::none: return "none";
    case redis_errc::redis_timeout: return "redis_timeout";
    case redis_errc::redis_unavailable: return "redis_unavailable";
    case redis_errc::redis_error_reply: return "redis_error_reply";
    case redis_errc::redis_unexpected_reply: return "redis_unexpected_reply";
    case redis_errc::redis_invalid_argument: return "redis_invalid_argument";
  }
  return "unknown";
}

std::string render_redis_error(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() != caf::atom("redis"))
    return render_error(err);
  std::string out = "redis.";
  out += to_string(static_cast<redis_errc>(err.code()));
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    out += ": ";
    out += context.get_as<std::string>(0);
  }
  return out;
}

} // namespace callgrid::persistence
