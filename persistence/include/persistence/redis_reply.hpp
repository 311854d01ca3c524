#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace callgrid::persistence {

/// The kind of a Redis reply (RESP2).
enum class redis_reply_type : uint8_t { nil, integer, string, status, error, array };

/// Returns the name of `type`, e.g. "integer".
[[nodiscard]] const char* to_string(redis_reply_type type) noexcept;

/// One Redis reply as a small owned value: hiredis' reply object is copied into it before the
/// handler runs, so it may be kept, moved to another thread or compared freely. Plain value;
/// not synchronised.
struct redis_reply {
  redis_reply_type type = redis_reply_type::nil;
  /// The number of an `integer` reply.
  int64_t integer = 0;
  /// The bytes of a `string` (bulk), `status` (`+OK`) or `error` (`-ERR ...`) reply.
  std::string text;
  /// The elements of an `array` reply.
  std::vector<redis_reply> elements;

  /// A nil reply (a missing key, a refused `SET NX`).
  [[nodiscard]] static redis_reply make_nil() { return {}; }
  /// An integer reply.
  [[nodiscard]] static redis_reply make_integer(int64_t value);
  /// A bulk string reply.
  [[nodiscard]] static redis_reply make_string(std::string value);
  /// A status reply such as "OK".
  [[nodiscard]] static redis_reply make_status(std::string value);
  /// An error reply such as "NOSCRIPT No matching script".
  [[nodiscard]] static redis_reply make_error(std::string value);
  /// An array reply.
  [[nodiscard]] static redis_reply make_array(std::vector<redis_reply> value);

  /// True for a nil reply.
  [[nodiscard]] bool is_nil() const noexcept { return type == redis_reply_type::nil; }
  /// True for an error reply (`text` holds it, e.g. "NOSCRIPT No matching script").
  [[nodiscard]] bool is_error() const noexcept { return type == redis_reply_type::error; }
  /// True for a status reply with the text "OK".
  [[nodiscard]] bool is_ok() const noexcept {
    return type == redis_reply_type::status && text == "OK";
  }
  /// The integer of an integer reply, or of a string reply holding a decimal integer (what GET
  /// returns for a counter); nothing for anything else.
  [[nodiscard]] std::optional<int64_t> as_integer() const;

  friend bool operator==(const redis_reply&, const redis_reply&) = default;
};

/// Renders `reply` for logs and test failures, e.g. `[1, "abc", nil]`; never fails.
[[nodiscard]] std::string to_string(const redis_reply& reply);

} // namespace callgrid::persistence
