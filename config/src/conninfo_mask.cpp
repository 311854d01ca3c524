#include "conninfo_mask.hpp"

#include <cctype>

namespace callgrid::config::internal {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string mask_uri(std::string_view uri, std::size_t scheme_end, std::string_view mask) {
  std::string out{uri.substr(0, scheme_end)};
  auto rest = uri.substr(scheme_end);
  auto authority_end = rest.find_first_of("/?");
  auto authority = rest.substr(0, authority_end);
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    auto colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out += userinfo.substr(0, colon + 1);
      out += mask;
      out += authority.substr(at);
    } else {
      out += authority;
    }
  } else {
    out += authority;
  }
  if (authority_end == std::string_view::npos)
    return out;
  auto tail = rest.substr(authority_end);
  // Query parameters: password=...&...
  std::size_t pos = 0;
  while (pos < tail.size()) {
    auto next = tail.find_first_of("?&", pos);
    if (next == std::string_view::npos) {
      out += tail.substr(pos);
      break;
    }
    out += tail.substr(pos, next + 1 - pos);
    pos = next + 1;
    if (tail.substr(pos).starts_with("password=")) {
      out += "password=";
      out += mask;
      auto end = tail.find('&', pos);
      pos = end == std::string_view::npos ? tail.size() : end;
    }
  }
  return out;
}

} // namespace

std::string mask_conninfo(std::string_view conninfo, std::string_view mask) {
  for (std::string_view scheme : {"postgresql://", "postgres://"})
    if (conninfo.starts_with(scheme))
      return mask_uri(conninfo, scheme.size(), mask);
  std::string out;
  std::size_t pos = 0;
  while (pos < conninfo.size()) {
    // Copy one keyword up to '=' (and the spaces around it), then its value.
    auto key_start = pos;
    while (pos < conninfo.size() && is_space(conninfo[pos]))
      ++pos;
    auto name_start = pos;
    while (pos < conninfo.size() && conninfo[pos] != '=' && !is_space(conninfo[pos]))
      ++pos;
    auto name = conninfo.substr(name_start, pos - name_start);
    while (pos < conninfo.size() && is_space(conninfo[pos]))
      ++pos;
    if (pos < conninfo.size() && conninfo[pos] == '=')
      ++pos;
    while (pos < conninfo.size() && is_space(conninfo[pos]))
      ++pos;
    out += conninfo.substr(key_start, pos - key_start);
    auto value_start = pos;
    if (pos < conninfo.size() && conninfo[pos] == '\'') {
      ++pos;
      while (pos < conninfo.size() && conninfo[pos] != '\'') {
        if (conninfo[pos] == '\\' && pos + 1 < conninfo.size())
          ++pos;
        ++pos;
      }
      if (pos < conninfo.size())
        ++pos;
    } else {
      while (pos < conninfo.size() && !is_space(conninfo[pos])) {
        if (conninfo[pos] == '\\' && pos + 1 < conninfo.size())
          ++pos;
        ++pos;
      }
    }
    if (name == "password")
      out += mask;
    else
      out += conninfo.substr(value_start, pos - value_start);
  }
  return out;
}

} // namespace callgrid::config::internal
