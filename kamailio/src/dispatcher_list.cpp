#include "kamailio/dispatcher_list.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

namespace callgrid::kamailio {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/// One whitespace-separated field of a line and its 1-based column.
struct field {
  std::string_view text;
  std::size_t column = 0;
};

std::vector<field> split_fields(std::string_view line) {
  std::vector<field> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i]))
      ++i;
    if (i == line.size())
      break;
    auto start = i;
    while (i < line.size() && !is_blank(line[i]))
      ++i;
    fields.push_back({line.substr(start, i - start), start + 1});
  }
  return fields;
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size())
    return std::nullopt;
  return value;
}

bool has_sip_scheme(std::string_view uri) {
  auto lower = [](std::string_view text) {
    std::string out{text};
    for (auto& c : out)
      c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return out;
  };
  return lower(uri.substr(0, 4)) == "sip:" || lower(uri.substr(0, 5)) == "sips:";
}

bool valid_uri(std::string_view uri) {
  if (!has_sip_scheme(uri))
    return false;
  auto host = uri.substr(uri.find(':') + 1);
  if (host.empty())
    return false;
  return std::none_of(uri.begin(), uri.end(), [](char c) {
    return is_blank(c) || c == '\n' || c == '#' || static_cast<unsigned char>(c) < 0x20;
  });
}

bool valid_node_id(std::string_view id) {
  return std::none_of(id.begin(), id.end(), [](char c) {
    return is_blank(c) || c == '\n' || c == ';' || c == '=' || c == '#'
           || static_cast<unsigned char>(c) < 0x20;
  });
}

bool usable(target_state state) {
  return state == target_state::active || state == target_state::probing;
}

/// Parses the attrs column into `target`; returns a problem text or empty.
std::string parse_attrs(std::string_view attrs, dispatcher_target& target) {
  while (!attrs.empty()) {
    auto end = attrs.find(';');
    auto pair = attrs.substr(0, end);
    attrs = end == std::string_view::npos ? std::string_view{} : attrs.substr(end + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto name = pair.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (name == "weight") {
      auto weight = parse_int(value);
      if (!weight)
        return "attribute weight is not a number: '" + std::string{value} + "'";
      target.weight = *weight;
    } else if (name == "duid") {
      target.node_id = std::string{value};
    }
  }
  return {};
}

} // namespace

const char* to_string(target_state state) noexcept {
  switch (state) {
    case target_state::active: return "active";
    case target_state::inactive: return "inactive";
    case target_state::disabled: return "disabled";
    case target_state::probing: return "probing";
  }
  return "unknown";
}

int to_flags(target_state state) noexcept {
  switch (state) {
    case target_state::active: return 0;
    case target_state::inactive: return 1;
    case target_state::disabled: return 4;
    case target_state::probing: return 8;
  }
  return 0;
}

target_state state_from_flags(int flags) noexcept {
  if ((flags & 4) != 0)
    return target_state::disabled;
  if ((flags & 1) != 0)
    return target_state::inactive;
  if ((flags & 8) != 0)
    return target_state::probing;
  return target_state::active;
}

const char* rpc_state_letters(target_state state) noexcept {
  switch (state) {
    case target_state::active: return "a";
    case target_state::inactive: return "i";
    case target_state::disabled: return "d";
    case target_state::probing: return "ap";
  }
  return "a";
}

std::string render_problems(const std::vector<list_problem>& problems, std::string_view name) {
  std::string out;
  for (const auto& p : problems) {
    out += name;
    out += ':';
    out += std::to_string(p.where.line);
    out += ':';
    out += std::to_string(p.where.column);
    out += ": ";
    out += p.message;
    out += '\n';
  }
  return out;
}

