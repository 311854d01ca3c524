#include "config/loader.hpp"

#include <algorithm>
#include <array>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <set>
#include <system_error>
#include <unistd.h>

#include <toml++/toml.h>

#include "config/key_schema.hpp"
#include "suggestion.hpp"
#include "value_parser.hpp"

extern char** environ; // POSIX; no standard header declares it

namespace callgrid::config {

namespace {

using internal::closest_match;
using internal::parse_env_value;
using internal::parse_toml_value;
using internal::value_problem;

constexpr std::size_t max_file_bytes = 1024 * 1024;
constexpr std::string_view env_prefix = "CALLGRID_";
constexpr std::string_view defaults_file = "(defaults)";
constexpr std::size_t min_password_length = 12;

std::string section_of(std::string_view name) {
  auto dot = name.find('.');
  return dot == std::string_view::npos ? std::string{} : std::string{name.substr(0, dot)};
}

std::string leaf_of(std::string_view name) {
  auto dot = name.rfind('.');
  return std::string{dot == std::string_view::npos ? name : name.substr(dot + 1)};
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty())
      out += separator;
    out += word;
  }
  return out;
}

/// Keys that were in the schema and are gone, with what to do instead: a configuration that
/// still has one fails with that hint rather than a "did you mean".
struct retired_key {
  std::string_view name;
  std::string_view hint;
};
constexpr std::array retired_keys{
  retired_key{"database.pool_size",
              "callgridd keeps no connection pool; the connections that ship call records are "
              "records.ship_connections"},
  retired_key{"ivr.flow_files",
              "callgridd takes its flows from the catalog in PostgreSQL only; import a flow "
              "document with `callgridctl flow import FILE`"},
};

/// The retired key `name` (dotted, or its CALLGRID_ environment variable), or null.
const retired_key* find_retired(std::string_view name) {
  for (const auto& key : retired_keys)
    if (key.name == name || env_name(key.name) == name)
      return &key;
  return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool is_loopback(const std::string& host) {
  if (iequals(host, "localhost"))
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0
           || (IN6_IS_ADDR_V4MAPPED(&v6) != 0 && v6.s6_addr[12] == 127);
  return false;
}

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::";
}

std::string resolve_hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0')
    return "localhost";
  return buffer;
}

source_position position(const std::string& file, const toml::source_position& where) {
  return {file, static_cast<int>(where.line), static_cast<int>(where.column)};
}

/// The text of a file, or why it could not be had.
struct file_contents {
  std::string text;
  /// Empty on success, else e.g. "cannot be read: Permission denied".
  std::string failure;
};

std::string errno_text(int code) {
  return std::error_code{code, std::generic_category()}.message();
}

