#include "route_command.hpp"

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"

namespace callgrid::ctl {

namespace {

struct route_options {
  std::string file;
  std::string db;
  std::string output = "text";
};

/// One route as written in the file, with the flow still named.
struct route_entry {
  persistence::catalog_route route;
  std::string flow_name;
  int line = 0;
};

std::string where(const std::string& file, const YAML::Node& node) {
  auto mark = node.Mark();
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::optional<int> minutes_of(const std::string& text) {
  if (text.size() != 5 || text[2] != ':')
    return std::nullopt;
  try {
    int h = std::stoi(text.substr(0, 2));
    int m = std::stoi(text.substr(3, 2));
    if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0))
      return std::nullopt;
    return h * 60 + m;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// Reads the route file; every problem goes to `problems` with its location.
std::vector<route_entry> read_routes(const std::string& file, std::vector<std::string>& problems) {
  std::vector<route_entry> entries;
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    problems.push_back(file + ": cannot be read");
    return entries;
  } catch (const YAML::Exception& e) {
    problems.push_back(file + ":" + std::to_string(e.mark.line + 1) + ":"
                       + std::to_string(e.mark.column + 1) + ": " + e.msg);
    return entries;
  }
  auto list = doc["routes"];
  if (!list || !list.IsSequence()) {
    problems.push_back(file + ": expected a top-level 'routes:' list");
    return entries;
  }
  static const std::set<std::string> known{"name",         "match_prefix",   "priority",
                                           "action",       "flow",           "bridge_target",
                                           "hangup_cause", "answer",         "esl_mode",
                                           "caller_pattern", "time_windows", "enabled",
                                           "max_concurrent"};
  for (const auto& item : list) {
    route_entry entry;
    entry.line = item.Mark().line + 1;
    if (!item.IsMap()) {
      problems.push_back(where(file, item) + ": a route must be a mapping");
      continue;
    }
    try {
      for (const auto& kv : item) {
        auto key = kv.first.as<std::string>();
        if (!known.contains(key))
          problems.push_back(where(file, kv.first) + ": unknown route key '" + key + "'");
      }
      auto& r = entry.route;
      r.name = item["name"] ? item["name"].as<std::string>() : "";
      if (r.name.empty())
        problems.push_back(where(file, item) + ": route without a name");
      r.match_prefix = item["match_prefix"] ? item["match_prefix"].as<std::string>() : "";
      if (item["priority"])
        r.priority = item["priority"].as<int>();
      if (item["enabled"])
        r.enabled = item["enabled"].as<bool>();
      if (item["answer"])
        r.answer = item["answer"].as<bool>();
      if (item["max_concurrent"])
        r.max_concurrent = item["max_concurrent"].as<int>();
      if (item["caller_pattern"])
        r.caller_pattern = item["caller_pattern"].as<std::string>();
      auto action = item["action"] ? item["action"].as<std::string>() : "flow";
      if (action == "flow") {
        r.action = persistence::route_action::flow;
        if (!item["flow"])
          problems.push_back(where(file, item) + ": route '" + r.name
                             + "': action flow needs 'flow: <flow name>'");
        else
          entry.flow_name = item["flow"].as<std::string>();
      } else if (action == "bridge") {
        r.action = persistence::route_action::bridge;
        if (!item["bridge_target"])
          problems.push_back(where(file, item) + ": route '" + r.name
                             + "': action bridge needs 'bridge_target'");
        else
          r.bridge_target = item["bridge_target"].as<std::string>();
      } else if (action == "hangup") {
        r.action = persistence::route_action::hangup;
        r.hangup_cause = item["hangup_cause"] ? item["hangup_cause"].as<std::string>()
                                              : "CALL_REJECTED";
      } else {
        problems.push_back(where(file, item["action"]) + ": action must be flow, bridge or "
                                                         "hangup, not '" + action + "'");
      }
      auto mode = item["esl_mode"] ? item["esl_mode"].as<std::string>() : "inbound";
      if (mode == "inbound")
        r.mode = persistence::esl_mode::inbound;
      else if (mode == "outbound")
        r.mode = persistence::esl_mode::outbound;
      else
        problems.push_back(where(file, item["esl_mode"])
                           + ": esl_mode must be inbound or outbound, not '" + mode + "'");
      if (auto windows = item["time_windows"]) {
        static const char* day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        for (const auto& w : windows) {
          persistence::time_window window;
          for (const auto& d : w["days"]) {
            auto name = d.as<std::string>();
            bool found = false;
            for (int i = 0; i < 7; ++i)
              if (name == day_names[i]) {
                window.days |= static_cast<uint8_t>(1 << i);
                found = true;
              }
            if (!found)
              problems.push_back(where(file, d) + ": unknown day '" + name
                                 + "' (mon, tue, wed, thu, fri, sat, sun)");
          }
          auto from = minutes_of(w["from"] ? w["from"].as<std::string>() : "");
          auto to = minutes_of(w["to"] ? w["to"].as<std::string>() : "");
          if (!from || !to)
            problems.push_back(where(file, w) + ": a time window needs from/to as HH:MM");
          else {
            window.from_minute = static_cast<uint16_t>(*from);
            window.to_minute = static_cast<uint16_t>(*to);
          }
          window.timezone = w["tz"] ? w["tz"].as<std::string>() : "UTC";
          r.time_windows.push_back(window);
        }
      }
    } catch (const YAML::Exception& e) {
      problems.push_back(file + ":" + std::to_string(e.mark.line + 1) + ":"
                         + std::to_string(e.mark.column + 1) + ": " + e.msg);
      continue;
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

int run_import(const route_options& options) {
  std::vector<std::string> problems;
  auto entries = read_routes(options.file, problems);
  if (!problems.empty()) {
    for (const auto& p : problems)
      std::cerr << p << '\n';
    std::cerr << "nothing imported: fix the errors above first\n";
    return exit_invalid_document;
  }
  auto conninfo = database_conninfo(options.db);
  if (conninfo.empty()) {
    std::cerr << "callgridctl route import: no database; pass --db CONNINFO or set "
                 "CALLGRID_DATABASE_CONNINFO\n";
    return exit_usage;
  }
  auto conn = persistence::internal::pg_connect(conninfo);
  if (!conn) {
    std::cerr << "callgridctl route import: " << persistence::render_error(conn.error()) << '\n';
    return exit_failure;
  }
  for (auto& entry : entries) {
    if (!entry.flow_name.empty()) {
      auto found = persistence::internal::pg_exec(conn->get(), "looking up the flow",
                                        "SELECT flow_id FROM ivr_flows WHERE name = $1 "
                                        "ORDER BY version DESC LIMIT 1",
                                        {entry.flow_name});
      if (!found) {
        std::cerr << "callgridctl route import: " << persistence::render_error(found.error())
                  << '\n';
        return exit_failure;
      }
      if (PQntuples(found->get()) == 0) {
        std::cerr << options.file << ":" << entry.line << ": route '" << entry.route.name
                  << "': flow '" << entry.flow_name
                  << "' is not in the catalog; import it first with callgridctl flow import\n";
        return exit_invalid_document;
      }
      entry.route.flow_id = std::stoll(PQgetvalue(found->get(), 0, 0));
    }
    auto stored = persistence::catalog_store::upsert_route(conn->get(), entry.route);
    if (!stored) {
      std::cerr << "callgridctl route import: route '" << entry.route.name
                << "': " << persistence::render_error(stored.error()) << '\n';
      return exit_failure;
    }
    std::cout << "route '" << entry.route.name << "': " << (stored->created ? "created" : "updated")
              << " (id " << stored->id << ", version " << stored->version << ")\n";
  }
  return exit_ok;
}

int run_list(const route_options& options) {
  auto conninfo = database_conninfo(options.db);
  if (conninfo.empty()) {
    std::cerr << "callgridctl route list: no database; pass --db CONNINFO or set "
                 "CALLGRID_DATABASE_CONNINFO\n";
    return exit_usage;
  }
  auto conn = persistence::internal::pg_connect(conninfo);
  if (!conn) {
    std::cerr << "callgridctl route list: " << persistence::render_error(conn.error()) << '\n';
    return exit_failure;
  }
  auto rows = persistence::internal::pg_exec(
    conn->get(), "listing routes",
    "SELECT r.id, r.name, r.match_prefix, r.priority, r.action, coalesce(f.name, ''), "
    "r.esl_mode, r.enabled FROM routes r LEFT JOIN (SELECT DISTINCT flow_id, name FROM "
    "ivr_flows) f ON f.flow_id = r.flow_id ORDER BY length(r.match_prefix) DESC, r.priority, r.id");
  if (!rows) {
    std::cerr << "callgridctl route list: " << persistence::render_error(rows.error()) << '\n';
    return exit_failure;
  }
  auto* result = rows->get();
  nlohmann::json out = nlohmann::json::array();
  if (options.output != "json")
    std::printf("%-6s %-20s %-12s %-8s %-7s %-20s %-8s %s\n", "ID", "NAME", "PREFIX", "PRIORITY",
                "ACTION", "FLOW", "ESL", "ENABLED");
  for (int i = 0; i < PQntuples(result); ++i) {
    auto v = [&](int col) { return std::string{PQgetvalue(result, i, col)}; };
    if (options.output == "json")
      out.push_back({{"id", std::stoll(v(0))}, {"name", v(1)}, {"match_prefix", v(2)},
                     {"priority", std::stoi(v(3))}, {"action", v(4)}, {"flow", v(5)},
                     {"esl_mode", v(6)}, {"enabled", v(7) == "t"}});
    else
      std::printf("%-6s %-20s %-12s %-8s %-7s %-20s %-8s %s\n", v(0).c_str(), v(1).c_str(),
                  v(2).empty() ? "(any)" : v(2).c_str(), v(3).c_str(), v(4).c_str(),
                  v(5).c_str(), v(6).c_str(), v(7) == "t" ? "yes" : "no");
  }
  if (options.output == "json")
    std::cout << out.dump(2) << '\n';
  return exit_ok;
}

} // namespace

command_runner install_route_command(CLI::App& command) {
  auto options = std::make_shared<route_options>();
  command.require_subcommand(1);
  auto* import = command.add_subcommand(
    "import", "Create or update (by name) the inbound routes of a YAML file in PostgreSQL; "
              "running callgridd daemons pick the change up within a second");
  import->add_option("FILE", options->file, "YAML file with a top-level 'routes:' list")
    ->required();
  import->add_option("--db", options->db,
                     "libpq connection string (default: $CALLGRID_DATABASE_CONNINFO)");
  auto* list = command.add_subcommand("list", "Print the routes in lookup order");
  list->add_option("--db", options->db,
                   "libpq connection string (default: $CALLGRID_DATABASE_CONNINFO)");
  list->add_option("-o,--output", options->output, "Output format: table or json")
    ->check(CLI::IsMember({"table", "json"}));
  return [options, import, list]() -> int {
    if (import->parsed())
      return run_import(*options);
    if (list->parsed())
      return run_list(*options);
    return exit_usage;
  };
}

} // namespace callgrid::ctl
