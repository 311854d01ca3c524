#include "ivr/time_zone.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>

#include "ivr/errc.hpp"

namespace callgrid::ivr {

namespace {

// Zoneinfo files are a few KB; anything much larger is not one.
constexpr std::size_t max_tzif_bytes = 256 * 1024;

std::optional<std::int32_t> parse_fixed_offset(std::string_view text) {
  if (text == "UTC" || text == "Z" || text == "GMT")
    return 0;
  if (text.starts_with("UTC"))
    text.remove_prefix(3);
  if (text.size() < 2 || (text[0] != '+' && text[0] != '-'))
    return std::nullopt;
  const int sign = text[0] == '-' ? -1 : 1;
  text.remove_prefix(1);
  auto read_number = [&](int max_digits) -> std::optional<int> {
    int value = 0;
    int digits = 0;
    while (!text.empty() && text[0] >= '0' && text[0] <= '9' && digits < max_digits) {
      value = value * 10 + (text[0] - '0');
      text.remove_prefix(1);
      ++digits;
    }
    if (digits == 0)
      return std::nullopt;
    return value;
  };
  auto hours = read_number(2);
  if (!hours || *hours > 14)
    return std::nullopt;
  int minutes = 0;
  if (!text.empty()) {
    if (text[0] != ':')
      return std::nullopt;
    text.remove_prefix(1);
    auto read = read_number(2);
    if (!read || *read > 59 || !text.empty())
      return std::nullopt;
    minutes = *read;
  }
  return sign * (*hours * 3600 + minutes * 60);
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != name.npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/'
           || c == '_' || c == '-' || c == '+';
  });
}

std::int64_t read_be(const std::string& data, std::size_t at, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value = (value << 8) | static_cast<unsigned char>(data[at + static_cast<std::size_t>(i)]);
  if (bytes == 4)
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
  return static_cast<std::int64_t>(value);
}

} // namespace

caf::expected<time_zone> time_zone::load(std::string_view name) {
  time_zone result;
  result.name_ = std::string{name};
  if (auto fixed = parse_fixed_offset(name)) {
    result.initial_offset_ = *fixed;
    return result;
  }
  if (!valid_zone_name(name))
    return caf::make_error(errc::unknown_time_zone, "malformed time zone name '" + std::string{name} + "'");
  std::string dir = "/usr/share/zoneinfo";
  if (const char* env = std::getenv("TZDIR"); env != nullptr && *env != '\0')
    dir = env;
  const std::string path = dir + "/" + std::string{name};
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(errc::unknown_time_zone, "no time zone '" + std::string{name} + "' (" + path + ")");
  std::string data;
  data.resize(max_tzif_bytes + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  auto bad = [&](const char* why) {
    return caf::make_error(errc::invalid_time_zone_file, path + ": " + why);
  };
  if (data.size() > max_tzif_bytes)
    return bad("file too large for a zoneinfo file");
  constexpr std::size_t header_size = 44;
  if (data.size() < header_size || data.compare(0, 4, "TZif") != 0)
    return bad("not a TZif file");
  struct counts {
    std::int64_t isut, isstd, leap, time, type, chars;
  };
  auto read_counts = [&](std::size_t at) {
    return counts{read_be(data, at + 20, 4), read_be(data, at + 24, 4), read_be(data, at + 28, 4),
                  read_be(data, at + 32, 4), read_be(data, at + 36, 4), read_be(data, at + 40, 4)};
  };
  auto block_size = [](const counts& c, std::int64_t time_size) {
    return c.time * time_size + c.time + c.type * 6 + c.chars + c.leap * (time_size + 4) + c.isstd
           + c.isut;
  };
  counts c = read_counts(0);
  if (c.isut < 0 || c.isstd < 0 || c.leap < 0 || c.time < 0 || c.type <= 0 || c.chars < 0
      || c.time > 100000 || c.type > 256)
    return bad("bad header counts");
  std::size_t at = header_size;
  std::int64_t time_size = 4;
  if (data[4] >= '2') {
    // Version 2+ files repeat the data with 64-bit times after the version 1 block.
    const auto skip = block_size(c, 4);
    if (static_cast<std::int64_t>(data.size()) < static_cast<std::int64_t>(header_size) + skip + 44)
      return bad("truncated");
    at = header_size + static_cast<std::size_t>(skip);
    if (data.compare(at, 4, "TZif") != 0)
      return bad("missing second header");
    c = read_counts(at);
    if (c.isut < 0 || c.isstd < 0 || c.leap < 0 || c.time < 0 || c.type <= 0 || c.chars < 0
        || c.time > 100000 || c.type > 256)
      return bad("bad header counts");
    at += header_size;
    time_size = 8;
  }
  if (static_cast<std::int64_t>(data.size()) < static_cast<std::int64_t>(at) + block_size(c, time_size))
    return bad("truncated");
  const std::size_t times_at = at;
  const std::size_t indexes_at = times_at + static_cast<std::size_t>(c.time * time_size);
  const std::size_t types_at = indexes_at + static_cast<std::size_t>(c.time);
  auto type_offset = [&](std::size_t type) {
    return static_cast<std::int32_t>(read_be(data, types_at + type * 6, 4));
  };
  // Before the first transition the first standard-time type applies (RFC 8536 section 3.2).
  result.initial_offset_ = type_offset(0);
  result.transitions_.reserve(static_cast<std::size_t>(c.time));
  for (std::int64_t i = 0; i < c.time; ++i) {
    const auto index = static_cast<unsigned char>(data[indexes_at + static_cast<std::size_t>(i)]);
    if (index >= c.type)
      return bad("transition names an unknown local time type");
    const auto when = read_be(data, times_at + static_cast<std::size_t>(i * time_size), static_cast<int>(time_size));
    if (!result.transitions_.empty() && when <= result.transitions_.back().at)
      return bad("transitions out of order");
    result.transitions_.push_back({when, type_offset(index)});
  }
  return result;
}

std::chrono::seconds time_zone::offset_at(std::chrono::sys_seconds instant) const noexcept {
  const auto t = instant.time_since_epoch().count();
  auto after = std::upper_bound(transitions_.begin(), transitions_.end(), t,
                                [](std::int64_t value, const transition& tr) { return value < tr.at; });
  if (after == transitions_.begin())
    return std::chrono::seconds{initial_offset_};
  return std::chrono::seconds{std::prev(after)->offset};
}

} // namespace callgrid::ivr
