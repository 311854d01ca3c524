#include "sip_message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include "ascii_text.hpp"

namespace callgrid::fsemu {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

/// RFC 3261 section 7.3.3's compact header names.
std::string_view expand_compact(std::string_view name) {
  static constexpr std::array<std::pair<char, std::string_view>, 10> compact{{
    {'v', "Via"},
    {'f', "From"},
    {'t', "To"},
    {'i', "Call-ID"},
    {'m', "Contact"},
    {'l', "Content-Length"},
    {'c', "Content-Type"},
    {'k', "Supported"},
    {'s', "Subject"},
    {'e', "Content-Encoding"},
  }};
  if (name.size() != 1)
    return name;
  auto c = static_cast<char>(std::tolower(static_cast<unsigned char>(name.front())));
  for (const auto& [letter, full] : compact)
    if (letter == c)
      return full;
  return name;
}

/// The next line of `text` from `pos` (without CRLF/LF); `pos` moves past it. nullopt when no
/// line end follows.
std::optional<std::string_view> next_line(std::string_view text, std::size_t& pos) {
  auto end = text.find('\n', pos);
  if (end == std::string_view::npos)
    return std::nullopt;
  auto line = text.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  pos = end + 1;
  return line;
}

bool parse_number(std::string_view text, std::uint32_t& out) {
  if (text.empty())
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

sip_parse_error fail(sip_parse_errc code, std::string detail) {
  return sip_parse_error{code, std::move(detail)};
}

} // namespace

std::string_view to_string(sip_parse_errc code) noexcept {
  switch (code) {
    case sip_parse_errc::truncated:
      return "truncated";
    case sip_parse_errc::bad_start_line:
      return "bad_start_line";
    case sip_parse_errc::bad_header:
      return "bad_header";
    case sip_parse_errc::bad_content_length:
      return "bad_content_length";
    case sip_parse_errc::missing_header:
      return "missing_header";
  }
  return "unknown";
}

std::string_view sip_message::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name))
      return h.value;
  return {};
}

std::vector<std::string> sip_message::header_values(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& h : headers) {
    if (!iequals(h.name, name))
      continue;
    bool quoted = false;
    int angle = 0;
    std::size_t start = 0;
    const auto& v = h.value;
    for (std::size_t i = 0; i <= v.size(); ++i) {
      char c = i < v.size() ? v[i] : ',';
      if (c == '"')
        quoted = !quoted;
      else if (!quoted && c == '<')
        ++angle;
      else if (!quoted && c == '>' && angle > 0)
        --angle;
      else if (c == ',' && ((!quoted && angle == 0) || i == v.size())) {
        auto part = trim(std::string_view{v}.substr(start, i - start));
        if (!part.empty())
          values.emplace_back(part);
        start = i + 1;
      }
    }
  }
  return values;
}

std::variant<sip_message, sip_parse_error> parse_sip_message(std::string_view text) {
  sip_message msg;
  std::size_t pos = 0;
  // RFC 3261 7.5: CRLFs before the start line are ignored (keep-alives).
  while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n'))
    ++pos;
  auto start = next_line(text, pos);
  if (!start)
    return fail(sip_parse_errc::truncated, "no complete start line");
  auto first_space = start->find(' ');
  if (first_space == std::string_view::npos || first_space == 0)
    return fail(sip_parse_errc::bad_start_line, "no space in the start line");
  auto second_space = start->find(' ', first_space + 1);
  if (second_space == std::string_view::npos)
    return fail(sip_parse_errc::bad_start_line, "the start line has fewer than three parts");
  auto one = start->substr(0, first_space);
  auto two = start->substr(first_space + 1, second_space - first_space - 1);
  auto three = start->substr(second_space + 1);
  if (one == "SIP/2.0") {
    std::uint32_t code = 0;
    if (!parse_number(two, code) || code < 100 || code > 699)
      return fail(sip_parse_errc::bad_start_line, "bad status code");
    msg.status = static_cast<int>(code);
    msg.reason = std::string{three};
  } else {
    if (three != "SIP/2.0" || two.empty())
      return fail(sip_parse_errc::bad_start_line, "not a SIP/2.0 request line");
    bool token = std::all_of(one.begin(), one.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '!'
             || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' || c == '\''
             || c == '~';
    });
    if (!token)
      return fail(sip_parse_errc::bad_start_line, "the method is not a token");
    msg.method = std::string{one};
    msg.request_uri = std::string{two};
  }
  bool ended = false;
  while (auto line = next_line(text, pos)) {
    if (line->empty()) {
      ended = true;
      break;
    }
    if ((line->front() == ' ' || line->front() == '\t') && !msg.headers.empty()) {
      // A folded continuation line (RFC 3261 7.3.1).
      msg.headers.back().value += ' ';
      msg.headers.back().value += trim(*line);
      continue;
    }
    auto colon = line->find(':');
    if (colon == std::string_view::npos)
      return fail(sip_parse_errc::bad_header, "a header line without a colon");
    auto name = trim(line->substr(0, colon));
    if (name.empty())
      return fail(sip_parse_errc::bad_header, "a header with an empty name");
    msg.headers.push_back(
      {std::string{expand_compact(name)}, std::string{trim(line->substr(colon + 1))}});
  }
  if (!ended)
    return fail(sip_parse_errc::truncated, "no blank line after the headers");
  auto rest = text.substr(pos);
  auto length_text = msg.header("Content-Length");
  if (length_text.empty()) {
    msg.body = std::string{rest};
  } else {
    std::uint32_t length = 0;
    if (!parse_number(length_text, length) || length > rest.size())
      return fail(sip_parse_errc::bad_content_length, "Content-Length does not match the body");
    msg.body = std::string{rest.substr(0, length)};
  }
  for (auto required : {"Call-ID", "CSeq", "From", "To", "Via"})
    if (msg.header(required).empty())
      return fail(sip_parse_errc::missing_header, std::string{"no "} + required + " header");
  auto cseq = trim(msg.header("CSeq"));
  auto space = cseq.find(' ');
  if (space == std::string_view::npos || !parse_number(cseq.substr(0, space), msg.cseq))
    return fail(sip_parse_errc::missing_header, "malformed CSeq");
  msg.cseq_method = std::string{trim(cseq.substr(space + 1))};
  if (msg.cseq_method.empty())
    return fail(sip_parse_errc::missing_header, "CSeq without a method");
  return msg;
}