/// Reads a whole file of at most `max_file_bytes`.
file_contents read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return {{}, "is a directory"};
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return {{}, "cannot be read: " + errno_text(errno)};
  file_contents out;
  char buffer[65536];
  std::size_t got = 0;
  while (out.text.size() <= max_file_bytes
         && (got = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    out.text.append(buffer, got);
  auto failed = std::ferror(file) != 0;
  auto saved_errno = errno;
  std::fclose(file);
  if (failed)
    return {{}, "cannot be read: " + errno_text(saved_errno)};
  if (out.text.size() > max_file_bytes)
    return {{}, "is larger than 1 MiB"};
  return out;
}

/// Applies the configuration sources in order to one `daemon_config`, collecting every problem.
/// Lives for one load in the caller's thread.
class loader {
public:
  /// Starts from the defaults of the key schema.
  explicit loader(std::string main_file)
    : main_file_(std::move(main_file)), config_(defaults().config_), origin_(defaults().origin_),
      problems_(defaults().problems_) {}

  void apply_file(const std::filesystem::path& path) {
    auto contents = read_file(path);
    if (!contents.failure.empty()) {
      unparsed_file_ = true;
      error({path.string()}, "", std::move(contents.failure), "");
      return;
    }
    apply_text(contents.text, path.string());
  }

  void apply_drop_ins(const std::filesystem::path& main_file) {
    auto dir = main_file.parent_path() / "conf.d";
    std::error_code ec;
    auto status = std::filesystem::status(dir, ec);
    if (status.type() == std::filesystem::file_type::not_found)
      return;
    if (ec) {
      error({dir.string()}, "", "cannot read the drop-in directory: " + ec.message(), "");
      return;
    }
    if (!std::filesystem::is_directory(status)) {
      error({dir.string()}, "", "is not a directory",
            "remove it, or make it a directory of *.toml drop-in files");
      return;
    }
    std::vector<std::filesystem::path> files;
    std::filesystem::directory_iterator it{dir, ec};
    for (; !ec && it != std::filesystem::directory_iterator{}; it.increment(ec)) {
      auto name = it->path().filename().string();
      if (name.starts_with('.') || !name.ends_with(".toml"))
        continue;
      files.push_back(it->path());
    }
    if (ec) {
      error({dir.string()}, "", "cannot read the drop-in directory: " + ec.message(), "");
      return;
    }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
      return a.filename().string() < b.filename().string();
    });
    for (const auto& file : files)
      apply_file(file);
  }

  void apply_text(std::string_view text, const std::string& file) {
    auto first = problems_.size();
    try {
      auto table = toml::parse(text, file);
      apply_table(table, file, "");
    } catch (const toml::parse_error& e) {
      unparsed_file_ = true;
      error(position(file, e.source().begin), "", "TOML syntax error: " + std::string{
                                                    e.description()},
            "");
    } catch (const std::exception& e) {
      unparsed_file_ = true;
      error({file}, "", std::string{"cannot be parsed: "} + e.what(), "");
    }
    // toml++ iterates keys in name order; report them in the order of the file.
    std::stable_sort(problems_.begin() + static_cast<std::ptrdiff_t>(first), problems_.end(),
                     [](const diagnostic& a, const diagnostic& b) {
                       return std::pair{a.where.line, a.where.column}
                              < std::pair{b.where.line, b.where.column};
                     });
  }

  void apply_environment(const environment& env) {
    for (const auto& [name, text] : env) {
      if (!name.starts_with(env_prefix))
        continue;
      source_position where{"environment variable " + name};
      auto found = keys_by_env_name().find(name);
      if (found == keys_by_env_name().end()) {
        if (const auto* retired = find_retired(name)) {
          warning(where, std::string{retired->name},
                  name + " is no longer a configuration key and is ignored",
                  std::string{retired->hint});
          continue;
        }
        std::vector<std::string> names;
        for (const auto& entry : keys_by_env_name())
          names.push_back(entry.first);
        auto near = closest_match(name, names);
        warning(where, "", name + " matches no configuration key and is ignored",
                near ? "did you mean " + *near + "?" : "");
        continue;
      }
      store(*found->second, parse_env_value(text, *found->second), where);
    }
  }

  load_result finish() {
    check_required();
    if (config_.node.name.empty())
      config_.node.name = resolve_hostname();
    check_password();
    check_loopback("esl.host", config_.esl.host, "esl.allow_remote", config_.esl.allow_remote,
                   "to control a FreeSWITCH on another host (private network only)");
    if (config_.outbound.enabled)
      check_loopback("outbound.listen", config_.outbound.listen, "outbound.allow_remote",
                     config_.outbound.allow_remote,
                     "to accept outbound sockets from a FreeSWITCH on another host");
    check_loopback("http.listen", config_.http.listen, "http.allow_remote",
                   config_.http.allow_remote, "to serve metrics and the admin API remotely");
    check_loopback("cluster.listen", config_.cluster.listen, "cluster.allow_remote",
                   config_.cluster.allow_remote, "to accept node daemons from other hosts");
    check_port_clash();
    check_failure_thresholds();
    check_cluster_tls();
    load_result result;
    result.problems = std::move(problems_);
    if (!has_errors(result.problems))
      result.config = std::move(config_);
    return result;
  }

