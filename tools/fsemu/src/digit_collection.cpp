#include "digit_collection.hpp"

#include <cctype>
#include <regex>

namespace callgrid::fsemu {

namespace {

/// C's atoi: optional spaces and sign, then digits; anything else ends the number.
std::int64_t atoi_like(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
    ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+'))
    negative = text[i++] == '-';
  std::int64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && value < 1'000'000'000'000)
    value = value * 10 + (text[i++] - '0');
  return negative ? -value : value;
}

std::uint32_t clamp_u32(std::int64_t value) {
  if (value < 0)
    return 0;
  return value > 0xffffffff ? 0xffffffffu : static_cast<std::uint32_t>(value);
}

} // namespace

std::vector<std::string> separate_string(std::string_view text, char delim,
                                         std::size_t max_words) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size() && out.size() < max_words) {
    while (i < text.size() && text[i] == delim)
      ++i;
    if (i >= text.size())
      break;
    if (out.size() + 1 == max_words) {
      // The last slot takes the rest of the text as it is (trailing delimiters dropped).
      auto rest = text.substr(i);
      while (!rest.empty() && rest.back() == delim)
        rest.remove_suffix(1);
      out.emplace_back(rest);
      break;
    }
    std::string word;
    bool quoted = false;
    while (i < text.size() && (quoted || text[i] != delim)) {
      if (text[i] == '\'') {
        quoted = !quoted;
        ++i;
        continue;
      }
      word += text[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

pagd_arguments parse_play_and_get_digits(std::string_view data) {
  pagd_arguments args;
  auto argv = separate_string(data, ' ', 11);
  auto at = [&](std::size_t i) -> std::string_view {
    return i < argv.size() ? std::string_view{argv[i]} : std::string_view{};
  };
  // mod_dptools: min <= 0 becomes 0, max below min becomes min, a timeout up to 1000 ms
  // becomes 1000, no terminators becomes "#".
  auto min_digits = argv.empty() ? 0 : atoi_like(at(0));
  args.min_digits = clamp_u32(min_digits);
  auto max_digits = argv.size() > 1 ? atoi_like(at(1)) : 0;
  args.max_digits = max_digits < static_cast<std::int64_t>(args.min_digits)
                      ? args.min_digits
                      : clamp_u32(max_digits);
  args.max_tries = argv.size() > 2 ? clamp_u32(atoi_like(at(2))) : 0;
  auto timeout = argv.size() > 3 ? atoi_like(at(3)) : 1000;
  args.timeout_ms = timeout <= 1000 ? 1000u : clamp_u32(timeout);
  args.terminators = argv.size() > 4 && !at(4).empty() ? std::string{at(4)} : std::string{"#"};
  args.file = std::string{at(5)};
  args.invalid_file = std::string{at(6)};
  args.var_name = std::string{at(7)};
  args.digits_regex = std::string{at(8)};
  args.digit_timeout_ms = argv.size() > 9 ? clamp_u32(atoi_like(at(9))) : 0;
  args.transfer_on_failure = std::string{at(10)};
  return args;
}

read_outcome finish_read(const pagd_arguments& args, std::string digits, char terminator,
                         read_status status) {
  read_outcome out;
  std::string_view terms{args.terminators};
  bool required = !terms.empty() && terms.front() == '=';
  if (terminator != '\0') {
    out.terminator_used = std::string(1, terminator);
    auto pos = terms.find(terminator);
    if (pos != std::string_view::npos && pos >= 1
        && (terms[pos - 1] == '+' || terms[pos - 1] == 'x')) {
      digits += terminator;
      if (terms[pos - 1] == 'x')
        status = read_status::restart;
    }
  } else if (required) {
    status = read_status::too_small;
  }
  auto len = digits.size();
  if (args.min_digits != 0 && len < args.min_digits)
    status = read_status::too_small;
  switch (status) {
    case read_status::success:
      out.read_result = "success";
      break;
    case read_status::timeout:
      out.read_result = "timeout";
      break;
    default:
      out.read_result = "failure";
      break;
  }
  // A single-digit read that only caught a terminator yields no digits.
  if (status != read_status::restart && args.max_digits == 1 && len == 1
      && terms.find(digits.front()) != std::string_view::npos)
    digits.clear();
  out.status = status;
  out.digits = std::move(digits);
  return out;
}

try_verdict accept_try(const pagd_arguments& args, const read_outcome& read,
                       bool terminator_variable_set) {
  auto status = read.status;
  if (status == read_status::restart)
    return try_verdict::restart;
  if (status == read_status::timeout && read.digits.size() >= args.min_digits)
    status = read_status::success;
  if (args.min_digits == 0 && read.digits.empty() && terminator_variable_set)
    return try_verdict::accepted;
  if (status == read_status::success && !read.digits.empty()) {
    if (args.digits_regex.empty() || digits_match(read.digits, args.digits_regex))
      return try_verdict::accepted;
    return try_verdict::invalid;
  }
  return try_verdict::retry;
}

bool digits_match(std::string_view digits, std::string_view pattern) {
  try {
    std::regex re{std::string{pattern}, std::regex::ECMAScript};
    return std::regex_search(std::string{digits}, re);
  } catch (const std::regex_error&) {
    return false;
  }
}

bool plays_prompt(std::string_view file) noexcept {
  // switch_ivr_read: `!zstr(prompt) && strcasecmp(prompt, "silence")`.
  constexpr std::string_view silence = "silence";
  if (file.size() != silence.size())
    return !file.empty();
  for (std::size_t i = 0; i < silence.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(file[i])) != silence[i])
      return true;
  return false;
}

} // namespace callgrid::fsemu
