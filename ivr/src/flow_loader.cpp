// Reads a YAML/JSON flow document into a flow_model and validates it (ivr/flow.hpp).

#include "ivr/flow.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "template.hpp"

namespace callgrid::ivr {

using namespace internal;

namespace {

constexpr std::size_t max_text_field = 1024;
constexpr std::size_t max_pattern = 256;
constexpr int max_cap = 20;
constexpr int max_digits_limit = 32;
constexpr std::size_t max_options = 64;
constexpr std::size_t max_cases = 64;
const std::set<std::string> reserved_variables = {"caller", "callee", "campaign", "language"};
constexpr const char* day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest candidate within a small distance, else "".
template <class Range>
std::string suggestion(std::string_view wrong, const Range& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    std::string_view c{candidate};
    if (wrong.size() > 64 || c.size() > 64)
      continue;
    const auto d = edit_distance(wrong, c);
    if (d < best_distance && d < std::max<std::size_t>(c.size(), 2)) {
      best_distance = d;
      best = std::string{c};
    }
  }
  return best.empty() ? std::string{} : " (did you mean '" + best + "'?)";
}

// Offset of the first byte that is not part of well-formed UTF-8, or npos. Flows end up as
// PostgreSQL JSONB, which accepts nothing else.
std::size_t first_invalid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      length = 2;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4;
      code = c & 0x07;
    } else {
      return i;
    }
    if (i + length > text.size())
      return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80)
        return i;
      code = (code << 6) | (next & 0x3f);
    }
    const bool overlong = (length == 2 && code < 0x80) || (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
    if (overlong || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return i;
    i += length;
  }
  return std::string_view::npos;
}

bool valid_digit(char c) noexcept {
  return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D');
}

bool has_control_characters(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::optional<node_kind> parse_kind(std::string_view text) {
  static const std::map<std::string_view, node_kind> kinds = {
    {"play", node_kind::play},         {"menu", node_kind::menu},     {"collect", node_kind::collect},
    {"confirm", node_kind::confirm},   {"branch", node_kind::branch}, {"lookup", node_kind::lookup},
    {"set", node_kind::set},           {"transfer", node_kind::transfer}, {"bridge", node_kind::bridge},
    {"hangup", node_kind::hangup}};
  auto it = kinds.find(text);
  if (it == kinds.end())
    return std::nullopt;
  return it->second;
}

const std::vector<std::string>& kind_names() {
  static const std::vector<std::string> names = {"play", "menu", "collect", "confirm", "branch",
                                                 "lookup", "set", "transfer", "bridge", "hangup"};
  return names;
}

const std::vector<std::string>& fields_of(node_kind kind) {
  static const std::map<node_kind, std::vector<std::string>> fields = {
    {node_kind::play, {"kind", "description", "prompt", "prompts", "next"}},
    {node_kind::menu,
     {"kind", "description", "prompt", "options", "first_digit_timeout", "inter_digit_timeout", "max_no_input",
      "max_invalid", "no_input_prompt", "invalid_prompt", "on_exhausted", "keys", "global_keys"}},
    {node_kind::collect,
     {"kind", "description", "prompt", "min_digits", "max_digits", "terminators", "pattern", "variable",
      "first_digit_timeout", "inter_digit_timeout", "max_tries", "no_input_prompt", "invalid_prompt", "next",
      "on_failure"}},
    {node_kind::confirm,
     {"kind", "description", "prompt", "confirm_key", "cancel_key", "on_confirm", "on_cancel", "timeout",
      "max_tries", "no_input_prompt", "invalid_prompt", "on_exhausted"}},
    {node_kind::branch, {"kind", "description", "cases", "default"}},
    {node_kind::lookup, {"kind", "description", "key", "budget", "variable", "on_found", "on_missing", "on_timeout"}},
    {node_kind::set, {"kind", "description", "variables", "next"}},
    {node_kind::transfer, {"kind", "description", "target"}},
    {node_kind::bridge, {"kind", "description", "endpoint"}},
    {node_kind::hangup, {"kind", "description", "cause"}},
  };
  return fields.at(kind);
}

class loader {
public:
  loader(std::string_view file, const prompt_catalog& known) : file_(file), known_(known) {
  }

  flow_load_result run(std::string_view text);

private:
  // ---- diagnostics ----
  void report(severity level, const YAML::Mark& mark, std::string message) {
    source_location where{file_, 0, 0};
    if (mark.line >= 0 && mark.pos >= 0) {
      where.line = mark.line + 1;
      where.column = mark.column + 1;
    }
    problems_.push_back({level, std::move(where), node_, std::move(message)});
  }
  void error(const YAML::Mark& mark, std::string message) {
    report(severity::error, mark, std::move(message));
  }
  void warning(const YAML::Mark& mark, std::string message) {
    report(severity::warning, mark, std::move(message));
  }
  static YAML::Mark mark_at(int line, int column) {
    YAML::Mark m = YAML::Mark::null_mark();
    if (line > 0) {
      m.pos = 0;
      m.line = line - 1;
      m.column = column - 1;
    }
    return m;
  }

  // ---- field readers; each reports its own problems and returns nullopt on them ----
  void check_fields(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what);
  std::optional<std::string> scalar(const YAML::Node& value, const std::string& field);
  std::optional<std::string> text(const YAML::Node& value, const std::string& field, bool templated);
  std::optional<int> integer(const YAML::Node& value, const std::string& field, int low, int high);
  std::optional<bool> boolean(const YAML::Node& value, const std::string& field);
  std::optional<std::chrono::milliseconds> duration(const YAML::Node& value, const std::string& field,
                                                    std::chrono::milliseconds low, std::chrono::milliseconds high);
  std::optional<pattern> regex(const YAML::Node& value, const std::string& field);
  std::vector<std::string> string_list(const YAML::Node& value, const std::string& field);
  std::optional<std::string> variable_name(const YAML::Node& value, const std::string& field);
  std::optional<prompt_index> prompt_ref(const YAML::Node& value, const std::string& field);
  target_ref target(const YAML::Node& value, const std::string& field);
  std::optional<char> digit(const YAML::Node& value, const std::string& field);
  std::optional<key_action> action(const YAML::Node& value, const std::string& field, bool allow_none);
  std::optional<int> zone(const YAML::Node& value, const std::string& field);

  // ---- sections ----
  void read_prompts(const YAML::Node& prompts);
  void read_globals(const YAML::Node& globals);
  void read_defaults(const YAML::Node& defaults);
  void read_node(const YAML::Node& key, const YAML::Node& body);
  void read_menu(node& n, const YAML::Node& body);
  void read_collect(node& n, const YAML::Node& body);
  void read_confirm(node& n, const YAML::Node& body);
  void read_branch(node& n, const YAML::Node& body);
  void read_lookup(node& n, const YAML::Node& body);
  void read_case(branch_case& c, const YAML::Node& body);
  void require(const YAML::Node& body, const char* field, const YAML::Mark& at);

  // ---- whole-flow checks ----
  void resolve(target_ref& ref);
  void check_graph();
  void check_prompt_use();

  std::string file_;
  const prompt_catalog& known_;
  std::vector<diagnostic> problems_;
  flow_model model_;
  std::string node_;  // id of the node being read, for diagnostics
  YAML::Mark node_mark_ = YAML::Mark::null_mark();  // where its id is
  std::map<std::string, prompt_index> prompt_ids_;
  std::vector<YAML::Mark> prompt_marks_;
  std::set<prompt_index> used_prompts_;
  std::map<std::string, node_index> node_ids_;
  std::map<std::string, int> zone_ids_;
};

void loader::check_fields(const YAML::Node& map, const std::vector<std::string>& allowed, const char* what) {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first.Mark(), std::string{"field names of "} + what + " must be plain strings");
      continue;
    }
    const auto& name = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      error(it->first.Mark(), "unknown field '" + name + "' in " + what + suggestion(name, allowed));
    else if (!seen.insert(name).second)
      error(it->first.Mark(), "field '" + name + "' given twice in " + what);
  }
}

