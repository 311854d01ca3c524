#include "kamailio/dispatcher_updater.hpp"

#include <map>
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
  // What Kamailio holds now: the last list published, or on the first call its own listing.
  std::map<std::pair<int, std::string>, target_state> before;
  publish_report report;
  if (known_) {
    for (const auto& t : published_)
      before.emplace(std::pair{t.set, t.uri}, t.state);
  } else if (auto listed = rpc_.list()) {
    for (const auto& l : *listed)
      before.emplace(std::pair{l.target.set, l.target.uri}, l.target.state);
  } else {
    report.state_errors.push_back(listed.error());
  }
  std::map<std::pair<int, std::string>, bool> staying;
  for (const auto& t : targets) {
    auto key = std::pair{t.set, t.uri};
    staying.emplace(key, true);
    auto found = before.find(key);
    // A new target is unknown to Kamailio until the reload, which reads its state from the file.
    if (found == before.end() || found->second == t.state)
      continue;
    if (auto err = rpc_.set_state(t.state, t.set, t.uri))
      report.state_errors.push_back(std::move(*err));
    else
      ++report.states_set;
  }
  for (const auto& [key, state] : before) {
    if (staying.contains(key) || state == target_state::disabled)
      continue;
    // Leaving the list: no new calls from now on, not only after the reload.
    if (auto err = rpc_.set_state(target_state::disabled, key.first, key.second))
      report.state_errors.push_back(std::move(*err));
    else
      ++report.states_set;
  }
  published_ = std::move(targets);
  known_ = true;
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
  report.mismatches = listing_differences(published_, *listed);
  return report;
}

} // namespace callgrid::kamailio
