#include "flow_command.hpp"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "ivr/diagnostic.hpp"
#include "ivr/flow.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_loader.hpp"
#include "persistence/catalog_snapshot.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"

namespace callgrid::ctl {

namespace {

struct flow_options {
  std::vector<std::string> files;
  std::string db;
  std::string output = "text";
};

/// Prints the problems of one file; returns the number of errors.
std::size_t report(const std::string& file, const ivr::flow_load_result& loaded,
                   nlohmann::json* json_out) {
  auto errors = loaded.count(ivr::severity::error);
  if (json_out) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& d : loaded.problems)
      problems.push_back({{"severity", d.level == ivr::severity::error ? "error" : "warning"},
                          {"file", d.where.file},
                          {"line", d.where.line},
                          {"column", d.where.column},
                          {"node", d.node},
                          {"message", d.message}});
    json_out->push_back({{"file", file},
                         {"valid", errors == 0},
                         {"flow", loaded.flow ? loaded.flow->name() : ""},
                         {"problems", problems}});
  } else {
    for (const auto& d : loaded.problems)
      std::cerr << ivr::render(d) << '\n';
    if (errors == 0)
      std::cout << file << ": flow '" << loaded.flow->name() << "' is valid ("
                << loaded.flow->node_ids().size() << " nodes, "
                << loaded.count(ivr::severity::warning) << " warnings)\n";
    else
      std::cerr << file << ": " << errors << " error(s)\n";
  }
  return errors;
}

int run_validate(const flow_options& options) {
  bool json = options.output == "json";
  nlohmann::json out = nlohmann::json::array();
  std::size_t errors = 0;
  for (const auto& file : options.files)
    errors += report(file, ivr::load_flow_file(file), json ? &out : nullptr);
  if (json)
    std::cout << out.dump(2) << '\n';
  return errors == 0 ? exit_ok : exit_invalid_document;
}

/// The prompt catalog as flows see it (name -> URI), read with the daemon's catalog loader.
/// An unreadable catalog is reported and taken as empty: flows that name catalog prompts then
/// fail validation, and nothing is stored.
ivr::prompt_catalog catalog_prompts(PGconn* conn) {
  auto snapshot = persistence::load_catalog(conn);
  if (!snapshot) {
    std::cerr << "callgridctl flow import: reading the prompt catalog failed, prompts are checked "
                 "against the flow documents only: "
              << persistence::render_error(snapshot.error()) << '\n';
    return {};
  }
  return persistence::prompt_uris_by_name(snapshot->prompts);
}

int run_import(const flow_options& options) {
  auto conninfo = database_conninfo(options.db);
  if (conninfo.empty()) {
    std::cerr << "callgridctl flow import: no database; pass --db CONNINFO or set "
                 "CALLGRID_DATABASE_CONNINFO\n";
    return exit_usage;
  }
  auto conn = persistence::internal::pg_connect(conninfo);
  if (!conn) {
    std::cerr << "callgridctl flow import: " << persistence::render_error(conn.error()) << '\n';
    return exit_failure;
  }
  auto known_prompts = catalog_prompts(conn->get());
  bool json = options.output == "json";
  nlohmann::json out = nlohmann::json::array();
  std::size_t errors = 0;
  // Validate every file before storing any, so a set of flows goes in together or not at all.
  std::vector<ivr::flow_load_result> loaded;
  for (const auto& file : options.files) {
    loaded.push_back(ivr::load_flow_file(file, known_prompts));
    errors += report(file, loaded.back(), json ? &out : nullptr);
  }
  if (errors > 0) {
    if (json)
      std::cout << out.dump(2) << '\n';
    std::cerr << "nothing imported: fix the errors above first\n";
    return exit_invalid_document;
  }
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const auto& flow = *loaded[i].flow;
    auto stored = persistence::catalog_store::import_flow(conn->get(), flow.name(), flow.to_json());
    if (!stored) {
      std::cerr << "callgridctl flow import: " << options.files[i] << ": "
                << persistence::render_error(stored.error()) << '\n';
      return exit_failure;
    }
    if (json)
      out[i]["imported"] = nlohmann::json{{"flow_id", stored->flow_id},
                                          {"version", stored->version},
                                          {"created", stored->created}};
    else
      std::cout << "flow '" << flow.name() << "': "
                << (stored->created ? "stored as" : "unchanged at") << " id " << stored->flow_id
                << " version " << stored->version << '\n';
  }
  if (json)
    std::cout << out.dump(2) << '\n';
  return exit_ok;
}

} // namespace

command_runner install_flow_command(CLI::App& command) {
  auto options = std::make_shared<flow_options>();
  command.require_subcommand(1);
  auto* validate = command.add_subcommand(
    "validate", "Check IVR flow documents (YAML or JSON) and print every problem with its "
                "file:line:column; exit 0 when all are valid, 4 when any has errors");
  validate->add_option("FILE", options->files, "Flow documents to check")->required();
  validate->add_option("-o,--output", options->output, "Output format: text or json")
    ->check(CLI::IsMember({"text", "json"}));
  auto* import = command.add_subcommand(
    "import", "Validate flow documents against the prompt catalog and store each in PostgreSQL "
              "as a new version (an unchanged document keeps its version); running callgridd "
              "daemons pick the change up within a second");
  import->add_option("FILE", options->files, "Flow documents to import")->required();
  import->add_option("--db", options->db,
                     "libpq connection string (default: $CALLGRID_DATABASE_CONNINFO)");
  import->add_option("-o,--output", options->output, "Output format: text or json")
    ->check(CLI::IsMember({"text", "json"}));
  return [options, validate, import]() -> int {
    if (validate->parsed())
      return run_validate(*options);
    if (import->parsed())
      return run_import(*options);
    return exit_usage;
  };
}

} // namespace callgrid::ctl
