#include "actors/metrics_registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace callgrid::actors {

struct metrics_registry::series {
  std::string label_text;
  std::unique_ptr<metric_counter> counter;
  std::unique_ptr<metric_gauge> gauge;
  std::unique_ptr<metric_histogram> histogram;
  std::function<double()> read;
};

struct metrics_registry::family {
  std::string name;
  std::string help;
  const char* type = "gauge";
  std::map<std::string, series> members;
};

namespace {

void append_escaped(std::string& out, std::string_view text, bool is_help) {
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && !is_help)
      out += "\\\"";
    else
      out += c;
  }
}

std::string label_text(const metric_labels& labels) {
  if (labels.empty())
    return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0)
      out += ',';
    out += labels[i].first;
    out += "=\"";
    append_escaped(out, labels[i].second, false);
    out += '"';
  }
  out += '}';
  return out;
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

/// `labels` (as rendered, possibly empty) with `le="bound"` added.
std::string with_le(const std::string& labels, const std::string& bound) {
  if (labels.empty())
    return "{le=\"" + bound + "\"}";
  return labels.substr(0, labels.size() - 1) + ",le=\"" + bound + "\"}";
}

} // namespace

metric_histogram::metric_histogram(std::vector<double> upper_bounds)
  : bounds_(std::move(upper_bounds)),
    buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("histogram bounds must be ascending");
}

void metric_histogram::observe(double v) noexcept {
  auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v)
                                         - bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  auto current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t metric_histogram::cumulative_count(std::size_t i) const noexcept {
  uint64_t total = 0;
  for (std::size_t b = 0; b <= i && b <= bounds_.size(); ++b)
    total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

metrics_registry::metrics_registry() = default;
metrics_registry::~metrics_registry() = default;

metrics_registry::family& metrics_registry::family_for(std::string_view name,
                                                       std::string_view help, const char* type) {
  if (!name.starts_with("callgrid_"))
    throw std::invalid_argument("metric name without the callgrid_ prefix: " + std::string{name});
  bool is_total = name.ends_with("_total");
  if (std::string_view{type} == "counter" && !is_total)
    throw std::invalid_argument("counter name must end in _total: " + std::string{name});
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<family>();
    f->name = std::string{name};
    f->help = std::string{help};
    f->type = type;
    it = families_.emplace(f->name, std::move(f)).first;
  } else if (std::string_view{it->second->type} != type) {
    throw std::invalid_argument("metric registered twice with different types: "
                                + std::string{name});
  }
  return *it->second;
}

metric_counter& metrics_registry::counter(std::string_view name, std::string_view help,
                                          const metric_labels& labels) {
  std::lock_guard guard{mutex_};
  auto& f = family_for(name, help, "counter");
  auto& s = f.members[label_text(labels)];
  if (!s.counter) {
    if (s.read)
      throw std::invalid_argument("metric series registered twice: " + std::string{name});
    s.counter = std::make_unique<metric_counter>();
  }
  return *s.counter;
}

metric_gauge& metrics_registry::gauge(std::string_view name, std::string_view help,
                                      const metric_labels& labels) {
  std::lock_guard guard{mutex_};
  auto& f = family_for(name, help, "gauge");
  auto& s = f.members[label_text(labels)];
  if (!s.gauge) {
    if (s.read)
      throw std::invalid_argument("metric series registered twice: " + std::string{name});
    s.gauge = std::make_unique<metric_gauge>();
  }
  return *s.gauge;
}

metric_histogram& metrics_registry::histogram(std::string_view name, std::string_view help,
                                              std::vector<double> upper_bounds,
                                              const metric_labels& labels) {
  std::lock_guard guard{mutex_};
  if (name.ends_with("_total"))
    throw std::invalid_argument("histogram name must not end in _total: " + std::string{name});
  // Made first: bounds it refuses must not leave an empty series behind, which would render
  // as a plain sample in a histogram family and make Prometheus reject the whole page.
  auto made = std::make_unique<metric_histogram>(std::move(upper_bounds));
  auto& f = family_for(name, help, "histogram");
  auto& s = f.members[label_text(labels)];
  if (!s.histogram)
    s.histogram = std::move(made);
  return *s.histogram;
}

void metrics_registry::callback_gauge(std::string_view name, std::string_view help,
                                      const metric_labels& labels, std::function<double()> read) {
  std::lock_guard guard{mutex_};
  auto& f = family_for(name, help, name.ends_with("_total") ? "counter" : "gauge");
  auto& s = f.members[label_text(labels)];
  if (s.counter || s.gauge || s.read)
    throw std::invalid_argument("metric series registered twice: " + std::string{name});
  s.read = std::move(read);
}

std::string metrics_registry::render() const {
  std::lock_guard guard{mutex_};
  std::string out;
  out.reserve(families_.size() * 160);
  for (const auto& [name, f] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f->help, true);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += f->type;
    out += '\n';
    for (const auto& [labels, s] : f->members) {
      if (s.histogram) {
        const auto& h = *s.histogram;
        const auto& bounds = h.upper_bounds();
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
          std::string bound;
          if (i == bounds.size())
            bound = "+Inf";
          else
            append_value(bound, bounds[i]);
          out += name;
          out += "_bucket";
          out += with_le(labels, bound);
          out += ' ';
          append_value(out, static_cast<double>(h.cumulative_count(i)));
          out += '\n';
        }
        out += name;
        out += "_sum";
        out += labels;
        out += ' ';
        append_value(out, h.sum());
        out += '\n';
        out += name;
        out += "_count";
        out += labels;
        out += ' ';
        append_value(out, static_cast<double>(h.count()));
        out += '\n';
        continue;
      }
      out += name;
      out += labels;
      out += ' ';
      if (s.counter)
        append_value(out, static_cast<double>(s.counter->value()));
      else if (s.gauge)
        append_value(out, s.gauge->value());
      else
        append_value(out, s.read ? s.read() : 0.0);
      out += '\n';
    }
  }
  return out;
}

} // namespace callgrid::actors
