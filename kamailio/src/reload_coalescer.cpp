#include "kamailio/reload_coalescer.hpp"

#include <algorithm>

namespace callgrid::kamailio {

reload_coalescer::reload_coalescer(coalescer_options options) : options_(options) {}

void reload_coalescer::list_changed(time_point now) {
  ++changed_;
  if (!first_change_)
    first_change_ = now;
}

std::optional<reload_coalescer::time_point> reload_coalescer::next_due() const {
  if (!pending() || in_flight_)
    return std::nullopt;
  // A change after the last reload was sent (or a refused reload) restarts the settle wait from
  // that change; a refused reload's changes are still pending with no first_change_.
  auto due = first_change_ ? *first_change_ + options_.settle : time_point{};
  if (not_before_)
    due = std::max(due, *not_before_);
  return due;
}

bool reload_coalescer::due(time_point now) const {
  auto when = next_due();
  return when && *when <= now;
}

void reload_coalescer::reload_sent(time_point now) {
  in_flight_ = true;
  in_flight_covers_ = changed_;
  first_change_.reset();
  not_before_ = now + options_.interval;
  ++sent_count_;
}

void reload_coalescer::reload_answered(reload_outcome outcome, time_point now) {
  if (!in_flight_)
    return;
  in_flight_ = false;
  switch (outcome) {
    case reload_outcome::done:
      reloaded_ = std::max(reloaded_, in_flight_covers_);
      break;
    case reload_outcome::refused:
      ++refused_count_;
      not_before_ = now + options_.retry_delay;
      break;
    case reload_outcome::failed:
      // Kamailio may have reloaded without the answer reaching us: wait out the whole interval
      // rather than provoke a refusal.
      ++failed_count_;
      not_before_ = std::max(not_before_.value_or(now), now + options_.retry_delay);
      break;
  }
}

} // namespace callgrid::kamailio