std::optional<std::string> loader::scalar(const YAML::Node& value, const std::string& field) {
  if (!value.IsScalar()) {
    error(value.Mark(), "'" + field + "' must be a single value");
    return std::nullopt;
  }
  return value.Scalar();
}

std::optional<std::string> loader::text(const YAML::Node& value, const std::string& field, bool templated) {
  auto s = scalar(value, field);
  if (!s)
    return s;
  if (s->empty()) {
    error(value.Mark(), "'" + field + "' must not be empty");
    return std::nullopt;
  }
  if (s->size() > max_text_field || has_control_characters(*s)) {
    error(value.Mark(), "'" + field + "' is too long or holds control characters");
    return std::nullopt;
  }
  if (templated) {
    if (auto why = check_template(*s)) {
      error(value.Mark(), "'" + field + "': " + *why);
      return std::nullopt;
    }
  }
  return s;
}

std::optional<int> loader::integer(const YAML::Node& value, const std::string& field, int low, int high) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  int result = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), result);
  if (ec != std::errc{} || end != s->data() + s->size() || result < low || result > high) {
    error(value.Mark(), "'" + field + "' must be a whole number from " + std::to_string(low) + " to "
                          + std::to_string(high) + ", not '" + *s + "'");
    return std::nullopt;
  }
  return result;
}

std::optional<bool> loader::boolean(const YAML::Node& value, const std::string& field) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  if (*s == "true")
    return true;
  if (*s == "false")
    return false;
  error(value.Mark(), "'" + field + "' must be true or false, not '" + *s + "'");
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> loader::duration(const YAML::Node& value, const std::string& field,
                                                          std::chrono::milliseconds low,
                                                          std::chrono::milliseconds high) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  auto complain = [&](const std::string& why) {
    error(value.Mark(), "'" + field + "': bad duration '" + *s + "' (" + why + ")");
    return std::nullopt;
  };
  std::size_t digits = 0;
  while (digits < s->size() && (*s)[digits] >= '0' && (*s)[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 9)
    return complain("a whole number with a unit: 250ms, 5s, 2m");
  const auto unit = std::string_view{*s}.substr(digits);
  std::int64_t number = std::stoll(s->substr(0, digits));
  std::chrono::milliseconds result{0};
  if (unit == "ms")
    result = std::chrono::milliseconds{number};
  else if (unit == "s")
    result = std::chrono::seconds{number};
  else if (unit == "m")
    result = std::chrono::minutes{number};
  else
    return complain(unit.empty() ? "a unit is required: ms, s or m" : "unknown unit; use ms, s or m");
  if (result < low || result > high)
    return complain("must be from " + std::to_string(low.count()) + "ms to " + std::to_string(high.count()) + "ms");
  return result;
}

std::optional<pattern> loader::regex(const YAML::Node& value, const std::string& field) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  if (s->empty() || s->size() > max_pattern) {
    error(value.Mark(), "'" + field + "': a pattern must have 1 to " + std::to_string(max_pattern) + " characters");
    return std::nullopt;
  }
  try {
    return pattern{*s, std::make_shared<const std::regex>(*s, std::regex::ECMAScript)};
  } catch (const std::regex_error& e) {
    error(value.Mark(), "'" + field + "': invalid regular expression '" + *s + "': " + e.what());
  }
  return std::nullopt;
}

std::vector<std::string> loader::string_list(const YAML::Node& value, const std::string& field) {
  std::vector<std::string> out;
  if (value.IsSequence()) {
    for (const auto& item : value)
      if (auto s = text(item, field, false))
        out.push_back(*s);
  } else if (auto s = text(value, field, false)) {
    out.push_back(*s);
  }
  return out;
}

std::optional<std::string> loader::variable_name(const YAML::Node& value, const std::string& field) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  if (!valid_variable_name(*s)) {
    error(value.Mark(), "'" + field + "': '" + *s + "' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    return std::nullopt;
  }
  if (reserved_variables.count(*s) != 0) {
    error(value.Mark(), "'" + field + "': '" + *s + "' is reserved (caller, callee, campaign, language)");
    return std::nullopt;
  }
  return s;
}

