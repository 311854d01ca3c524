#include "kamailio/dispatcher_updater.hpp"

#include <map>
#include <set>
#include <utility>

#include "kamailio/list_file_writer.hpp"

namespace callgrid::kamailio {

dispatcher_updater::dispatcher_updater(updater_options options)
  : options_(std::move(options)), rpc_(options_.rpc), coalescer_(options_.timing) {}

result<publish_report> dispatcher_updater::publish(std::vector<dispatcher_target> targets,
                                                   time_point now) {
  auto text = render_valid_dispatcher_list(targets, options_.validation);
  if (!text)
    return text.error();
  if (auto err = write_file_atomically(options_.list_file, *text))
    return *err;
  publish_report report;
  if (!known_) {
    if (auto listed = rpc_.list()) {
      learn_view(*listed);
    } else {
      report.state_errors.push_back(listed.error());
    }
  }
  auto set_state = [&](target_state state, int set, const std::string& uri) {
    if (auto err = rpc_.set_state(state, set, uri)) {
      report.state_errors.push_back(std::move(*err));
    } else {
      kamailio_view_[{set, uri}] = state;
      ++report.states_set;
    }
  };
  std::set<std::pair<int, std::string>> staying;
  for (const auto& t : targets) {
    auto key = std::pair{t.set, t.uri};
    staying.insert(key);
    auto found = kamailio_view_.find(key);
    // A new target is unknown to Kamailio until the reload, which reads its state from the file.
    if (found == kamailio_view_.end() || found->second == t.state)
      continue;
    set_state(t.state, t.set, t.uri);
  }
  // set_state only overwrites the state of a key already here: the iteration stays valid.
  for (const auto& [key, state] : kamailio_view_) {
    if (staying.contains(key) || state == target_state::disabled)
      continue;
    // Leaving the list: no new calls from now on, not only after the reload.
    set_state(target_state::disabled, key.first, key.second);
  }
  published_ = std::move(targets);
  coalescer_.list_changed(now);
  return report;
}

poll_report dispatcher_updater::poll(time_point now) {
  poll_report report;
  if (!coalescer_.due(now))
    return report;
  coalescer_.reload_sent(now);
  report.reload_sent = true;
  auto err = rpc_.reload();
  if (!err) {
    coalescer_.reload_answered(reload_outcome::done, now);
    report.reloaded = true;
  } else if (is_ongoing_reload(*err)) {
    coalescer_.reload_answered(reload_outcome::refused, now);
    report.refused = true;
    return report;
  } else {
    coalescer_.reload_answered(reload_outcome::failed, now);
    report.failure = std::move(*err);
    return report;
  }
  auto listed = rpc_.list();
  if (!listed) {
    report.failure = listed.error();
    return report;
  }
  learn_view(*listed);
  report.mismatches = listing_differences(published_, *listed);
  return report;
}

void dispatcher_updater::learn_view(const std::vector<listed_target>& listed) {
  kamailio_view_.clear();
  for (const auto& l : listed)
    kamailio_view_.emplace(std::pair{l.target.set, l.target.uri}, l.target.state);
  known_ = true;
}

} // namespace callgrid::kamailio
