#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

/// Errors of the Kamailio edge component as plain values. kamailio/ stays free of CAF
/// (design.md section 2), so it carries its own small error type instead of `caf::error`; an
/// actor that uses it turns an `error` into a `caf::error` at its boundary.
///
/// ```
/// auto reply = client.call("core.version");
/// if (!reply)
///   std::cerr << kamailio::render_error(reply.error()) << '\n';
/// ```
namespace callgrid::kamailio {

/// What went wrong (category "kamailio").
enum class errc : std::uint8_t {
  /// Not an error.
  none = 0,
  /// A dispatcher list does not parse or fails validation; the message lists the problems.
  invalid_list,
  /// Edge settings that cannot be rendered into a Kamailio configuration.
  invalid_settings,
  /// A file system call failed (open, write, fsync, rename); the message names the path and
  /// the errno text.
  io_error,
  /// The control socket could not be created, or sending to Kamailio's socket failed (Kamailio
  /// down, wrong path, permission).
  rpc_unavailable,
  /// No reply came within the call's time budget.
  rpc_timeout,
  /// Kamailio answered with a JSON-RPC error (`rpc_code` and the message hold what it said,
  /// e.g. 500 "Ongoing reload").
  rpc_failed,
  /// The reply is not a JSON-RPC 2.0 document of the expected shape.
  rpc_bad_reply,
  /// After a reload, Kamailio's `dispatcher.list` differs from the list file written.
  list_mismatch,
};

/// The name of `code`, e.g. "rpc_timeout". Never fails.
[[nodiscard]] const char* to_string(errc code) noexcept;

/// One error: the code, a message saying what failed and where (path, method), and for
/// `rpc_failed` the code Kamailio answered with. Plain data.
struct error {
  errc code = errc::none;
  std::string message;
  /// The JSON-RPC error code Kamailio gave (`rpc_failed` only), e.g. 500.
  int rpc_code = 0;

  friend bool operator==(const error&, const error&) = default;
};

/// Renders an error for humans, e.g. "kamailio.rpc_timeout: dispatcher.reload: no reply on
/// /run/kamailio/kamailio_rpc.sock within 2000 ms". Never fails.
[[nodiscard]] std::string render_error(const error& err);

/// A value or an error, for the functions of this component. Minimal stand-in for
/// `std::expected` (C++23): check with `if (r)`, then use `*r` or `r.error()`.
template <class T>
class [[nodiscard]] result {
public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  result(kamailio::error err) : state_(std::in_place_index<1>, std::move(err)) {}

  /// Whether a value is held.
  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; only when `has_value()`.
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only when `!has_value()`.
  [[nodiscard]] const kamailio::error& error() const& { return std::get<1>(state_); }

private:
  std::variant<T, kamailio::error> state_;
};

/// An operation that returns nothing on success: `std::nullopt`, or the error.
using status = std::optional<error>;

/// Builds an error. Never fails.
[[nodiscard]] inline error make_error(errc code, std::string message, int rpc_code = 0) {
  return error{code, std::move(message), rpc_code};
}

} // namespace callgrid::kamailio
