#include "persistence/catalog_snapshot.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace callgrid::persistence {

const char* to_string(route_action value) noexcept {
  switch (value) {
    case route_action::flow: return "flow";
    case route_action::bridge: return "bridge";
    case route_action::hangup: return "hangup";
  }
  return "unknown";
}

const catalog_flow* catalog_snapshot::find_flow(int64_t flow_id) const noexcept {
  auto it = std::lower_bound(flows.begin(), flows.end(), flow_id,
                             [](const catalog_flow& f, int64_t id) { return f.flow_id < id; });
  return it != flows.end() && it->flow_id == flow_id ? &*it : nullptr;
}

const catalog_prompt* catalog_snapshot::find_prompt(std::string_view name,
                                                    std::string_view language) const noexcept {
  auto key = std::tie(name, language);
  auto it = std::lower_bound(prompts.begin(), prompts.end(), key,
                             [](const catalog_prompt& p, const auto& k) {
                               return std::tuple<std::string_view, std::string_view>{p.name,
                                                                                     p.language}
                                      < k;
                             });
  return it != prompts.end() && it->name == name && it->language == language ? &*it : nullptr;
}

std::map<std::string, std::string, std::less<>>
prompt_uris_by_name(const std::vector<catalog_prompt>& prompts, std::string_view language,
                    std::string_view fallback) {
  // Per name, the row that plays: `language` first, then `fallback`, then the smallest language.
  auto rank = [&](const catalog_prompt& p) {
    int choice = p.language == language ? 0 : (!fallback.empty() && p.language == fallback ? 1 : 2);
    return std::pair{choice, std::string_view{p.language}};
  };
  auto plays_before = [&](const catalog_prompt& a, const catalog_prompt& b) {
    return rank(a) < rank(b);
  };
  std::map<std::string_view, const catalog_prompt*> chosen;
  for (const auto& p : prompts) {
    auto [it, inserted] = chosen.try_emplace(p.name, &p);
    if (!inserted && plays_before(p, *it->second))
      it->second = &p;
  }
  std::map<std::string, std::string, std::less<>> uris;
  for (const auto& [name, row] : chosen)
    uris.emplace(name, row->uri);
  return uris;
}

const catalog_campaign* catalog_snapshot::find_campaign(int64_t id) const noexcept {
  auto it = std::lower_bound(campaigns.begin(), campaigns.end(), id,
                             [](const catalog_campaign& c, int64_t k) { return c.id < k; });
  return it != campaigns.end() && it->id == id ? &*it : nullptr;
}

const catalog_route* catalog_snapshot::find_route(std::string_view name) const noexcept {
  auto it = std::find_if(routes.begin(), routes.end(),
                         [name](const catalog_route& r) { return r.name == name; });
  return it != routes.end() ? &*it : nullptr;
}

} // namespace callgrid::persistence
