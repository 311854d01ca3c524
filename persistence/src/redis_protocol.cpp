#include "persistence/redis_protocol.hpp"

#include <charconv>
#include <cstddef>

namespace callgrid::persistence {

namespace {

/// Appends "<prefix><number>\r\n".
void append_count(std::string& out, char prefix, std::size_t number) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out += prefix;
  out.append(digits, end);
  out += "\r\n";
}

} // namespace

void append_redis_command(std::string& out, std::span<const std::string> args) {
  // Each count line is at most 1 + 20 digits + 2 bytes.
  std::size_t size = 23;
  for (const auto& a : args)
    size += 23 + a.size() + 2;
  out.reserve(out.size() + size);
  append_count(out, '*', args.size());
  for (const auto& a : args) {
    append_count(out, '$', a.size());
    out += a;
    out += "\r\n";
  }
}

} // namespace callgrid::persistence
