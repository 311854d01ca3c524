#include "persistence/redis_reply.hpp"

#include <charconv>

namespace callgrid::persistence {

const char* to_string(redis_reply_type type) noexcept {
  switch (type) {
    case redis_reply_type::nil: return "nil";
    case redis_reply_type::integer: return "integer";
    case redis_reply_type::string: return "string";
    case redis_reply_type::status: return "status";
    case redis_reply_type::error: return "error";
    case redis_reply_type::array: return "array";
  }
  return "unknown";
}

redis_reply redis_reply::make_integer(int64_t value) {
  redis_reply r;
  r.type = redis_reply_type::integer;
  r.integer = value;
  return r;
}

redis_reply redis_reply::make_string(std::string value) {
  redis_reply r;
  r.type = redis_reply_type::string;
  r.text = std::move(value);
  return r;
}

redis_reply redis_reply::make_status(std::string value) {
  redis_reply r;
  r.type = redis_reply_type::status;
  r.text = std::move(value);
  return r;
}

redis_reply redis_reply::make_error(std::string value) {
  redis_reply r;
  r.type = redis_reply_type::error;
  r.text = std::move(value);
  return r;
}

redis_reply redis_reply::make_array(std::vector<redis_reply> value) {
  redis_reply r;
  r.type = redis_reply_type::array;
  r.elements = std::move(value);
  return r;
}

std::optional<int64_t> redis_reply::as_integer() const {
  if (type == redis_reply_type::integer)
    return integer;
  if (type != redis_reply_type::string || text.empty())
    return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::string to_string(const redis_reply& reply) {
  switch (reply.type) {
    case redis_reply_type::nil: return "nil";
    case redis_reply_type::integer: return std::to_string(reply.integer);
    case redis_reply_type::string: return '"' + reply.text + '"';
    case redis_reply_type::status: return "+" + reply.text;
    case redis_reply_type::error: return "-" + reply.text;
    case redis_reply_type::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < reply.elements.size(); ++i) {
        if (i > 0)
          out += ", ";
        out += to_string(reply.elements[i]);
      }
      return out + "]";
    }
  }
  return "?";
}

} // namespace callgrid::persistence
