#include "actors/metrics_registry.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace callgrid::actors {

struct metrics_registry::series {
  std::string label_text;
  std::unique_ptr<metric_counter> counter;
  std::unique_ptr<metric_gauge> gauge;
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

} // namespace

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