std::string_view uri_text(std::string_view field) {
  auto open = field.find('<');
  if (open != std::string_view::npos) {
    auto close = field.find('>', open);
    if (close == std::string_view::npos)
      return trim(field.substr(open + 1));
    return field.substr(open + 1, close - open - 1);
  }
  return trim(field.substr(0, field.find(';')));
}

std::optional<sip_uri> parse_sip_uri(std::string_view field) {
  auto text = uri_text(field);
  auto scheme_end = text.find(':');
  if (scheme_end == std::string_view::npos)
    return std::nullopt;
  auto scheme = text.substr(0, scheme_end);
  if (!iequals(scheme, "sip") && !iequals(scheme, "sips"))
    return std::nullopt;
  auto rest = text.substr(scheme_end + 1);
  sip_uri uri;
  auto params_at = rest.find(';');
  auto hostport = rest.substr(0, std::min(params_at, rest.find('?')));
  auto params = params_at == std::string_view::npos ? std::string_view{} : rest.substr(params_at);
  if (auto at = hostport.rfind('@'); at != std::string_view::npos) {
    auto userinfo = hostport.substr(0, at);
    uri.user = std::string{userinfo.substr(0, userinfo.find(':'))};
    hostport = hostport.substr(at + 1);
  }
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    uri.host = std::string{hostport.substr(1, close - 1)};
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      port_text = hostport.substr(close + 2);
  } else {
    auto colon = hostport.find(':');
    uri.host = std::string{hostport.substr(0, colon)};
    if (colon != std::string_view::npos)
      port_text = hostport.substr(colon + 1);
  }
  if (uri.host.empty())
    return std::nullopt;
  if (!port_text.empty()) {
    std::uint32_t port = 0;
    if (!parse_number(port_text, port) || port == 0 || port > 65535)
      return std::nullopt;
    uri.port = static_cast<std::uint16_t>(port);
  }
  while (!params.empty()) {
    params.remove_prefix(1);
    auto next = params.find(';');
    auto param = params.substr(0, next);
    if (iequals(param.substr(0, param.find('=')), "lr"))
      uri.loose_route = true;
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next);
  }
  return uri;
}

std::optional<std::string> header_param(std::string_view field, std::string_view name) {
  auto close = field.find('>');
  auto params = close == std::string_view::npos ? field : field.substr(close + 1);
  if (close == std::string_view::npos) {
    auto semi = params.find(';');
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi);
  }
  while (!params.empty()) {
    auto semi = params.find(';');
    if (semi == std::string_view::npos)
      break;
    params = params.substr(semi + 1);
    auto param = trim(params.substr(0, params.find(';')));
    auto eq = param.find('=');
    if (iequals(trim(param.substr(0, eq)), name))
      return eq == std::string_view::npos ? std::string{} : std::string{trim(param.substr(eq + 1))};
  }
  return std::nullopt;
}

} // namespace callgrid::fsemu
