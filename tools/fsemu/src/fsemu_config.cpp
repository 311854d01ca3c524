#include "fsemu_config.hpp"

#include <cmath>
#include <exception>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

namespace callgrid::fsemu {

namespace {

/// Walks one parsed file and collects every problem. Owned by `parse_config` for one call.
class config_reader {
public:
  explicit config_reader(const std::string& file) : file_(file) {}

  std::vector<config_problem> problems;

  void problem(const toml::source_region& where, std::string key, std::string message) {
    problems.push_back(config_problem{file_, where.begin.line, where.begin.column,
                                      std::move(key), std::move(message)});
  }

  /// Reports every key of `table` not in `known`.
  void check_keys(const toml::table& table, const std::string& prefix,
                  std::initializer_list<std::string_view> known) {
    for (auto&& [key, value] : table) {
      bool found = false;
      for (auto k : known)
        found = found || k == key.str();
      if (!found) {
        std::string list;
        for (auto k : known)
          list += (list.empty() ? "" : ", ") + std::string{k};
        problem(key.source(), join(prefix, key.str()), "unknown key (known: " + list + ")");
      }
    }
  }

  static std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string{key} : prefix + "." + std::string{key};
  }

  std::optional<std::string> string(const toml::table& table, const std::string& prefix,
                                    std::string_view key, bool non_empty = true) {
    const auto* node = table.get(key);
    if (node == nullptr)
      return std::nullopt;
    if (!node->is_string()) {
      problem(node->source(), join(prefix, key), "must be a string");
      return std::nullopt;
    }
    auto value = node->value<std::string>().value_or("");
    if (non_empty && value.empty()) {
      problem(node->source(), join(prefix, key), "must not be empty");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::int64_t> integer(const toml::table& table, const std::string& prefix,
                                      std::string_view key, std::int64_t min, std::int64_t max) {
    const auto* node = table.get(key);
    if (node == nullptr)
      return std::nullopt;
    if (!node->is_integer()) {
      problem(node->source(), join(prefix, key), "must be an integer");
      return std::nullopt;
    }
    auto value = node->value<std::int64_t>().value_or(0);
    if (value < min || value > max) {
      problem(node->source(), join(prefix, key),
              "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> number(const toml::table& table, const std::string& prefix,
                               std::string_view key) {
    const auto* node = table.get(key);
    if (node == nullptr)
      return std::nullopt;
    if (!node->is_number()) {
      problem(node->source(), join(prefix, key), "must be a number");
      return std::nullopt;
    }
    auto value = node->value<double>().value_or(0.0);
    if (!(value > 0.0) || !std::isfinite(value)) {
      problem(node->source(), join(prefix, key), "must be a positive number");
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const toml::table& table, const std::string& prefix,
                              std::string_view key) {
    const auto* node = table.get(key);
    if (node == nullptr)
      return std::nullopt;
    if (!node->is_boolean()) {
      problem(node->source(), join(prefix, key), "must be true or false");
      return std::nullopt;
    }
    return node->value<bool>();
  }

  std::optional<std::int64_t> duration(const toml::node& node, const std::string& key) {
    if (!node.is_string()) {
      problem(node.source(), key, "must be a duration string such as \"3s\" or \"200ms\"");
      return std::nullopt;
    }
    auto parsed = parse_duration_us(node.value<std::string>().value_or(""));
    if (!parsed) {
      problem(node.source(), key,
              "'" + node.value<std::string>().value_or("") + "' is not a duration (use e.g. "
                "\"3s\", \"1.5s\", \"200ms\", \"2m\")");
      return std::nullopt;
    }
    return parsed;
  }

  std::optional<std::int64_t> duration(const toml::table& table, const std::string& prefix,
                                       std::string_view key) {
    const auto* node = table.get(key);
    if (node == nullptr)
      return std::nullopt;
    return duration(*node, join(prefix, key));
  }

  const toml::table* table(const toml::table& parent, const std::string& prefix,
                           std::string_view key) {
    const auto* node = parent.get(key);
    if (node == nullptr)
      return nullptr;
    if (!node->is_table()) {
      problem(node->source(), join(prefix, key), "must be a table");
      return nullptr;
    }
    return node->as_table();
  }

  void read_switch(const toml::table& root, file_config& out) {
    const auto* t = table(root, "", "switch");
    if (t == nullptr)
      return;
    check_keys(*t, "switch",
               {"hostname", "max_sessions", "heartbeat", "listen", "esl_port", "esl_password",
                "socket_target", "run_callers", "replace_default_dialplan", "sip_port",
                "sip_context", "sounds_dir"});
    out.sounds_dir = string(*t, "switch", "sounds_dir");
    out.hostname = string(*t, "switch", "hostname");
    if (auto n = integer(*t, "switch", "max_sessions", 1, 10'000'000))
      out.max_sessions = static_cast<std::uint32_t>(*n);
    if (const auto* node = t->get("heartbeat")) {
      // "0s" switches HEARTBEAT off.
      out.heartbeat_us = duration(*node, "switch.heartbeat");
    }
    out.listen = string(*t, "switch", "listen");
    if (auto n = integer(*t, "switch", "esl_port", 1, 65535))
      out.esl_port = static_cast<std::uint16_t>(*n);
    if (auto n = integer(*t, "switch", "sip_port", 1, 65535))
      out.sip_port = static_cast<std::uint16_t>(*n);
    if (auto context = string(*t, "switch", "sip_context"))
      out.sip_context = context;
    out.esl_password = string(*t, "switch", "esl_password");
    if (auto target = string(*t, "switch", "socket_target")) {
      if (valid_host_port(*target))
        out.socket_target = target;
      else
        problem(t->get("socket_target")->source(), "switch.socket_target",
                "must be HOST:PORT with a port of 1-65535");
    }
    out.run_callers = boolean(*t, "switch", "run_callers").value_or(false);
    out.replace_default_dialplan
      = boolean(*t, "switch", "replace_default_dialplan").value_or(false);
  }

  static bool valid_host_port(const std::string& value) {
    auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == value.size())
      return false;
    auto port = value.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return false;
    auto n = std::stoul(port);
    return n >= 1 && n <= 65535;
  }

  void read_dialplan(const toml::table& root, file_config& out) {
    const auto* node = root.get("dialplan");
    if (node == nullptr)
      return;
    const auto* entries = node->as_array();
    if (entries == nullptr) {
      problem(node->source(), "dialplan", "must be an array of tables ([[dialplan]])");
      return;
    }
    for (std::size_t i = 0; i < entries->size(); ++i) {
      auto prefix = "dialplan[" + std::to_string(i) + "]";
      const auto* entry = (*entries)[i].as_table();
      if (entry == nullptr) {
        problem((*entries)[i].source(), prefix, "must be a table");
        continue;
      }
      check_keys(*entry, prefix,
                 {"destination", "regex", "context", "action", "socket", "file", "length"});
      dialplan_extension e;
      auto destination = string(*entry, prefix, "destination");
      auto regex = string(*entry, prefix, "regex");
      if (destination.has_value() == regex.has_value()) {
        problem(entry->source(), prefix, "needs exactly one of 'destination' or 'regex'");
        continue;
      }
      if (destination) {
        e.destination = *destination;
        e.dp_match = "ARRAY::" + *destination + "|:" + *destination;
      } else {
        try {
          std::regex check{*regex};
          e.destination_regex = *regex;
        } catch (const std::regex_error& err) {
          problem(entry->get("regex")->source(), prefix + ".regex",
                  std::string{"is not a valid regular expression: "} + err.what());
          continue;
        }
      }
      e.context = string(*entry, prefix, "context").value_or("default");
      auto socket = string(*entry, prefix, "socket");
      auto action = string(*entry, prefix, "action").value_or(socket ? "socket" : "park");
      if (action == "park") {
        e.action = extension_action::park;
      } else if (action == "socket") {
        e.action = extension_action::socket;
        if (!socket) {
          problem(entry->source(), prefix, "action 'socket' needs socket = \"HOST:PORT\"");
          continue;
        }
        if (!valid_host_port(*socket)) {
          problem(entry->get("socket")->source(), prefix + ".socket",
                  "must be HOST:PORT with a port of 1-65535");
          continue;
        }
        e.socket_address = *socket;
      } else if (action == "tone" || action == "playback") {
        e.action = extension_action::play_and_hang_up;
        e.playback_file = string(*entry, prefix, "file")
                            .value_or(action == "tone" ? "tone_stream://%(1000,0,440);loops=2"
                                                       : "");
        if (e.playback_file.empty()) {
          problem(entry->source(), prefix, "action 'playback' needs file = \"...\"");
          continue;
        }
        auto length = duration(*entry, prefix, "length");
        e.playback_us = length ? *length : playback_duration_us(e.playback_file, 1'000'000);
      } else {
        problem(entry->get("action")->source(), prefix + ".action",
                "'" + action + "' is not an action (park, socket, tone, playback)");
        continue;
      }
      if (socket && e.action != extension_action::socket)
        problem(entry->get("socket")->source(), prefix + ".socket",
                "only an action 'socket' entry takes socket");
      out.dialplan.push_back(std::move(e));
    }
  }

  void read_prompts(const toml::table& root, file_config& out) {
    const auto* t = table(root, "", "prompts");
    if (t == nullptr)
      return;
    for (auto&& [key, value] : *t) {
      auto name = "prompts." + std::string{key.str()};
      if (key.str() == "unlisted") {
        auto mode = value.value<std::string>();
        if (mode == "play" || mode == "missing")
          out.unlisted_files_exist = *mode == "play";
        else
          problem(value.source(), name, "must be \"play\" or \"missing\"");
        continue;
      }
      auto length = duration(value, name);
      if (!length)
        continue;
      if (key.str() == "default")
        out.default_prompt_us = *length;
      else
        out.prompt_lengths_us[std::string{key.str()}] = *length;
    }
  }

  std::optional<script_step> read_step(const toml::node& node, const std::string& prefix) {
    script_step step;
    if (node.is_string()) {
      auto word = node.value<std::string>().value_or("");
      if (word == "hangup") {
        step.what = script_step::kind::hangup;
        return step;
      }
      if (word == "expect_hangup") {
        step.what = script_step::kind::expect_hangup;
        return step;
      }
      problem(node.source(), prefix,
              "'" + word + "' is not a step (a string step is \"hangup\" or \"expect_hangup\")");
      return std::nullopt;
    }
    const auto* t = node.as_table();
    if (t == nullptr) {
      problem(node.source(), prefix, "a step is an inline table such as { wait_prompt = 1 }");
      return std::nullopt;
    }
    check_keys(*t, prefix,
               {"wait_prompt", "wait_prompt_end", "press", "digit_interval", "pause", "hangup",
                "expect_hangup", "timeout"});
    int kinds = 0;
    for (auto k : {"wait_prompt", "wait_prompt_end", "press", "pause", "hangup", "expect_hangup"})
      kinds += t->contains(k) ? 1 : 0;
    if (kinds != 1) {
      problem(node.source(), prefix,
              "a step has exactly one of wait_prompt, wait_prompt_end, press, pause, hangup, "
              "expect_hangup");
      return std::nullopt;
    }
    if (t->contains("wait_prompt") || t->contains("wait_prompt_end")) {
      bool end = t->contains("wait_prompt_end");
      step.what = end ? script_step::kind::wait_prompt_end : script_step::kind::wait_prompt;
      auto n = integer(*t, prefix, end ? "wait_prompt_end" : "wait_prompt", 1, 1'000'000);
      if (!n)
        return std::nullopt;
      step.count = static_cast<std::uint32_t>(*n);
    } else if (t->contains("press")) {
      step.what = script_step::kind::press;
      auto digits = string(*t, prefix, "press");
      if (!digits)
        return std::nullopt;
      if (digits->find_first_not_of("0123456789*#ABCDabcd") != std::string::npos) {
        problem(t->get("press")->source(), prefix + ".press",
                "DTMF digits are 0-9, *, #, A-D");
        return std::nullopt;
      }
      step.digits = *digits;
      if (auto interval = duration(*t, prefix, "digit_interval"))
        step.interval_us = *interval;
    } else if (t->contains("pause")) {
      step.what = script_step::kind::pause;
      auto d = duration(*t, prefix, "pause");
      if (!d)
        return std::nullopt;
      step.duration_us = *d;
    } else if (t->contains("hangup")) {
      step.what = script_step::kind::hangup;
      if (!boolean(*t, prefix, "hangup").value_or(false))
        problem(t->get("hangup")->source(), prefix + ".hangup", "must be true");
    } else {
      step.what = script_step::kind::expect_hangup;
      const auto* v = t->get("expect_hangup");
      if (v->is_boolean()) {
        if (!v->value<bool>().value_or(false))
          problem(v->source(), prefix + ".expect_hangup", "must be true or a timeout");
      } else if (auto d = duration(*v, prefix + ".expect_hangup")) {
        step.timeout_us = *d;
      }
    }
    if (auto timeout = duration(*t, prefix, "timeout"))
      step.timeout_us = *timeout;
    if (t->contains("digit_interval") && step.what != script_step::kind::press)
      problem(t->get("digit_interval")->source(), prefix + ".digit_interval",
              "only a press step takes digit_interval");
    return step;
  }

  std::optional<std::vector<script_step>> read_steps(const toml::node& node,
                                                     const std::string& prefix) {
    const auto* steps = node.as_array();
    if (steps == nullptr || steps->empty()) {
      problem(node.source(), prefix, "must be a non-empty array of steps");
      return std::nullopt;
    }
    std::vector<script_step> out;
    bool ok = true;
    for (std::size_t i = 0; i < steps->size(); ++i) {
      auto step = read_step((*steps)[i], prefix + "[" + std::to_string(i) + "]");
      if (!step) {
        ok = false;
        continue;
      }
      out.push_back(*step);
    }
    if (!ok)
      return std::nullopt;
    return out;
  }

  void read_callers(const toml::table& root, file_config& out) {
    const auto* node = root.get("callers");
    if (node == nullptr)
      return;
    const auto* entries = node->as_array();
    if (entries == nullptr) {
      problem(node->source(), "callers", "must be an array of tables ([[callers]])");
      return;
    }
    for (std::size_t i = 0; i < entries->size(); ++i) {
      auto prefix = "callers[" + std::to_string(i) + "]";
      const auto* t = (*entries)[i].as_table();
      if (t == nullptr) {
        problem((*entries)[i].source(), prefix, "must be a table");
        continue;
      }
      check_keys(*t, prefix,
                 {"name", "destination", "context", "caller_id", "caller_id_name", "rate",
                  "concurrency", "total", "answer_timeout", "wait_timeout", "start_after", "pick",
                  "variables", "script", "scripts"});
      caller_scenario s;
      s.name = string(*t, prefix, "name").value_or("scenario" + std::to_string(i + 1));
      auto destination = string(*t, prefix, "destination");
      if (!destination)
        problem(t->source(), prefix, "needs destination = \"...\"");
      s.destination = destination.value_or("");
      s.context = string(*t, prefix, "context").value_or("default");
      s.caller_id = string(*t, prefix, "caller_id").value_or("0000000000");
      s.caller_id_name = string(*t, prefix, "caller_id_name", false).value_or("");
      s.rate = number(*t, prefix, "rate").value_or(1.0);
      s.concurrency
        = static_cast<std::uint32_t>(integer(*t, prefix, "concurrency", 1, 1'000'000).value_or(1));
      s.total
        = static_cast<std::uint32_t>(integer(*t, prefix, "total", 0, 100'000'000).value_or(1));
      s.answer_timeout_us = duration(*t, prefix, "answer_timeout").value_or(10'000'000);
      s.wait_timeout_us = duration(*t, prefix, "wait_timeout").value_or(30'000'000);
      s.start_after_us = duration(*t, prefix, "start_after").value_or(0);
      auto pick = string(*t, prefix, "pick").value_or("round_robin");
      if (pick == "weighted")
        s.weighted = true;
      else if (pick != "round_robin")
        problem(t->get("pick")->source(), prefix + ".pick",
                "'" + pick + "' is not a choice (round_robin, weighted)");
      if (const auto* vars = table(*t, prefix, "variables")) {
        for (auto&& [key, value] : *vars) {
          if (!value.is_string() && !value.is_integer()) {
            problem(value.source(), prefix + ".variables." + std::string{key.str()},
                    "must be a string or an integer");
            continue;
          }
          auto text = value.is_string() ? value.value<std::string>().value_or("")
                                        : std::to_string(value.value<std::int64_t>().value_or(0));
          s.variables.push_back(channel_variable{std::string{key.str()}, text});
        }
      }
      const auto* script = t->get("script");
      const auto* scripts = t->get("scripts");
      if ((script == nullptr) == (scripts == nullptr)) {
        problem(t->source(), prefix, "needs exactly one of 'script' or '[[callers.scripts]]'");
        continue;
      }
      if (script != nullptr) {
        if (auto steps = read_steps(*script, prefix + ".script"))
          s.scripts.push_back(caller_script{"script1", 1, std::move(*steps)});
      } else if (const auto* list = scripts->as_array(); list == nullptr || list->empty()) {
        problem(scripts->source(), prefix + ".scripts", "must be a non-empty array of tables");
      } else {
        for (std::size_t j = 0; j < list->size(); ++j) {
          auto sp = prefix + ".scripts[" + std::to_string(j) + "]";
          const auto* st = (*list)[j].as_table();
          if (st == nullptr) {
            problem((*list)[j].source(), sp, "must be a table");
            continue;
          }
          check_keys(*st, sp, {"name", "weight", "steps"});
          caller_script cs;
          cs.name = string(*st, sp, "name").value_or("script" + std::to_string(j + 1));
          cs.weight
            = static_cast<std::uint32_t>(integer(*st, sp, "weight", 1, 1'000'000).value_or(1));
          const auto* steps = st->get("steps");
          if (steps == nullptr) {
            problem(st->source(), sp, "needs steps = [ ... ]");
            continue;
          }
          if (auto parsed = read_steps(*steps, sp + ".steps")) {
            cs.steps = std::move(*parsed);
            s.scripts.push_back(std::move(cs));
          }
        }
      }
      out.callers.push_back(std::move(s));
    }
  }

private:
  const std::string& file_;
};

} // namespace

std::string config_problem::to_string() const {
  std::string out = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key.empty())
    out += "key '" + key + "': ";
  return out + message;
}

std::optional<std::int64_t> parse_duration_us(std::string_view text) {
  std::size_t i = 0;
  double value = 0;
  bool digits = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (text[i++] - '0');
    digits = true;
  }
  if (i < text.size() && text[i] == '.') {
    double scale = 0.1;
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value += (text[i++] - '0') * scale;
      scale /= 10;
      digits = true;
    }
  }
  if (!digits)
    return std::nullopt;
  auto unit = text.substr(i);
  double factor = 0;
  if (unit == "us")
    factor = 1;
  else if (unit == "ms")
    factor = 1e3;
  else if (unit == "s")
    factor = 1e6;
  else if (unit == "m")
    factor = 60e6;
  else if (unit == "h")
    factor = 3600e6;
  else
    return std::nullopt;
  auto us = value * factor;
  if (us > 9e15)
    return std::nullopt;
  return static_cast<std::int64_t>(std::llround(us));
}

void file_config::apply_to(switch_config& config) const {
  if (hostname) {
    config.identity.hostname = *hostname;
    config.identity.switchname = *hostname;
  }
  if (max_sessions)
    config.max_sessions = *max_sessions;
  if (heartbeat_us)
    config.heartbeat_interval_us = *heartbeat_us;
  if (esl_password)
    config.password = *esl_password;
  if (replace_default_dialplan)
    config.dialplan.clear();
  // Entries from the file come first: for one destination the first match wins.
  auto merged = dialplan;
  for (auto& e : config.dialplan)
    merged.push_back(std::move(e));
  config.dialplan = std::move(merged);
  if (default_prompt_us)
    config.file_playback_us = *default_prompt_us;
  for (const auto& [file, length] : prompt_lengths_us)
    config.prompt_lengths_us[file] = length;
  if (unlisted_files_exist)
    config.unlisted_files_exist = *unlisted_files_exist;
  if (sounds_dir)
    config.sounds_dir = *sounds_dir;
}

config_load_result parse_config(std::string_view text, const std::string& file) {
  config_load_result result;
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& err) {
    result.problems.push_back(config_problem{file, err.source().begin.line,
                                             err.source().begin.column, {},
                                             std::string{err.description()}});
    return result;
  } catch (const std::exception& err) {
    result.problems.push_back(config_problem{file, 0, 0, {}, err.what()});
    return result;
  }
  config_reader reader{file};
  file_config out;
  reader.check_keys(root, "", {"switch", "dialplan", "prompts", "callers"});
  reader.read_switch(root, out);
  reader.read_dialplan(root, out);
  reader.read_prompts(root, out);
  reader.read_callers(root, out);
  result.problems = std::move(reader.problems);
  if (result.problems.empty())
    result.config = std::move(out);
  return result;
}

config_load_result load_config(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    config_load_result result;
    result.problems.push_back(config_problem{path, 0, 0, {}, "cannot read the file"});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

} // namespace callgrid::fsemu
