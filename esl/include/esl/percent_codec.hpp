#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callgrid::esl {

/// Percent-decodes `encoded` into `out`, which must have room for `encoded.size()` bytes, and
/// returns the decoded length. FreeSWITCH url-encodes every value of a text/event-plain body
/// and of the outbound `connect` reply this way. A '%' not followed by two hex digits is kept
/// as it is; '+' is not a space (FreeSWITCH encodes spaces as %20). Never fails.
std::size_t percent_decode(std::string_view encoded, char* out) noexcept;

/// Convenience form of `percent_decode` returning a new string.
[[nodiscard]] std::string percent_decode(std::string_view encoded);

/// Appends `value` to `out` encoded as FreeSWITCH encodes event values: control and 8-bit
/// bytes, space and `"#%&+:;<=>?@[\]^`{|}` become %XX (upper-case hex); the rest stays.
void percent_encode(std::string_view value, std::string& out);

} // namespace callgrid::esl
