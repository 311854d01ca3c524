#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callgrid::actors {

/// Label pairs of one series, e.g. {{"outcome", "answered"}}. Never a per-call value.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count (Prometheus counter). Lock-free; any thread.
class metric_counter {
public:
  void increment(uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down (Prometheus gauge). Lock-free; any thread.
class metric_gauge {
public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double by) noexcept {
    auto current = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// A distribution over fixed buckets (Prometheus histogram), e.g. reaction times in seconds.
/// Lock-free; any thread.
class metric_histogram {
public:
  /// `upper_bounds` ascending; a +Inf bucket is implied.
  explicit metric_histogram(std::vector<double> upper_bounds);

  void observe(double v) noexcept;

  [[nodiscard]] const std::vector<double>& upper_bounds() const noexcept { return bounds_; }
  /// Observations at most `upper_bounds()[i]` (cumulative); i == size() is the +Inf bucket.
  [[nodiscard]] uint64_t cumulative_count(std::size_t i) const noexcept;
  [[nodiscard]] uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_; // per bucket, not cumulative; +Inf last
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// The metrics of one daemon, rendered in Prometheus' text format for `/metrics`. Names must
/// follow the conventions (`callgrid_` prefix, base units, `_total` for counters); the
/// registry checks the prefix and the counter suffix and refuses others (a programming error:
/// it throws std::invalid_argument at registration, which happens at start-up).
///
/// Series are created once (at start-up or the first time a label value is seen) and then
/// updated lock-free; references stay valid for the registry's life. Registration and
/// rendering take a mutex; updates do not. Owned by the daemon's main; shared by pointer.
///
/// ```cpp
/// metrics_registry metrics;
/// auto& calls = metrics.counter("callgrid_calls_total", "Calls ended, by outcome",
///                               {{"outcome", "answered"}});
/// calls.increment();
/// metrics.callback_gauge("callgrid_live_calls", "Calls in progress", {}, [&] { return n; });
/// std::string page = metrics.render();
/// ```
class metrics_registry {
public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// The counter series `name{labels}`, created on first use.
  metric_counter& counter(std::string_view name, std::string_view help,
                          const metric_labels& labels = {});

  /// The gauge series `name{labels}`, created on first use.
  metric_gauge& gauge(std::string_view name, std::string_view help,
                      const metric_labels& labels = {});

  /// The histogram series `name{labels}`, created on first use with `upper_bounds` (a later
  /// call with other bounds gets the first ones). Rendered as `name_bucket{le=...}`,
  /// `name_sum` and `name_count`; the name is in base units (`_seconds`) without `_total`.
  metric_histogram& histogram(std::string_view name, std::string_view help,
                              std::vector<double> upper_bounds, const metric_labels& labels = {});

  /// A gauge (or, with a `_total` name, a counter) whose value is read by `read` at each
  /// render, for figures kept elsewhere (connection counters, spool depth). `read` runs on the
  /// rendering thread and must be thread-safe.
  void callback_gauge(std::string_view name, std::string_view help, const metric_labels& labels,
                      std::function<double()> read);

  /// The whole page in the Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;

private:
  struct series;
  struct family;
  family& family_for(std::string_view name, std::string_view help, const char* type);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<family>, std::less<>> families_;
};

} // namespace callgrid::actors
