// render_effective and render_reference_markdown: both walk the key schema.

#include <cstdio>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "conninfo_mask.hpp"

namespace callgrid::config {

namespace {

constexpr std::string_view mask = "********";

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04X", static_cast<unsigned>(byte));
      out += escape;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string toml_literal(const setting_value& value) {
  struct visitor {
    std::string operator()(const std::string& text) const { return toml_string(text); }
    std::string operator()(std::int64_t number) const { return std::to_string(number); }
    std::string operator()(bool flag) const { return flag ? "true" : "false"; }
    std::string operator()(std::chrono::milliseconds duration) const {
      return toml_string(format_duration(duration));
    }
    std::string operator()(const std::vector<std::string>& list) const {
      std::string out = "[";
      for (const auto& element : list) {
        if (out.size() > 1)
          out += ", ";
        out += toml_string(element);
      }
      return out + "]";
    }
  };
  return std::visit(visitor{}, value);
}

std::string section_of(std::string_view name) {
  auto dot = name.find('.');
  return dot == std::string_view::npos ? std::string{} : std::string{name.substr(0, dot)};
}

std::string type_cell(const key_spec& spec) {
  switch (spec.kind) {
    case value_kind::integer:
      return "integer, " + std::to_string(spec.min) + " to " + std::to_string(spec.max);
    case value_kind::duration:
      return "duration, " + format_duration(std::chrono::milliseconds{spec.min}) + " to "
             + format_duration(std::chrono::milliseconds{spec.max});
    case value_kind::choice: {
      std::string out = "one of";
      for (auto word : spec.choices) {
        out += out == "one of" ? " `" : ", `";
        out += word;
        out += '`';
      }
      return out;
    }
    default:
      return std::string{to_string(spec.kind)};
  }
}

} // namespace

std::string render_effective(const daemon_config& config, secrets show) {
  std::string out;
  std::string current_section;
  for (const auto& spec : key_schema()) {
    auto section = section_of(spec.name);
    if (section != current_section) {
      out += "\n[" + section + "]\n";
      current_section = section;
    }
    auto value = spec.load(config);
    if (show == secrets::masked) {
      if (spec.name == "esl.password" && !config.esl.password.empty())
        value = std::string{mask};
      else if (spec.name == "database.conninfo")
        value = internal::mask_conninfo(config.database.conninfo, mask);
    }
    auto leaf = section.empty() ? std::string{spec.name} : std::string{spec.name.substr(
                                                             section.size() + 1)};
    out += leaf + " = " + toml_literal(value) + "\n";
  }
  return out;
}

std::string render_reference_markdown() {
  std::string out = R"(<!-- Generated from the key schema in config/src/key_schema.cpp by
     callgrid::config::render_reference_markdown(); do not edit by hand. The unit test
     config.reference fails when this file is out of date and says how to regenerate it. -->
# callgridd configuration reference

`callgridd --config FILE` reads, in this order, later sources overriding earlier ones key by key:

1. the defaults below;
2. `FILE`, a TOML document;
3. every `*.toml` file in the directory `conf.d/` next to `FILE`, in lexical order of the file
   names (names starting with `.` and other files are skipped; a missing `conf.d/` is fine);
4. environment variables: every key can be set by the variable in the table (`CALLGRID_` plus
   the dotted key in upper case, dots and underscores alike as `_`). Values are written as in
   TOML but without quotes: integers in decimal, booleans as `true`/`false` (or `1`/`0`),
   durations as `30s`, arrays of strings separated by `,`. A `CALLGRID_` variable that matches
   no key is reported as a warning and ignored.

An unknown key or section, a value of the wrong type, out of range, or not one of the allowed
words is an error; callgridd reports every problem it finds (file, line, column, key and a hint)
and does not start. `callgridd --check-config` checks without starting.

Types: a *duration* is a string of whole numbers with units `h`, `m`, `s`, `ms` in decreasing
order (`"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"1m30s"`). Addresses are given as a host key
(`esl.host`, `outbound.listen`, `redis.host`, `http.listen`: an IPv4 or IPv6 address without
brackets, or a host name) and a separate port key.

Safety checks (each error names the key to fix): `esl.password` must be set, must not be
FreeSWITCH's default `ClueCon` (in any case) and must have at least 12 characters; `esl.host`,
`outbound.listen` (when `outbound.enabled`) and `http.listen` must be loopback addresses
(127.0.0.0/8, `::1`, `localhost`) unless the section's `allow_remote` is true; `http.port` must
differ from `outbound.port` when both listen on the same address.

*Restart*: "yes" means callgridd reads the key only at start; "no" means a SIGHUP applies a new
value to the running daemon (callgridd reads the configuration again and names every changed
key, see [callgridd.md](callgridd.md)).

| Key | Type | Default | Unit | Restart | Environment variable | Description |
|---|---|---|---|---|---|---|
)";
  for (const auto& spec : key_schema()) {
    out += "| `" + std::string{spec.name} + "` | " + type_cell(spec) + " | ";
    out += spec.default_toml.empty() ? std::string{"required"}
                                     : "`" + std::string{spec.default_toml} + "`";
    out += " | " + std::string{spec.unit} + " | " + (spec.restart ? "yes" : "no") + " | `"
           + env_name(spec.name) + "` | " + std::string{spec.description} + " |\n";
  }
  out += R"(
An example with every key and comments: `config/examples/callgridd.toml`.
)";
  return out;
}

} // namespace callgrid::config
