#include "actors/engine_catalog.hpp"

#include <map>

#include "ivr/diagnostic.hpp"
#include "ivr/flow.hpp"
#include "ivr/time_zone.hpp"
#include "persistence/catalog_snapshot.hpp"

namespace callgrid::actors {

namespace {

route_action to_action(persistence::route_action action) {
  switch (action) {
    case persistence::route_action::flow:
      return route_action::flow;
    case persistence::route_action::bridge:
      return route_action::bridge;
    case persistence::route_action::hangup:
      return route_action::hangup;
  }
  return route_action::hangup;
}

} // namespace

std::shared_ptr<const engine_catalog>
build_engine_catalog(const persistence::catalog_snapshot& snapshot,
                     std::string_view prompt_language, std::vector<std::string>& problems) {
  auto catalog = std::make_shared<engine_catalog>();
  catalog->generation = snapshot.generation;
  // Catalog prompts by name, per language: the default's, and those of flows with a language
  // of their own (falling back to the default's rows).
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> by_language;
  auto prompts_in = [&](std::string_view language) -> const auto& {
    auto it = by_language.find(language);
    if (it == by_language.end())
      it = by_language
             .emplace(std::string{language},
                      persistence::prompt_uris_by_name(snapshot.prompts, language,
                                                       prompt_language))
             .first;
    return it->second;
  };
  for (const auto& stored : snapshot.flows) {
    auto source = "flow '" + stored.name + "' v" + std::to_string(stored.version);
    auto loaded = ivr::load_flow(stored.document, source, prompts_in(prompt_language));
    // A flow that names its language plays that language's catalog rows: loaded once more
    // with them (catalog reloads are rare; the flow's language is known only once parsed).
    if (loaded.flow && !loaded.flow->language().empty()
        && loaded.flow->language() != prompt_language)
      loaded = ivr::load_flow(stored.document, source, prompts_in(loaded.flow->language()));
    for (const auto& d : loaded.problems)
      if (d.level == ivr::severity::error)
        problems.push_back(ivr::render(d));
    if (!loaded.flow) {
      problems.push_back(source + " has errors and is not used; its routes reject calls");
      continue;
    }
    catalog->flows.emplace(stored.flow_id, std::move(loaded.flow));
    catalog->flow_names.emplace(stored.flow_id, stored.name);
  }
  std::map<std::string, std::shared_ptr<const ivr::time_zone>> zones;
  std::vector<route> routes;
  for (const auto& stored : snapshot.routes) {
    if (!stored.enabled)
      continue;
    route r;
    r.id = stored.id;
    r.name = stored.name;
    r.match_prefix = stored.match_prefix;
    r.priority = stored.priority;
    r.caller_pattern = stored.caller_pattern.value_or("");
    r.action = to_action(stored.action);
    r.flow_id = stored.flow_id;
    r.bridge_target = stored.bridge_target.value_or("");
    if (stored.hangup_cause)
      r.hangup_cause = *stored.hangup_cause;
    r.answer = stored.answer;
    r.esl_mode = persistence::to_string(stored.mode);
    bool usable = true;
    for (const auto& w : stored.time_windows) {
      auto& zone = zones[w.timezone];
      if (!zone) {
        auto loaded = ivr::time_zone::load(w.timezone);
        if (!loaded) {
          problems.push_back("route '" + stored.name + "': time zone '" + w.timezone
                             + "' cannot be loaded; the route is not used");
          usable = false;
          break;
        }
        zone = std::make_shared<const ivr::time_zone>(std::move(*loaded));
      }
      r.windows.push_back(time_window{w.days, w.from_minute, w.to_minute, zone});
    }
    if (usable)
      routes.push_back(std::move(r));
  }
  catalog->routes = route_table::build(std::move(routes));
  for (const auto& p : catalog->routes->problems())
    problems.push_back(p);
  return catalog;
}

} // namespace callgrid::actors