parsed_dispatcher_list parse_dispatcher_list(std::string_view text) {
  parsed_dispatcher_list out;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    auto fields = split_fields(line);
    if (fields.empty())
      continue;
    auto problem = [&](std::size_t column, std::string message) {
      out.problems.push_back({{line_number, column}, std::move(message)});
    };
    if (fields.size() < 2) {
      problem(fields[0].column, "a target needs at least a set id and a SIP URI");
      continue;
    }
    if (fields.size() > 5) {
      problem(fields[5].column, "more than five fields (setid uri flags priority attrs)");
      continue;
    }
    dispatcher_target target;
    auto set = parse_int(fields[0].text);
    if (!set || *set < 0) {
      problem(fields[0].column, "the set id is not a non-negative number: '"
                                  + std::string{fields[0].text} + "'");
      continue;
    }
    target.set = *set;
    if (!valid_uri(fields[1].text)) {
      problem(fields[1].column, "not a sip: or sips: URI: '" + std::string{fields[1].text} + "'");
      continue;
    }
    target.uri = std::string{fields[1].text};
    if (fields.size() > 2) {
      auto flags = parse_int(fields[2].text);
      if (!flags || *flags < 0 || *flags > 31) {
        problem(fields[2].column,
                "the flags are not a number from 0 to 31: '" + std::string{fields[2].text} + "'");
        continue;
      }
      target.state = state_from_flags(*flags);
    }
    if (fields.size() > 3) {
      auto priority = parse_int(fields[3].text);
      if (!priority) {
        problem(fields[3].column,
                "the priority is not a number: '" + std::string{fields[3].text} + "'");
        continue;
      }
      target.priority = *priority;
    }
    if (fields.size() > 4) {
      if (auto why = parse_attrs(fields[4].text, target); !why.empty()) {
        problem(fields[4].column, why);
        continue;
      }
    }
    out.targets.push_back(std::move(target));
  }
  return out;
}

std::vector<list_problem> validate_dispatcher_list(const std::vector<dispatcher_target>& targets,
                                                   const list_validation& rules) {
  std::vector<list_problem> problems;
  std::set<std::pair<int, std::string>> seen;
  std::map<int, bool> set_usable;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    auto problem = [&](std::string message) {
      problems.push_back({{i + 1, 0}, "target " + std::to_string(i + 1) + " (" + t.uri + "): "
                                        + std::move(message)});
    };
    if (t.set < 0)
      problem("the set id " + std::to_string(t.set) + " is negative");
    if (!valid_uri(t.uri))
      problem("not a sip: or sips: URI without blanks");
    if (t.weight < 1 || t.weight > 100)
      problem("the weight " + std::to_string(t.weight)
              + " is outside 1 to 100 (Kamailio ignores such a target for the weight algorithm)");
    if (t.priority < 0)
      problem("the priority " + std::to_string(t.priority) + " is negative");
    if (!valid_node_id(t.node_id))
      problem("the node id '" + t.node_id + "' contains a blank, ';', '=' or '#'");
    if (!seen.emplace(t.set, t.uri).second)
      problem("the URI is listed twice in set " + std::to_string(t.set));
    set_usable[t.set] = set_usable[t.set] || usable(t.state);
  }
  for (auto set : rules.required_sets) {
    auto found = set_usable.find(set);
    if (found == set_usable.end())
      problems.push_back({{0, 0}, "set " + std::to_string(set)
                                    + " has no target: Kamailio would accept the reload and "
                                      "route nothing"});
    else if (!found->second)
      problems.push_back({{0, 0}, "set " + std::to_string(set)
                                    + " has no active or probing target: Kamailio would accept "
                                      "the reload and route nothing"});
  }
  return problems;
}

std::string render_dispatcher_list(const std::vector<dispatcher_target>& targets) {
  std::string out =
    "# Kamailio dispatcher list written by callgrid; changes by hand are overwritten.\n"
    "# setid uri flags(0 active, 1 inactive, 4 disabled, 8 probing) priority attrs\n";
  for (const auto& t : targets) {
    out += std::to_string(t.set);
    out += ' ';
    out += t.uri;
    out += ' ';
    out += std::to_string(to_flags(t.state));
    out += ' ';
    out += std::to_string(t.priority);
    out += " weight=";
    out += std::to_string(t.weight);
    if (!t.node_id.empty()) {
      out += ";duid=";
      out += t.node_id;
    }
    out += '\n';
  }
  return out;
}

result<std::string> render_valid_dispatcher_list(const std::vector<dispatcher_target>& targets,
                                                 const list_validation& rules) {
  auto problems = validate_dispatcher_list(targets, rules);
  if (!problems.empty())
    return make_error(errc::invalid_list, "the dispatcher list is not written:\n"
                                            + render_problems(problems, "dispatcher list"));
  return render_dispatcher_list(targets);
}

} // namespace callgrid::kamailio