std::optional<prompt_index> loader::prompt_ref(const YAML::Node& value, const std::string& field) {
  auto name = text(value, field, false);
  if (!name)
    return std::nullopt;
  if (auto it = prompt_ids_.find(*name); it != prompt_ids_.end()) {
    used_prompts_.insert(it->second);
    return it->second;
  }
  if (auto known = known_.find(*name); known != known_.end()) {
    const auto index = static_cast<prompt_index>(model_.prompts.size());
    model_.prompts.push_back({*name, known->second, true});
    prompt_marks_.push_back(value.Mark());
    prompt_ids_.emplace(*name, index);
    used_prompts_.insert(index);
    return index;
  }
  std::vector<std::string> names;
  for (const auto& [n, index] : prompt_ids_)
    names.push_back(n);
  error(value.Mark(), "prompt '" + *name + "' is not in the flow's prompts nor in the prompt catalog"
                        + suggestion(*name, names));
  return std::nullopt;
}

target_ref loader::target(const YAML::Node& value, const std::string& field) {
  target_ref ref;
  if (auto s = text(value, field, false)) {
    ref.id = *s;
    const auto mark = value.Mark();
    ref.line = mark.line + 1;
    ref.column = mark.column + 1;
  }
  return ref;
}

std::optional<char> loader::digit(const YAML::Node& value, const std::string& field) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  if (s->size() != 1 || !valid_digit((*s)[0])) {
    error(value.Mark(), "'" + field + "': '" + *s + "' is not a DTMF key (0-9 * # A-D)");
    return std::nullopt;
  }
  return (*s)[0];
}

std::optional<key_action> loader::action(const YAML::Node& value, const std::string& field, bool allow_none) {
  auto s = scalar(value, field);
  if (!s)
    return std::nullopt;
  if (*s == "agent")
    return key_action::agent;
  if (*s == "back")
    return key_action::back;
  if (*s == "repeat")
    return key_action::repeat;
  if (*s == "none" && allow_none)
    return key_action::none;
  error(value.Mark(), "'" + field + "': unknown key action '" + *s + "' (agent, back, repeat"
                        + (allow_none ? ", none)" : ")"));
  return std::nullopt;
}

std::optional<int> loader::zone(const YAML::Node& value, const std::string& field) {
  auto s = text(value, field, false);
  if (!s)
    return std::nullopt;
  if (auto it = zone_ids_.find(*s); it != zone_ids_.end())
    return it->second;
  auto tz = time_zone::load(*s);
  if (!tz) {
    error(value.Mark(), "'" + field + "': unknown time zone '" + *s + "' (use an IANA name such as "
                          "Europe/Berlin, UTC or a fixed offset such as UTC+02:00)");
    return std::nullopt;
  }
  const int index = static_cast<int>(model_.zones.size());
  model_.zones.push_back(std::move(*tz));
  zone_ids_.emplace(*s, index);
  return index;
}

void loader::require(const YAML::Node& body, const char* field, const YAML::Mark& at) {
  if (!body[field])
    error(at, std::string{"missing required field '"} + field + "'");
}

void loader::read_prompts(const YAML::Node& prompts) {
  if (!prompts.IsMap()) {
    error(prompts.Mark(), "'prompts' must map prompt names to URIs");
    return;
  }
  for (auto it = prompts.begin(); it != prompts.end(); ++it) {
    auto name = text(it->first, "prompt name", false);
    auto uri = text(it->second, "prompt URI", true);
    if (!name || !uri)
      continue;
    if (prompt_ids_.count(*name) != 0) {
      error(it->first.Mark(), "prompt '" + *name + "' is defined twice");
      continue;
    }
    const auto index = static_cast<prompt_index>(model_.prompts.size());
    model_.prompts.push_back({*name, *uri, false});
    prompt_marks_.push_back(it->first.Mark());
    prompt_ids_.emplace(*name, index);
  }
}

void loader::read_globals(const YAML::Node& globals) {
  model_.global_keys = {{'0', key_action::agent}, {'*', key_action::back}, {'#', key_action::repeat}};
  if (!globals)
    return;
  if (!globals.IsMap()) {
    error(globals.Mark(), "'globals' must be a mapping");
    return;
  }
  check_fields(globals, {"agent", "keys"}, "globals");
  if (auto agent = globals["agent"])
    if (auto s = text(agent, "agent", true))
      model_.agent_target = *s;
  if (auto keys = globals["keys"]) {
    if (!keys.IsMap()) {
      error(keys.Mark(), "'keys' must map DTMF keys to agent, back, repeat or none");
      return;
    }
    for (auto it = keys.begin(); it != keys.end(); ++it) {
      auto d = digit(it->first, "keys");
      auto a = action(it->second, "keys", true);
      if (!d || !a)
        continue;
      auto found = std::find_if(model_.global_keys.begin(), model_.global_keys.end(),
                                [&](const auto& binding) { return binding.first == *d; });
      if (found != model_.global_keys.end())
        found->second = *a;
      else
        model_.global_keys.emplace_back(*d, *a);
      if (*a == key_action::agent && model_.agent_target.empty())
        warning(it->second.Mark(), std::string{"key '"} + *d + "' is bound to agent but globals.agent is not set: "
                                   "the key does nothing");
    }
  }
  std::erase_if(model_.global_keys, [](const auto& binding) { return binding.second == key_action::none; });
}

