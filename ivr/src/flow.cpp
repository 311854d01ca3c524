#include "ivr/flow.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace callgrid::ivr {

using namespace internal;

namespace {

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0)
    return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

const char* kind_name(node_kind kind) {
  switch (kind) {
    case node_kind::play: return "play";
    case node_kind::menu: return "menu";
    case node_kind::collect: return "collect";
    case node_kind::confirm: return "confirm";
    case node_kind::branch: return "branch";
    case node_kind::lookup: return "lookup";
    case node_kind::set: return "set";
    case node_kind::transfer: return "transfer";
    case node_kind::bridge: return "bridge";
    case node_kind::hangup: return "hangup";
  }
  return "play";
}

const char* action_name(key_action a) {
  switch (a) {
    case key_action::none: return "none";
    case key_action::agent: return "agent";
    case key_action::back: return "back";
    case key_action::repeat: return "repeat";
  }
  return "none";
}

std::string clock_text(int minutes) {
  std::string out(5, '0');
  out[0] = static_cast<char>('0' + minutes / 600);
  out[1] = static_cast<char>('0' + (minutes / 60) % 10);
  out[2] = ':';
  out[3] = static_cast<char>('0' + (minutes % 60) / 10);
  out[4] = static_cast<char>('0' + minutes % 10);
  return out;
}

nlohmann::json list_or_single(const std::vector<std::string>& values) {
  if (values.size() == 1)
    return values.front();
  return values;
}

} // namespace

