#pragma once

// Small helpers the benchmarks share: rounding for the JSON lines, medians and percentiles of
// repeated measurements, and strict parsing of numeric options. Header-only; no state.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace callgrid::bench {

/// `value` rounded to `digits` decimals, as an integer when it has no fraction left.
inline nlohmann::ordered_json rounded(double value, int digits) {
  auto scale = std::pow(10.0, digits);
  auto result = std::round(value * scale) / scale;
  if (result == std::trunc(result) && std::fabs(result) < 1e15)
    return static_cast<int64_t>(result);
  return result;
}

/// The median of `v` (0 for none).
inline double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The nearest-rank percentile `p` (0..1] of `v` (0 for none).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(rank, v.size() - 1)];
}

/// `text` as a positive integer; throws std::invalid_argument naming `option` otherwise.
inline int positive_number(const std::string& option, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1)
    throw std::invalid_argument(option + " wants a positive number");
  return static_cast<int>(v);
}

} // namespace callgrid::bench