void loader::read_defaults(const YAML::Node& d) {
  auto& out = model_.defaults;
  if (!d) {
    model_.zones.push_back(*time_zone::load("UTC"));
    zone_ids_.emplace("UTC", 0);
    return;
  }
  if (!d.IsMap()) {
    error(d.Mark(), "'defaults' must be a mapping");
    model_.zones.push_back(*time_zone::load("UTC"));
    return;
  }
  using std::chrono::milliseconds;
  check_fields(d,
               {"first_digit_timeout", "inter_digit_timeout", "max_no_input", "max_invalid", "max_tries",
                "lookup_budget", "failure_cause", "time_zone"},
               "defaults");
  if (auto v = d["first_digit_timeout"])
    out.first_digit_timeout = duration(v, "first_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                                .value_or(out.first_digit_timeout);
  if (auto v = d["inter_digit_timeout"])
    out.inter_digit_timeout = duration(v, "inter_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                                .value_or(out.inter_digit_timeout);
  if (auto v = d["max_no_input"])
    out.max_no_input = integer(v, "max_no_input", 1, max_cap).value_or(out.max_no_input);
  if (auto v = d["max_invalid"])
    out.max_invalid = integer(v, "max_invalid", 1, max_cap).value_or(out.max_invalid);
  if (auto v = d["max_tries"])
    out.max_tries = integer(v, "max_tries", 1, max_cap).value_or(out.max_tries);
  if (auto v = d["lookup_budget"])
    out.lookup_budget = duration(v, "lookup_budget", milliseconds{1}, std::chrono::seconds{60}).value_or(out.lookup_budget);
  if (auto v = d["failure_cause"]) {
    auto s = scalar(v, "failure_cause");
    if (s && (s->empty() || s->size() > 64 || !std::all_of(s->begin(), s->end(), [](char c) {
                return (c >= 'A' && c <= 'Z') || c == '_';
              })))
      error(v.Mark(), "'failure_cause' must be a FreeSWITCH hangup cause such as NORMAL_CLEARING");
    else if (s)
      out.failure_cause = *s;
  }
  std::optional<int> z;
  if (auto v = d["time_zone"])
    z = zone(v, "time_zone");
  if (!z || *z != 0) {
    // The default zone must sit at index 0.
    auto tz = z ? model_.zones[static_cast<std::size_t>(*z)] : *time_zone::load("UTC");
    model_.zones.insert(model_.zones.begin(), std::move(tz));
    for (auto& [name, index] : zone_ids_)
      ++index;
    if (!z)
      zone_ids_.emplace("UTC", 0);
  }
}

void loader::read_node(const YAML::Node& key, const YAML::Node& body) {
  node n;
  node_ = key.IsScalar() ? key.Scalar() : std::string{};
  node_mark_ = key.Mark();
  n.id = node_;
  n.line = key.Mark().line + 1;
  n.column = key.Mark().column + 1;
  if (!key.IsScalar() || n.id.empty() || n.id.size() > 64 || has_control_characters(n.id)) {
    node_.clear();
    error(key.Mark(), "node ids must be non-empty single-line strings of at most 64 characters");
    return;
  }
  if (node_ids_.count(n.id) != 0) {
    error(key.Mark(), "duplicate node id (the first definition is kept)");
    return;
  }
  if (!body.IsMap()) {
    error(body.Mark(), "a node must be a mapping with a 'kind'");
    return;
  }
  auto kind_value = body["kind"];
  if (!kind_value) {
    error(key.Mark(), "missing required field 'kind' (play, menu, collect, confirm, branch, lookup, set, "
                      "transfer, bridge or hangup)");
    return;
  }
  auto kind_text = scalar(kind_value, "kind");
  if (!kind_text)
    return;
  auto kind = parse_kind(*kind_text);
  if (!kind) {
    error(kind_value.Mark(), "unknown node kind '" + *kind_text + "'" + suggestion(*kind_text, kind_names()));
    return;
  }
  n.kind = *kind;
  check_fields(body, fields_of(n.kind), ("a " + *kind_text + " node").c_str());
  const auto at = key.Mark();
  switch (n.kind) {
    case node_kind::play:
      if (body["prompt"] && body["prompts"])
        error(at, "give either 'prompt' or 'prompts', not both");
      if (auto p = body["prompt"]) {
        if (auto index = prompt_ref(p, "prompt"))
          n.prompts.push_back(*index);
      } else if (auto list = body["prompts"]) {
        if (!list.IsSequence() || list.size() == 0)
          error(list.Mark(), "'prompts' must be a non-empty list of prompt names");
        else
          for (const auto& item : list)
            if (auto index = prompt_ref(item, "prompts"))
              n.prompts.push_back(*index);
      } else {
        error(at, "missing required field 'prompt' (or 'prompts')");
      }
      require(body, "next", at);
      if (auto v = body["next"])
        n.next = target(v, "next");
      break;
    case node_kind::menu:
      read_menu(n, body);
      break;
    case node_kind::collect:
      read_collect(n, body);
      break;
    case node_kind::confirm:
      read_confirm(n, body);
      break;
    case node_kind::branch:
      read_branch(n, body);
      break;
    case node_kind::lookup:
      read_lookup(n, body);
      break;
    case node_kind::set: {
      auto vars = body["variables"];
      if (!vars || !vars.IsMap() || vars.size() == 0) {
        error(vars ? vars.Mark() : at, "'variables' must map variable names to values");
      } else {
        for (auto it = vars.begin(); it != vars.end(); ++it) {
          auto name = variable_name(it->first, "variables");
          auto value = scalar(it->second, "variables");
          if (value && (value->size() > max_text_field || has_control_characters(*value))) {
            error(it->second.Mark(), "'variables': value too long or holds control characters");
            value.reset();
          } else if (value) {
            if (auto why = check_template(*value)) {
              error(it->second.Mark(), "'variables': " + *why);
              value.reset();
            }
          }
          if (name && value)
            n.assignments.emplace_back(*name, *value);
        }
      }
      require(body, "next", at);
      if (auto v = body["next"])
        n.next = target(v, "next");
      break;
    }
    case node_kind::transfer:
      require(body, "target", at);
      if (auto v = body["target"])
        n.target = text(v, "target", true).value_or("");
      break;
    case node_kind::bridge:
      require(body, "endpoint", at);
      if (auto v = body["endpoint"])
        n.target = text(v, "endpoint", true).value_or("");
      break;
    case node_kind::hangup:
      n.target = "NORMAL_CLEARING";
      if (auto v = body["cause"]) {
        auto s = scalar(v, "cause");
        if (s && (s->empty() || s->size() > 64 || !std::all_of(s->begin(), s->end(), [](char c) {
                    return (c >= 'A' && c <= 'Z') || c == '_';
                  })))
          error(v.Mark(), "'cause' must be a FreeSWITCH hangup cause such as NORMAL_CLEARING, not '" + *s + "'");
        else if (s)
          n.target = *s;
      }
      break;
  }
  node_ids_.emplace(n.id, static_cast<node_index>(model_.nodes.size()));
  model_.nodes.push_back(std::move(n));
}

void loader::read_menu(node& n, const YAML::Node& body) {
  using std::chrono::milliseconds;
  const auto at = node_mark_;
  const auto& d = model_.defaults;
  require(body, "prompt", at);
  if (auto v = body["prompt"])
    if (auto p = prompt_ref(v, "prompt"))
      n.prompts.push_back(*p);
  if (auto v = body["no_input_prompt"])
    n.no_input_prompt = prompt_ref(v, "no_input_prompt");
  if (auto v = body["invalid_prompt"])
    n.invalid_prompt = prompt_ref(v, "invalid_prompt");
  n.first_digit_timeout = d.first_digit_timeout;
  n.inter_digit_timeout = d.inter_digit_timeout;
  if (auto v = body["first_digit_timeout"])
    n.first_digit_timeout = duration(v, "first_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                              .value_or(n.first_digit_timeout);
  if (auto v = body["inter_digit_timeout"])
    n.inter_digit_timeout = duration(v, "inter_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                              .value_or(n.inter_digit_timeout);
  n.max_no_input = d.max_no_input;
  n.max_invalid = d.max_invalid;
  if (auto v = body["max_no_input"])
    n.max_no_input = integer(v, "max_no_input", 1, max_cap).value_or(n.max_no_input);
  if (auto v = body["max_invalid"])
    n.max_invalid = integer(v, "max_invalid", 1, max_cap).value_or(n.max_invalid);
  if (auto v = body["on_exhausted"])
    n.on_exhausted = target(v, "on_exhausted");
  if (auto v = body["global_keys"])
    n.global_keys = boolean(v, "global_keys").value_or(true);
  if (auto keys = body["keys"]) {
    if (!keys.IsMap()) {
      error(keys.Mark(), "'keys' must map DTMF keys to agent, back, repeat or none");
    } else {
      for (auto it = keys.begin(); it != keys.end(); ++it) {
        auto dg = digit(it->first, "keys");
        auto a = action(it->second, "keys", true);
        if (dg && a)
          n.keys.emplace_back(*dg, *a);
      }
    }
  }
  auto options = body["options"];
  if (!options) {
    error(at, "missing required field 'options'");
    return;
  }
  if (!options.IsMap() || options.size() == 0) {
    error(options.Mark(), "'options' must map DTMF keys to node ids");
    return;
  }
  if (options.size() > max_options) {
    error(options.Mark(), "a menu has at most " + std::to_string(max_options) + " options");
    return;
  }
  for (auto it = options.begin(); it != options.end(); ++it) {
    auto keys = scalar(it->first, "options");
    if (!keys)
      continue;
    if (keys->empty() || keys->size() > 8 || !std::all_of(keys->begin(), keys->end(), valid_digit)) {
      error(it->first.Mark(), "option '" + *keys + "' must be 1 to 8 DTMF keys (0-9 * # A-D)");
      continue;
    }
    if (std::any_of(n.options.begin(), n.options.end(), [&](const auto& o) { return o.first == *keys; })) {
      error(it->first.Mark(), "option '" + *keys + "' is given twice");
      continue;
    }
    n.options.emplace_back(*keys, target(it->second, "options"));
  }
}

void loader::read_collect(node& n, const YAML::Node& body) {
  using std::chrono::milliseconds;
  const auto at = node_mark_;
  const auto& d = model_.defaults;
  require(body, "prompt", at);
  if (auto v = body["prompt"])
    if (auto p = prompt_ref(v, "prompt"))
      n.prompts.push_back(*p);
  if (auto v = body["no_input_prompt"])
    n.no_input_prompt = prompt_ref(v, "no_input_prompt");
  if (auto v = body["invalid_prompt"])
    n.invalid_prompt = prompt_ref(v, "invalid_prompt");
  n.first_digit_timeout = d.first_digit_timeout;
  n.inter_digit_timeout = d.inter_digit_timeout;
  if (auto v = body["first_digit_timeout"])
    n.first_digit_timeout = duration(v, "first_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                              .value_or(n.first_digit_timeout);
  if (auto v = body["inter_digit_timeout"])
    n.inter_digit_timeout = duration(v, "inter_digit_timeout", milliseconds{100}, std::chrono::minutes{10})
                              .value_or(n.inter_digit_timeout);
  n.max_invalid = d.max_tries;
  if (auto v = body["max_tries"])
    n.max_invalid = integer(v, "max_tries", 1, max_cap).value_or(n.max_invalid);
  n.min_digits = 1;
  n.max_digits = 0;
  bool limits_ok = true;
  if (auto v = body["min_digits"]) {
    auto m = integer(v, "min_digits", 0, max_digits_limit);
    limits_ok = limits_ok && m.has_value();
    n.min_digits = m.value_or(1);
  }
  require(body, "max_digits", at);
  if (auto v = body["max_digits"]) {
    auto m = integer(v, "max_digits", 1, max_digits_limit);
    limits_ok = limits_ok && m.has_value();
    n.max_digits = m.value_or(max_digits_limit);
  }
  if (limits_ok && body["max_digits"] && n.min_digits > n.max_digits)
    error(body["min_digits"] ? body["min_digits"].Mark() : at,
          "min_digits (" + std::to_string(n.min_digits) + ") is greater than max_digits ("
            + std::to_string(n.max_digits) + ")");
  n.terminators = "#";
  if (auto v = body["terminators"]) {
    auto s = scalar(v, "terminators");
    if (s && (s->size() > 4 || !std::all_of(s->begin(), s->end(), valid_digit)))
      error(v.Mark(), "'terminators' must be up to 4 DTMF keys, e.g. \"#\" (or \"\" for none)");
    else if (s)
      n.terminators = *s;
  }
  if (auto v = body["pattern"])
    n.digits_pattern = regex(v, "pattern");
  require(body, "variable", at);
  if (auto v = body["variable"])
    n.variable = variable_name(v, "variable").value_or("");
  require(body, "next", at);
  if (auto v = body["next"])
    n.next = target(v, "next");
  if (auto v = body["on_failure"])
    n.on_exhausted = target(v, "on_failure");
}

void loader::read_confirm(node& n, const YAML::Node& body) {
  using std::chrono::milliseconds;
  const auto at = node_mark_;
  require(body, "prompt", at);
  if (auto v = body["prompt"])
    if (auto p = prompt_ref(v, "prompt"))
      n.prompts.push_back(*p);
  if (auto v = body["no_input_prompt"])
    n.no_input_prompt = prompt_ref(v, "no_input_prompt");
  if (auto v = body["invalid_prompt"])
    n.invalid_prompt = prompt_ref(v, "invalid_prompt");
  n.first_digit_timeout = model_.defaults.first_digit_timeout;
  if (auto v = body["timeout"])
    n.first_digit_timeout = duration(v, "timeout", milliseconds{100}, std::chrono::minutes{10}).value_or(n.first_digit_timeout);
  n.max_invalid = model_.defaults.max_tries;
  if (auto v = body["max_tries"])
    n.max_invalid = integer(v, "max_tries", 1, max_cap).value_or(n.max_invalid);
  if (auto v = body["confirm_key"])
    n.confirm_key = digit(v, "confirm_key").value_or('1');
  if (auto v = body["cancel_key"])
    n.cancel_key = digit(v, "cancel_key").value_or('2');
  if (n.confirm_key == n.cancel_key)
    error(at, "confirm_key and cancel_key must differ");
  require(body, "on_confirm", at);
  require(body, "on_cancel", at);
  if (auto v = body["on_confirm"])
    n.on_confirm = target(v, "on_confirm");
  if (auto v = body["on_cancel"])
    n.on_cancel = target(v, "on_cancel");
  if (auto v = body["on_exhausted"])
    n.on_exhausted = target(v, "on_exhausted");
}

void loader::read_case(branch_case& c, const YAML::Node& body) {
  check_fields(body,
               {"caller_prefix", "caller_matches", "callee_prefix", "callee_matches", "campaign", "time", "days",
                "time_zone", "variable", "equals", "matches", "next"},
               "a branch case");
  if (auto v = body["caller_prefix"])
    c.caller_prefixes = string_list(v, "caller_prefix");
  if (auto v = body["caller_matches"])
    c.caller_matches = regex(v, "caller_matches");
  if (auto v = body["callee_prefix"])
    c.callee_prefixes = string_list(v, "callee_prefix");
  if (auto v = body["callee_matches"])
    c.callee_matches = regex(v, "callee_matches");
  if (auto v = body["campaign"])
    c.campaigns = string_list(v, "campaign");
  if (auto v = body["time"]) {
    auto s = scalar(v, "time");
    auto parse_clock = [](std::string_view t) -> std::optional<int> {
      if (t.size() != 5 || t[2] != ':')
        return std::nullopt;
      for (std::size_t i : {0u, 1u, 3u, 4u})
        if (t[i] < '0' || t[i] > '9')
          return std::nullopt;
      const int h = (t[0] - '0') * 10 + (t[1] - '0');
      const int m = (t[3] - '0') * 10 + (t[4] - '0');
      if (h > 24 || m > 59 || (h == 24 && m != 0))
        return std::nullopt;
      return h * 60 + m;
    };
    if (s) {
      const auto dash = s->find('-');
      auto from = dash == std::string::npos ? std::nullopt : parse_clock(std::string_view{*s}.substr(0, dash));
      auto to = dash == std::string::npos ? std::nullopt : parse_clock(std::string_view{*s}.substr(dash + 1));
      if (!from || !to)
        error(v.Mark(), "'time' must be a range HH:MM-HH:MM (24-hour clock), not '" + *s + "'");
      else if (*from == *to)
        error(v.Mark(), "'time' range '" + *s + "' is empty");
      else
        c.time = std::pair{*from, *to};
    }
  }
  if (auto v = body["days"]) {
    for (const auto& item : string_list(v, "days")) {
      auto day_index = [](std::string_view name) -> int {
        for (int i = 0; i < 7; ++i)
          if (name == day_names[i])
            return i;
        return -1;
      };
      const auto dash = item.find('-');
      const int from = day_index(std::string_view{item}.substr(0, dash));
      const int to = dash == std::string::npos ? from : day_index(std::string_view{item}.substr(dash + 1));
      if (from < 0 || to < 0) {
        error(v.Mark(), "'days': '" + item + "' is not a day (sun mon tue wed thu fri sat) or a range such as mon-fri");
        continue;
      }
      for (int day = from;; day = (day + 1) % 7) {
        c.weekdays = static_cast<std::uint8_t>(c.weekdays | (1u << day));
        if (day == to)
          break;
      }
    }
  }
  if (auto v = body["time_zone"]) {
    c.zone = zone(v, "time_zone").value_or(-1);
    if (!body["time"] && !body["days"])
      warning(v.Mark(), "'time_zone' has no effect without 'time' or 'days'");
  }
  if (auto v = body["variable"])
    if (auto s = scalar(v, "variable")) {
      if (valid_variable_name(*s))
        c.variable = *s;
      else
        error(v.Mark(), "'variable': '" + *s + "' is not a valid variable name");
    }
  if (auto v = body["equals"])
    if (auto s = scalar(v, "equals"))
      c.equals = *s;
  if (auto v = body["matches"])
    c.matches = regex(v, "matches");
  if ((body["equals"] || body["matches"]) && !body["variable"])
    error(body.Mark(), "'equals' and 'matches' need a 'variable'");
  require(body, "next", body.Mark());
  if (auto v = body["next"])
    c.next = target(v, "next");
  if (body.size() == 1 && body["next"])
    warning(body.Mark(), "this case has no condition and always matches");
}

void loader::read_branch(node& n, const YAML::Node& body) {
  const auto at = node_mark_;
  auto cases = body["cases"];
  if (!cases || !cases.IsSequence() || cases.size() == 0) {
    error(cases ? cases.Mark() : at, "'cases' must be a non-empty list of conditions with a 'next'");
  } else if (cases.size() > max_cases) {
    error(cases.Mark(), "a branch has at most " + std::to_string(max_cases) + " cases");
  } else {
    for (const auto& item : cases) {
      if (!item.IsMap()) {
        error(item.Mark(), "a branch case must be a mapping");
        continue;
      }
      branch_case c;
      read_case(c, item);
      n.cases.push_back(std::move(c));
    }
  }
  require(body, "default", at);
  if (auto v = body["default"])
    n.next = target(v, "default");
}

void loader::read_lookup(node& n, const YAML::Node& body) {
  const auto at = node_mark_;
  require(body, "key", at);
  if (auto v = body["key"])
    n.key = text(v, "key", true).value_or("");
  n.budget = model_.defaults.lookup_budget;
  if (auto v = body["budget"])
    n.budget = duration(v, "budget", std::chrono::milliseconds{1}, std::chrono::seconds{60}).value_or(n.budget);
  if (auto v = body["variable"])
    n.variable = variable_name(v, "variable").value_or("");
  require(body, "on_found", at);
  require(body, "on_missing", at);
  if (auto v = body["on_found"])
    n.on_found = target(v, "on_found");
  if (auto v = body["on_missing"])
    n.on_missing = target(v, "on_missing");
  if (auto v = body["on_timeout"])
    n.on_timeout = target(v, "on_timeout");
  else
    n.on_timeout = n.on_missing;
}

void loader::resolve(target_ref& ref) {
  if (ref.id.empty())
    return;
  auto it = node_ids_.find(ref.id);
  if (it != node_ids_.end()) {
    ref.index = it->second;
    return;
  }
  std::vector<std::string> ids;
  for (const auto& [id, index] : node_ids_)
    ids.push_back(id);
  error(mark_at(ref.line, ref.column), "target '" + ref.id + "' does not exist" + suggestion(ref.id, ids));
}

// Edges a caller must press a key to take (menu options, collect success, confirm answers) are
// "input edges"; every other edge can be taken with a silent caller.
template <class F>
void for_each_edge(const node& n, bool with_input_edges, F&& f) {
  auto visit = [&](const target_ref& t) {
    if (t.index != no_node)
      f(t.index);
  };
  switch (n.kind) {
    case node_kind::play:
    case node_kind::set:
      visit(n.next);
      break;
    case node_kind::branch:
      for (const auto& c : n.cases)
        visit(c.next);
      visit(n.next);
      break;
    case node_kind::lookup:
      visit(n.on_found);
      visit(n.on_missing);
      visit(n.on_timeout);
      break;
    case node_kind::menu:
      visit(n.on_exhausted);
      if (with_input_edges)
        for (const auto& [keys, t] : n.options)
          visit(t);
      break;
    case node_kind::collect:
      visit(n.on_exhausted);
      if (with_input_edges)
        visit(n.next);
      break;
    case node_kind::confirm:
      visit(n.on_exhausted.id.empty() ? n.on_cancel : n.on_exhausted);
      if (with_input_edges) {
        visit(n.on_confirm);
        visit(n.on_cancel);
      }
      break;
    case node_kind::transfer:
    case node_kind::bridge:
    case node_kind::hangup:
      break;
  }
}

void loader::check_graph() {
  auto& nodes = model_.nodes;
  for (auto& n : nodes) {
    node_ = n.id;
    resolve(n.next);
    resolve(n.on_exhausted);
    resolve(n.on_confirm);
    resolve(n.on_cancel);
    resolve(n.on_found);
    resolve(n.on_missing);
    resolve(n.on_timeout);
    for (auto& [keys, t] : n.options)
      resolve(t);
    for (auto& c : n.cases)
      resolve(c.next);
  }
  node_.clear();
  if (model_.start != no_node) {
    // Reachability from the start node over every edge.
    std::vector<bool> seen(nodes.size(), false);
    std::vector<node_index> stack{model_.start};
    seen[model_.start] = true;
    while (!stack.empty()) {
      const auto at = stack.back();
      stack.pop_back();
      for_each_edge(nodes[at], true, [&](node_index next) {
        if (!seen[next]) {
          seen[next] = true;
          stack.push_back(next);
        }
      });
    }
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (!seen[i]) {
        node_ = nodes[i].id;
        warning(mark_at(nodes[i].line, nodes[i].column), "unreachable from the start node '" + model_.start_id + "'");
      }
    node_.clear();
  }
  // Loops a silent caller could go round forever: cycles over non-input edges. Iterative DFS.
  enum : std::uint8_t { white, grey, black };
  std::vector<std::uint8_t> color(nodes.size(), white);
  std::vector<node_index> parent(nodes.size(), no_node);
  for (node_index root = 0; root < nodes.size(); ++root) {
    if (color[root] != white)
      continue;
    std::vector<std::pair<node_index, std::vector<node_index>>> stack;
    auto push = [&](node_index i) {
      color[i] = grey;
      std::vector<node_index> next;
      for_each_edge(nodes[i], false, [&](node_index t) { next.push_back(t); });
      stack.emplace_back(i, std::move(next));
    };
    push(root);
    while (!stack.empty()) {
      auto& [at, pending] = stack.back();
      if (pending.empty()) {
        color[at] = black;
        stack.pop_back();
        continue;
      }
      const auto next = pending.back();
      pending.pop_back();
      if (color[next] == white) {
        parent[next] = at;
        push(next);
      } else if (color[next] == grey) {
        std::vector<std::string> cycle{nodes[next].id};
        for (node_index i = at; i != next && i != no_node; i = parent[i])
          cycle.push_back(nodes[i].id);
        std::reverse(cycle.begin() + 1, cycle.end());
        std::string text;
        for (const auto& id : cycle)
          text += id + " -> ";
        text += nodes[next].id;
        node_ = nodes[next].id;
        error(mark_at(nodes[next].line, nodes[next].column),
              "loop that repeats without caller input: " + text
                + " (every loop must pass a menu, collect or confirm through a key press)");
        node_.clear();
      }
    }
  }
  // Menus with no way out.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (n.kind != node_kind::menu || n.options.empty())
      continue;
    const bool option_out = std::any_of(n.options.begin(), n.options.end(), [&](const auto& o) {
      return o.second.index != no_node && o.second.index != i;
    });
    bool agent_key = false;
    if (!model_.agent_target.empty()) {
      auto bound = [&](char key) {
        for (const auto& [k, a] : n.keys)
          if (k == key)
            return a;
        if (n.global_keys)
          for (const auto& [k, a] : model_.global_keys)
            if (k == key)
              return a;
        return key_action::none;
      };
      for (char key : std::string_view{"0123456789*#ABCD"})
        if (bound(key) == key_action::agent && std::none_of(n.options.begin(), n.options.end(), [&](const auto& o) {
              return o.first.size() == 1 && o.first[0] == key;
            }))
          agent_key = true;
    }
    if (!option_out && n.on_exhausted.id.empty() && !agent_key) {
      node_ = n.id;
      error(mark_at(n.line, n.column), "menu has no way out: no option leads to another node, no on_exhausted and "
                                       "no agent key");
      node_.clear();
    }
  }
}

void loader::check_prompt_use() {
  for (prompt_index i = 0; i < model_.prompts.size(); ++i)
    if (!model_.prompts[i].from_catalog && used_prompts_.count(i) == 0)
      warning(prompt_marks_[i], "prompt '" + model_.prompts[i].name + "' is never used");
}

flow_load_result loader::run(std::string_view text_in) {
  flow_load_result result;
  const YAML::Mark whole = YAML::Mark::null_mark();
  if (text_in.size() > max_flow_document_bytes) {
    error(whole, "document is larger than " + std::to_string(max_flow_document_bytes) + " bytes");
    result.problems = std::move(problems_);
    return result;
  }
  if (const auto bad = first_invalid_utf8(text_in); bad != std::string_view::npos) {
    YAML::Mark mark;
    mark.pos = static_cast<int>(bad);
    const auto before = text_in.substr(0, bad);
    mark.line = static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    const auto line_start = before.rfind('\n');
    mark.column = static_cast<int>(line_start == std::string_view::npos ? bad : bad - line_start - 1);
    error(mark, "the document is not valid UTF-8");
    result.problems = std::move(problems_);
    return result;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string{text_in});
  } catch (const YAML::Exception& e) {
    error(e.mark, "syntax error: " + e.msg);
    result.problems = std::move(problems_);
    return result;
  }
  try {
    if (!root.IsMap()) {
      error(root.Mark(), "a flow document must be a mapping with name, version, start, prompts and nodes");
      result.problems = std::move(problems_);
      return result;
    }
    check_fields(root, {"name", "version", "description", "start", "language", "prompts", "globals", "defaults", "nodes"},
                 "the flow");
    const auto top = root.Mark();
    for (const char* field : {"name", "version", "start", "nodes"})
      require(root, field, top);
    if (auto v = root["name"])
      model_.name = text(v, "name", false).value_or("");
    if (auto v = root["version"]) {
      auto s = scalar(v, "version");
      std::int64_t version = 0;
      if (s) {
        auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), version);
        if (ec != std::errc{} || end != s->data() + s->size() || version < 1)
          error(v.Mark(), "'version' must be a positive whole number, not '" + *s + "'");
        else
          model_.version = version;
      }
    }
    if (auto v = root["language"])
      model_.language = text(v, "language", false).value_or("");
    read_defaults(root["defaults"]);
    read_globals(root["globals"]);
    if (auto v = root["prompts"])
      read_prompts(v);
    auto nodes = root["nodes"];
    if (nodes && (!nodes.IsMap() || nodes.size() == 0)) {
      error(nodes.Mark(), "'nodes' must map node ids to nodes");
    } else if (nodes && nodes.size() > max_flow_nodes) {
      error(nodes.Mark(), "a flow has at most " + std::to_string(max_flow_nodes) + " nodes");
    } else if (nodes) {
      for (auto it = nodes.begin(); it != nodes.end(); ++it)
        read_node(it->first, it->second);
      node_.clear();
    }
    if (auto v = root["start"]) {
      if (auto s = text(v, "start", false)) {
        model_.start_id = *s;
        if (auto it = node_ids_.find(*s); it != node_ids_.end()) {
          model_.start = it->second;
        } else {
          std::vector<std::string> ids;
          for (const auto& [id, index] : node_ids_)
            ids.push_back(id);
          error(v.Mark(), "start node '" + *s + "' does not exist" + suggestion(*s, ids));
        }
      }
    }
    check_graph();
    check_prompt_use();
  } catch (const YAML::Exception& e) {
    error(e.mark, std::string{"unexpected document structure: "} + e.msg);
  }
  std::stable_sort(problems_.begin(), problems_.end(), [](const diagnostic& a, const diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  const bool has_error = std::any_of(problems_.begin(), problems_.end(),
                                     [](const diagnostic& d) { return d.level == severity::error; });
  if (!has_error)
    result.flow = std::make_shared<const flow>(std::move(model_));
  result.problems = std::move(problems_);
  return result;
}

} // namespace

std::size_t flow_load_result::count(severity level) const noexcept {
  return static_cast<std::size_t>(
    std::count_if(problems.begin(), problems.end(), [&](const diagnostic& d) { return d.level == level; }));
}

flow_load_result load_flow(std::string_view text, std::string_view file_name, const prompt_catalog& catalog_prompts) {
  loader l{file_name, catalog_prompts};
  return l.run(text);
}

flow_load_result load_flow_file(const std::string& path, const prompt_catalog& catalog_prompts) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream content;
  if (in)
    content << in.rdbuf();
  if (!in || in.bad()) {
    flow_load_result result;
    result.problems.push_back({severity::error, {path, 0, 0}, "", "cannot read the file"});
    return result;
  }
  return load_flow(content.str(), path, catalog_prompts);
}

} // namespace callgrid::ivr
