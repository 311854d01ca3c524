#pragma once

#include <string>
#include <string_view>

/// Text as PostgreSQL and JSON readers accept it: valid UTF-8. Caller names and numbers come
/// from the network and may hold any byte; these helpers keep such bytes from failing a whole
/// batch or a JSON document.
namespace callgrid::persistence {

/// Whether `s` is valid UTF-8 without NUL bytes: what PostgreSQL accepts in text.
[[nodiscard]] bool acceptable_text(std::string_view s) noexcept;

/// `s` with each byte that is not part of valid UTF-8, and each NUL, replaced by U+FFFD.
[[nodiscard]] std::string repaired_text(std::string_view s);

/// Appends `text` to `out` as a JSON string: quotes, backslashes and control characters
/// escaped, bytes that are not valid UTF-8 replaced by U+FFFD (so any JSON parser reads it).
void append_json_string(std::string& out, std::string_view text);

} // namespace callgrid::persistence
