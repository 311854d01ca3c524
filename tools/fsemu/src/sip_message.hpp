#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

/// SIP messages (RFC 3261) for fsemu's user agent server: a parser for one UDP datagram and the
/// small URI and header-parameter helpers the UAS needs. Pure and dependency-free (it is also
/// compiled into the `sip_message_fuzz` libFuzzer target).
///
/// ```
/// auto parsed = fsemu::parse_sip_message(datagram);
/// if (auto* msg = std::get_if<fsemu::sip_message>(&parsed))
///   if (msg->is_request() && msg->method == "INVITE") { auto call_id = msg->header("Call-ID"); }
/// ```
namespace callgrid::fsemu {

/// Why a datagram is not a SIP message.
enum class sip_parse_errc : std::uint8_t {
  /// No start line ending in CRLF or LF.
  truncated = 1,
  /// The start line is neither "METHOD URI SIP/2.0" nor "SIP/2.0 CODE REASON".
  bad_start_line,
  /// A header line without a colon, or with an empty name.
  bad_header,
  /// Content-Length is not a number, or larger than the body that came.
  bad_content_length,
  /// Call-ID, CSeq, From, To or Via is missing or CSeq is malformed.
  missing_header,
};

/// The name of `code`, e.g. "bad_start_line". Never fails.
[[nodiscard]] std::string_view to_string(sip_parse_errc code) noexcept;

/// A parse error: the code and what was wrong.
struct sip_parse_error {
  sip_parse_errc code = sip_parse_errc::truncated;
  std::string detail;
};

/// One header line, name as sent (compact forms expanded: "v" becomes "Via"), value trimmed.
struct sip_header {
  std::string name;
  std::string value;
};

/// One parsed SIP request or response. Plain data, owned by the caller.
struct sip_message {
  /// The request method ("INVITE"), empty for a response.
  std::string method;
  /// The Request-URI of a request.
  std::string request_uri;
  /// The status code of a response (0 for a request) and its reason phrase.
  int status = 0;
  std::string reason;
  /// The headers in order; comma-separated Via, Route and Record-Route values stay one header.
  std::vector<sip_header> headers;
  /// The body (Content-Length bytes, or the rest of the datagram without Content-Length).
  std::string body;
  /// The CSeq number and method.
  std::uint32_t cseq = 0;
  std::string cseq_method;

  [[nodiscard]] bool is_request() const noexcept { return !method.empty(); }

  /// The value of the first header called `name` (case-insensitive), or empty.
  [[nodiscard]] std::string_view header(std::string_view name) const;

  /// Every value of headers called `name`, with comma-separated lists split (outside quotes and
  /// angle brackets), in order: for Via, Route and Record-Route.
  [[nodiscard]] std::vector<std::string> header_values(std::string_view name) const;
};

/// Parses one datagram. Never throws; a malformed message is a `sip_parse_error`.
[[nodiscard]] std::variant<sip_message, sip_parse_error> parse_sip_message(std::string_view text);

/// The parts of a SIP URI the UAS needs. Plain data.
struct sip_uri {
  std::string user;
  std::string host;
  /// 5060 when the URI has no port.
  std::uint16_t port = 5060;
  /// Whether the URI carries the `lr` parameter (a loose router).
  bool loose_route = false;
};

/// The URI inside a name-addr or addr-spec (`"Bob" <sip:bob@h:5070;lr>;tag=1` or
/// `sip:bob@h`), or `nullopt` when there is no `sip:`/`sips:` URI. Never throws.
[[nodiscard]] std::optional<sip_uri> parse_sip_uri(std::string_view field);

/// The URI text of a name-addr or addr-spec: what is between `<` and `>`, or the field up to
/// its first `;` without brackets. Never fails.
[[nodiscard]] std::string_view uri_text(std::string_view field);

/// The value of header parameter `name` (`;tag=abc` → "abc") outside the URI's brackets;
/// empty when absent, `std::nullopt` distinguishes absence from `;name` without a value.
[[nodiscard]] std::optional<std::string> header_param(std::string_view field,
                                                      std::string_view name);

} // namespace callgrid::fsemu