private:
  struct defaults_tag {};

  /// An empty loader that only applies the defaults of the key schema.
  explicit loader(defaults_tag) : main_file_(defaults_file) {
    std::string text;
    for (const auto& spec : key_schema())
      if (!spec.default_toml.empty())
        text += std::string{spec.name} + " = " + std::string{spec.default_toml} + "\n";
    apply_text(text, std::string{defaults_file});
  }

  /// The defaults, parsed once: the key schema is immutable.
  static const loader& defaults() {
    static const loader instance{defaults_tag{}};
    return instance;
  }

  static const std::vector<std::string>& key_names() {
    static const std::vector<std::string> names = [] {
      std::vector<std::string> out;
      for (const auto& spec : key_schema())
        out.emplace_back(spec.name);
      return out;
    }();
    return names;
  }

  static const std::vector<std::string>& section_names() {
    static const std::vector<std::string> names = [] {
      std::vector<std::string> out;
      for (const auto& spec : key_schema()) {
        auto section = section_of(spec.name);
        if (!section.empty() && std::find(out.begin(), out.end(), section) == out.end())
          out.push_back(section);
      }
      return out;
    }();
    return names;
  }

  static const std::map<std::string, const key_spec*, std::less<>>& keys_by_env_name() {
    static const auto names = [] {
      std::map<std::string, const key_spec*, std::less<>> out;
      for (const auto& spec : key_schema())
        out.emplace(env_name(spec.name), &spec);
      return out;
    }();
    return names;
  }

  void error(source_position where, std::string key, std::string message, std::string hint) {
    problems_.push_back({severity::error, std::move(where), std::move(key), std::move(message),
                         std::move(hint)});
  }

  void warning(source_position where, std::string key, std::string message, std::string hint) {
    problems_.push_back({severity::warning, std::move(where), std::move(key), std::move(message),
                         std::move(hint)});
  }

  void store(const key_spec& spec, internal::parsed_value parsed, source_position where) {
    std::string name{spec.name};
    if (auto* problem = std::get_if<value_problem>(&parsed)) {
      refused_.insert(name);
      error(std::move(where), name, std::move(problem->message), std::move(problem->hint));
      return;
    }
    spec.store(config_, std::get<setting_value>(parsed));
    refused_.erase(name);
    origin_[name] = std::move(where);
  }

  void apply_table(const toml::table& table, const std::string& file, const std::string& prefix) {
    for (const auto& [key, node] : table) {
      auto name = prefix.empty() ? std::string{key.str()} : prefix + "." + std::string{key.str()};
      auto key_where = position(file, key.source().begin);
      if (const auto* spec = find_key(name)) {
        toml::source_position value_where{};
        auto parsed = parse_toml_value(node, *spec, value_where);
        auto where = value_where.line > 0 ? position(file, value_where) : key_where;
        store(*spec, std::move(parsed), std::move(where));
        continue;
      }
      if (prefix.empty()
          && std::find(section_names().begin(), section_names().end(), name)
               != section_names().end()) {
        if (const auto* section = node.as_table())
          apply_table(*section, file, name);
        else
          error(key_where, name, "is a section, not a value",
                "write [" + name + "] on a line of its own, followed by its keys");
        continue;
      }
      unknown(key_where, name, prefix, node.is_table());
    }
  }

  void unknown(source_position where, const std::string& name, const std::string& prefix,
               bool is_table) {
    if (const auto* retired = find_retired(name)) {
      error(std::move(where), name, "is no longer a configuration key",
            std::string{retired->hint});
      return;
    }
    if (prefix.empty() && is_table) {
      auto near = closest_match(name, section_names());
      error(std::move(where), name, "unknown section",
            near ? "did you mean [" + *near + "]?"
                 : "the sections are " + join(section_names(), ", "));
      return;
    }
    if (auto near = closest_match(name, key_names())) {
      error(std::move(where), name, "unknown key", "did you mean " + *near + "?");
      return;
    }
    std::vector<std::string> same_leaf;
    for (const auto& known : key_names())
      if (leaf_of(known) == leaf_of(name))
        same_leaf.push_back(known);
    if (!same_leaf.empty()) {
      error(std::move(where), name, "unknown key",
            "did you mean " + join(same_leaf, " or ") + "?");
      return;
    }
    std::vector<std::string> siblings;
    for (const auto& known : key_names())
      if (section_of(known) == prefix)
        siblings.push_back(prefix.empty() ? known : leaf_of(known));
    auto hint = prefix.empty() ? "the only top-level key is " + join(siblings, ", ")
                                   + "; the others belong in a section"
                               : "the keys of [" + prefix + "] are " + join(siblings, ", ");
    error(std::move(where), name, "unknown key", std::move(hint));
  }

  source_position origin_of(const std::string& name) const {
    auto it = origin_.find(name);
    return it == origin_.end() ? source_position{std::string{defaults_file}} : it->second;
  }

  bool usable(const std::string& name) const { return !refused_.contains(name); }

  void check_required() {
    // A key missing because its file could not be read or parsed is not worth a second error.
    if (unparsed_file_)
      return;
    // A coordinator talks to no FreeSWITCH: the event socket's keys are not required there.
    bool coordinator_only = config_.role == daemon_role::coordinator;
    for (const auto& spec : key_schema()) {
      std::string name{spec.name};
      if (coordinator_only && name.starts_with("esl."))
        continue;
      if (spec.default_toml.empty() && !origin_.contains(name) && usable(name))
        error({main_file_}, name, "is required but not set",
              "set " + leaf_of(name) + " in [" + section_of(name) + "] or the environment "
                "variable " + env_name(name));
    }
  }

  void check_password() {
    const std::string name = "esl.password";
    if (!origin_.contains(name))
      return;
    const auto& password = config_.esl.password;
    auto hint = "set a random password of at least " + std::to_string(min_password_length)
                + " characters here and in FreeSWITCH's event_socket.conf.xml";
    if (iequals(password, "ClueCon"))
      error(origin_of(name), name, "is FreeSWITCH's default password \"ClueCon\"", hint);
    else if (password.empty())
      error(origin_of(name), name, "is empty", hint);
    else if (utf8_length(password) < min_password_length)
      error(origin_of(name), name,
            "is shorter than " + std::to_string(min_password_length) + " characters", hint);
  }

  void check_loopback(const std::string& name, const std::string& host,
                      const std::string& allow_name, bool allowed, std::string_view purpose) {
    if (allowed || !usable(name) || !usable(allow_name) || is_loopback(host))
      return;
    error(origin_of(name), name, "\"" + host + "\" is not a loopback address",
          "use 127.0.0.1, ::1 or localhost, or set " + allow_name + " = true "
            + std::string{purpose});
  }

  void check_port_clash() {
    const auto& outbound = config_.outbound;
    const auto& http = config_.http;
    if (!outbound.enabled || outbound.port != http.port || !usable("http.port")
        || !usable("outbound.port"))
      return;
    if (outbound.listen != http.listen && !is_wildcard(outbound.listen)
        && !is_wildcard(http.listen))
      return;
    // Blame the port the operator set, not the one left at its default.
    auto http_where = origin_of("http.port");
    auto blame_http = http_where.file != defaults_file;
    std::string name = blame_http ? "http.port" : "outbound.port";
    std::string other = blame_http ? "outbound.port" : "http.port";
    error(blame_http ? std::move(http_where) : origin_of(name), name,
          std::to_string(http.port) + " is also " + other + " on the same address",
          "give the HTTP listener and the outbound listener different ports");
  }

  void check_failure_thresholds() {
    const auto& cluster = config_.cluster;
    if (cluster.down_after > cluster.suspect_after || !usable("cluster.down_after")
        || !usable("cluster.suspect_after"))
      return;
    error(origin_of("cluster.down_after"), "cluster.down_after",
          format_duration(cluster.down_after) + " is not longer than cluster.suspect_after ("
            + format_duration(cluster.suspect_after) + ")",
          "a node must be suspect before it is down: make cluster.down_after the longer one");
  }

  /// TLS on the cluster link needs all three files, each readable; a remote listener without
  /// TLS is allowed (private networks) but warned about.
  void check_cluster_tls() {
    const auto& cluster = config_.cluster;
    const std::array<std::pair<const char*, const std::string*>, 3> files{{
      {"cluster.tls_certificate", &cluster.tls_certificate},
      {"cluster.tls_key", &cluster.tls_key},
      {"cluster.tls_ca_file", &cluster.tls_ca_file},
    }};
    std::string set_one;
    for (const auto& [name, value] : files)
      if (!value->empty() && set_one.empty())
        set_one = name;
    if (set_one.empty()) {
      if (cluster.allow_remote && usable("cluster.allow_remote"))
        warning(origin_of("cluster.allow_remote"), "cluster.allow_remote",
                "the cluster link accepts remote node daemons over plain TCP: anyone who can "
                "reach cluster.port can join or read the traffic",
                "set cluster.tls_certificate, cluster.tls_key and cluster.tls_ca_file, or keep "
                "the link on a private network");
      return;
    }
    for (const auto& [name, value] : files) {
      if (!usable(name))
        continue;
      if (value->empty()) {
        error(origin_of(set_one), name, "is empty while " + set_one + " is set",
              "TLS on the cluster link needs cluster.tls_certificate, cluster.tls_key and "
              "cluster.tls_ca_file (docs/cluster.md says how to make them)");
        continue;
      }
      std::error_code ec;
      if (access(value->c_str(), R_OK) != 0 || std::filesystem::is_directory(*value, ec))
        error(origin_of(name), name, "'" + *value + "' cannot be read",
              "give the path of a PEM file the daemon's user can read");
    }
  }

  std::string main_file_;
  bool unparsed_file_ = false;
  daemon_config config_;
  std::map<std::string, source_position, std::less<>> origin_;
  std::set<std::string, std::less<>> refused_;
  std::vector<diagnostic> problems_;
};

} // namespace

environment process_environment() {
  environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text{*entry};
    auto equals = text.find('=');
    if (equals == std::string_view::npos)
      continue;
    env.emplace(std::string{text.substr(0, equals)}, std::string{text.substr(equals + 1)});
  }
  return env;
}

load_result load_daemon_config(const std::filesystem::path& file, const environment& env) {
  loader load{file.string()};
  load.apply_file(file);
  load.apply_drop_ins(file);
  load.apply_environment(env);
  return load.finish();
}

load_result parse_daemon_config(std::string_view toml_text, std::string_view file_name,
                                const environment& env) {
  loader load{std::string{file_name}};
  load.apply_text(toml_text, std::string{file_name});
  load.apply_environment(env);
  return load.finish();
}

std::vector<std::string> changed_keys(const daemon_config& before, const daemon_config& after) {
  std::vector<std::string> names;
  for (const auto& spec : key_schema())
    if (spec.load(before) != spec.load(after))
      names.emplace_back(spec.name);
  return names;
}

log_format effective_log_format(log_format configured, const environment& env) {
  if (configured != log_format::automatic)
    return configured;
  return env.contains("JOURNAL_STREAM") ? log_format::json : log_format::text;
}

} // namespace callgrid::config
