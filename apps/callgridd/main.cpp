// callgridd: the callgrid daemon beside each FreeSWITCH node (role node), the cluster's
// coordinator (role coordinator), or both on one box (role all). This file parses the
// command line, loads and checks the configuration, and dispatches; daemon.cpp runs the
// configured role.

#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "daemon.hpp"
#include "logging.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"

namespace {

using namespace callgrid;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// Loads the configuration and prints every problem; empty when an error was found.
std::optional<config::daemon_config> load_config(const std::string& file) {
  auto env = config::process_environment();
  auto result = config::load_daemon_config(file, env);
  for (const auto& problem : result.problems)
    std::cerr << config::render(problem) << '\n';
  return std::move(result.config);
}

int run_migrate(const config::daemon_config& cfg, bool check_only) {
  if (cfg.database.conninfo.empty()) {
    std::cerr << "callgridd migrate: database.conninfo is empty; set it in the config file or "
                 "CALLGRID_DATABASE_CONNINFO\n";
    return exit_failure;
  }
  if (check_only) {
    auto status = persistence::schema_migrator::check(cfg.database.conninfo);
    if (!status) {
      std::cerr << "callgridd migrate --check: " << persistence::render_error(status.error())
                << '\n';
      return exit_failure;
    }
    std::cout << "schema version " << status->current << " is current\n";
    return exit_ok;
  }
  auto report = persistence::schema_migrator::migrate(cfg.database.conninfo);
  if (!report) {
    std::cerr << "callgridd migrate: " << persistence::render_error(report.error()) << '\n';
    return exit_failure;
  }
  if (report->applied.empty()) {
    std::cout << "schema version " << report->to_version << " is current; nothing to apply\n";
  } else {
    std::cout << "schema migrated from version " << report->from_version << " to "
              << report->to_version << " (applied:";
    for (int v : report->applied)
      std::cout << ' ' << v;
    std::cout << ")\n";
  }
  return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"callgridd: the callgrid daemon. Beside a FreeSWITCH node (role node) it owns the "
               "calls over the Event Socket and runs routes and IVR flows; role all runs a whole "
               "platform on one box.",
               "callgridd"};
  std::string config_file;
  bool check_config = false;
  bool print_reference = false;
  bool print_effective = false;
  app.add_option("-c,--config", config_file,
                 "The TOML configuration file; drop-ins are read from conf.d/*.toml next to it, "
                 "then CALLGRID_* environment variables (docs/configuration.md)");
  app.add_flag("--check-config", check_config,
               "Load and check the configuration, print every problem and the effective "
               "configuration (secrets masked), and exit 0 when it is valid, 1 when not");
  app.add_flag("--print-config-reference", print_reference,
               "Print the reference of every configuration key (Markdown) and exit");
  app.add_flag("--print-effective-config", print_effective,
               "Print the effective configuration (secrets masked) before starting");
  app.set_version_flag("--version", "callgridd 0.1.0");
  auto* migrate = app.add_subcommand(
    "migrate", "Apply the PostgreSQL schema migrations (idempotent) and exit; with --check only "
               "compare the schema version with this build's");
  migrate->fallthrough();
  bool migrate_check = false;
  migrate->add_flag("--check", migrate_check,
                    "Only check: exit 0 when the schema is current, 1 when it is too old or too new");
  app.footer("Signals: SIGTERM drains a node, then stops (a second SIGTERM or SIGINT stops at "
             "once); SIGHUP reads the configuration again and applies log.level, node.capacity, "
             "node.park_timeout and node.answer_timeout (docs/callgridd.md).\n"
             "Exit codes: 0 done or stopped cleanly; 1 configuration, schema or start-up failure "
             "(the message names the key to fix); 2 usage error.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    auto code = app.exit(error);
    return code == 0 ? exit_ok : exit_usage;
  }
  if (print_reference) {
    std::cout << config::render_reference_markdown();
    return exit_ok;
  }
  if (config_file.empty()) {
    std::cerr << "callgridd: --config FILE is required (see --help; an example is "
                 "config/examples/callgridd.toml)\n";
    return exit_usage;
  }
  daemon::block_stop_signals();
  auto cfg = load_config(config_file);
  if (!cfg) {
    std::cerr << "callgridd: the configuration has errors (above); nothing was started\n";
    return exit_failure;
  }
  if (check_config) {
    std::cout << config::render_effective(*cfg);
    std::cerr << "configuration OK\n";
    return exit_ok;
  }
  if (migrate->parsed())
    return run_migrate(*cfg, migrate_check);
  auto env = config::process_environment();
  daemon::setup_logging(cfg->log.level, config::effective_log_format(cfg->log.format, env));
  if (print_effective)
    std::cout << config::render_effective(*cfg);
  return daemon::run_daemon(*cfg, config_file);
}