std::vector<std::string> flow::prompt_uris() const {
  std::vector<std::string> out;
  for (const auto& p : model_.prompts)
    if (p.uri.find("${") == std::string::npos)
      out.push_back(p.uri);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> flow::node_ids() const {
  std::vector<std::string> out;
  out.reserve(model_.nodes.size());
  for (const auto& n : model_.nodes)
    out.push_back(n.id);
  return out;
}

std::string flow::to_json() const {
  using nlohmann::json;
  const auto& m = model_;
  auto prompt_name = [&](prompt_index i) { return m.prompts[i].name; };
  json doc;
  doc["name"] = m.name;
  doc["version"] = m.version;
  doc["start"] = m.start_id;
  if (!m.language.empty())
    doc["language"] = m.language;
  json prompts = json::object();
  // Catalog prompts stay references by name: the catalog of the moment resolves them at load.
  for (const auto& p : m.prompts)
    if (!p.from_catalog)
      prompts[p.name] = p.uri;
  doc["prompts"] = prompts;
  json globals;
  if (!m.agent_target.empty())
    globals["agent"] = m.agent_target;
  json keys = json::object();
  // Defaults that were removed are written as "none" so the document says exactly what applies.
  for (char key : {'0', '*', '#'})
    keys[std::string(1, key)] = "none";
  for (const auto& [key, a] : m.global_keys)
    keys[std::string(1, key)] = a == key_action::agent && m.agent_target.empty() ? "none" : action_name(a);
  globals["keys"] = keys;
  doc["globals"] = globals;
  const auto& d = m.defaults;
  doc["defaults"] = {{"first_digit_timeout", format_duration(d.first_digit_timeout)},
                     {"inter_digit_timeout", format_duration(d.inter_digit_timeout)},
                     {"max_no_input", d.max_no_input},
                     {"max_invalid", d.max_invalid},
                     {"max_tries", d.max_tries},
                     {"lookup_budget", format_duration(d.lookup_budget)},
                     {"failure_cause", d.failure_cause},
                     {"time_zone", m.zones.empty() ? std::string{"UTC"} : m.zones.front().name()}};
  json nodes = json::object();
  for (const auto& n : m.nodes) {
    json j;
    j["kind"] = kind_name(n.kind);
    auto feedback = [&] {
      if (n.no_input_prompt)
        j["no_input_prompt"] = prompt_name(*n.no_input_prompt);
      if (n.invalid_prompt)
        j["invalid_prompt"] = prompt_name(*n.invalid_prompt);
    };
    switch (n.kind) {
      case node_kind::play: {
        json list = json::array();
        for (auto p : n.prompts)
          list.push_back(prompt_name(p));
        j["prompts"] = list;
        j["next"] = n.next.id;
        break;
      }
      case node_kind::menu: {
        j["prompt"] = prompt_name(n.prompts.at(0));
        feedback();
        json options = json::object();
        for (const auto& [digits, t] : n.options)
          options[digits] = t.id;
        j["options"] = options;
        j["first_digit_timeout"] = format_duration(n.first_digit_timeout);
        j["inter_digit_timeout"] = format_duration(n.inter_digit_timeout);
        j["max_no_input"] = n.max_no_input;
        j["max_invalid"] = n.max_invalid;
        if (!n.on_exhausted.id.empty())
          j["on_exhausted"] = n.on_exhausted.id;
        if (!n.keys.empty()) {
          json k = json::object();
          for (const auto& [key, a] : n.keys)
            k[std::string(1, key)] = action_name(a);
          j["keys"] = k;
        }
        if (!n.global_keys)
          j["global_keys"] = false;
        break;
      }
      case node_kind::collect:
        j["prompt"] = prompt_name(n.prompts.at(0));
        feedback();
        j["min_digits"] = n.min_digits;
        j["max_digits"] = n.max_digits;
        j["terminators"] = n.terminators;
        if (n.digits_pattern)
          j["pattern"] = n.digits_pattern->text;
        j["variable"] = n.variable;
        j["first_digit_timeout"] = format_duration(n.first_digit_timeout);
        j["inter_digit_timeout"] = format_duration(n.inter_digit_timeout);
        j["max_tries"] = n.max_invalid;
        j["next"] = n.next.id;
        if (!n.on_exhausted.id.empty())
          j["on_failure"] = n.on_exhausted.id;
        break;
      case node_kind::confirm:
        j["prompt"] = prompt_name(n.prompts.at(0));
        feedback();
        j["confirm_key"] = std::string(1, n.confirm_key);
        j["cancel_key"] = std::string(1, n.cancel_key);
        j["on_confirm"] = n.on_confirm.id;
        j["on_cancel"] = n.on_cancel.id;
        j["timeout"] = format_duration(n.first_digit_timeout);
        j["max_tries"] = n.max_invalid;
        if (!n.on_exhausted.id.empty())
          j["on_exhausted"] = n.on_exhausted.id;
        break;
      case node_kind::branch: {
        json cases = json::array();
        for (const auto& c : n.cases) {
          json cj;
          if (!c.caller_prefixes.empty())
            cj["caller_prefix"] = list_or_single(c.caller_prefixes);
          if (c.caller_matches)
            cj["caller_matches"] = c.caller_matches->text;
          if (!c.callee_prefixes.empty())
            cj["callee_prefix"] = list_or_single(c.callee_prefixes);
          if (c.callee_matches)
            cj["callee_matches"] = c.callee_matches->text;
          if (!c.campaigns.empty())
            cj["campaign"] = list_or_single(c.campaigns);
          if (c.time)
            cj["time"] = clock_text(c.time->first) + "-" + clock_text(c.time->second);
          if (c.weekdays != 0) {
            static constexpr const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
            json days = json::array();
            for (int day = 0; day < 7; ++day)
              if ((c.weekdays & (1u << day)) != 0)
                days.push_back(names[day]);
            cj["days"] = days;
          }
          if (c.zone >= 0)
            cj["time_zone"] = m.zones[static_cast<std::size_t>(c.zone)].name();
          if (!c.variable.empty())
            cj["variable"] = c.variable;
          if (c.equals)
            cj["equals"] = *c.equals;
          if (c.matches)
            cj["matches"] = c.matches->text;
          cj["next"] = c.next.id;
          cases.push_back(cj);
        }
        j["cases"] = cases;
        j["default"] = n.next.id;
        break;
      }
      case node_kind::lookup:
        j["key"] = n.key;
        j["budget"] = format_duration(n.budget);
        if (!n.variable.empty())
          j["variable"] = n.variable;
        j["on_found"] = n.on_found.id;
        j["on_missing"] = n.on_missing.id;
        j["on_timeout"] = n.on_timeout.id;
        break;
      case node_kind::set: {
        json vars = json::object();
        for (const auto& [name, value] : n.assignments)
          vars[name] = value;
        j["variables"] = vars;
        j["next"] = n.next.id;
        break;
      }
      case node_kind::transfer:
        j["target"] = n.target;
        break;
      case node_kind::bridge:
        j["endpoint"] = n.target;
        break;
      case node_kind::hangup:
        j["cause"] = n.target;
        break;
    }
    nodes[n.id] = j;
  }
  doc["nodes"] = nodes;
  // Loading refused anything but UTF-8, so nothing is replaced in practice.
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace callgrid::ivr
