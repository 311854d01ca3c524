#pragma once

#include <string>
#include <string_view>

namespace callgrid::config::internal {

/// A libpq connection string with every password replaced by `mask`: the `password` keyword
/// (`password=secret`, `password = 'it\'s'`), the password of a `postgresql://user:pw@host` URI
/// and a `password=` URI parameter. Pure; never fails (text that is not a conninfo is returned
/// with nothing masked).
[[nodiscard]] std::string mask_conninfo(std::string_view conninfo, std::string_view mask);

} // namespace callgrid::config::internal
