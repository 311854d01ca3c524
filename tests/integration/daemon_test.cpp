#define CAF_SUITE integration.daemon

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <caf/test/unit_test.hpp>
#include <sys/wait.h>

#include "ivr/flow.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_loader.hpp"
#include "persistence/catalog_snapshot.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "platform.hpp"
#include "services/postgres_server.hpp"
#include "services/service_process.hpp"

using namespace callgrid;
using namespace callgrid::test_support;

namespace {

const std::string callgridd = std::string{CALLGRID_BINARY_DIR} + "/apps/callgridd/callgridd";

struct run_result {
  int exit_code = -1;
  std::string output;
};

/// Runs callgridd with `args` (bounded by `timeout`) and returns its exit code and output.
run_result run_callgridd(const temp_dir& dir, const std::string& args) {
  auto out = dir.path() / "callgridd.out";
  auto line = "timeout 60 " + callgridd + " " + args + " > " + out.string() + " 2>&1";
  int status = std::system(line.c_str());
  run_result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in{out};
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

std::string write_config(const temp_dir& dir, const std::string& conninfo,
                         const std::string& password = "integration-test-secret-42") {
  auto path = dir.path() / "callgridd.toml";
  std::ofstream out{path};
  out << "role = \"node\"\n[node]\nname = \"node-daemon-test\"\n[esl]\nport = "
      << pick_free_port() << "\npassword = \"" << password << "\"\n[outbound]\nport = "
      << pick_free_port() << "\n[database]\nconninfo = \"" << conninfo
      << "\"\n[redis]\nenabled = false\n[records]\nspool_dir = \""
      << (dir.path() / "spool").string() << "\"\n[http]\nport = " << pick_free_port()
      << "\n[log]\nformat = \"text\"\n";
  return path.string();
}

} // namespace

CAF_TEST(callgridd refuses a database whose schema is too old and says to migrate) {
  temp_dir dir{"daemon-test"};
  postgres_server pg;
  pg.start();
  auto config = write_config(dir, pg.conninfo());
  auto result = run_callgridd(dir, "--config " + config);
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK(result.output.find("callgridd migrate") != std::string::npos);
  // migrate fixes it; migrate --check then agrees.
  CAF_CHECK_EQUAL(run_callgridd(dir, "--config " + config + " migrate").exit_code, 0);
  auto check = run_callgridd(dir, "--config " + config + " migrate --check");
  CAF_CHECK_EQUAL(check.exit_code, 0);
  CAF_CHECK(check.output.find("is current") != std::string::npos);
}

CAF_TEST(callgridd refuses a schema newer than itself) {
  temp_dir dir{"daemon-test"};
  postgres_server pg;
  pg.start();
  auto migrated = persistence::schema_migrator::migrate(pg.conninfo());
  CAF_REQUIRE(migrated);
  pg.execute("INSERT INTO schema_version (version, name) VALUES (99, 'from_the_future')");
  auto result = run_callgridd(dir, "--config " + write_config(dir, pg.conninfo()));
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK(result.output.find("schema_too_new") != std::string::npos);
  CAF_MESSAGE(result.output);
}

CAF_TEST(check-config names the key when the ESL password is the FreeSWITCH default) {
  temp_dir dir{"daemon-test"};
  auto config = write_config(dir, "host=127.0.0.1", "ClueCon");
  auto result = run_callgridd(dir, "--config " + config + " --check-config");
  CAF_CHECK_EQUAL(result.exit_code, 1);
  CAF_CHECK(result.output.find("esl.password") != std::string::npos);
  CAF_CHECK(result.output.find("callgridd.toml:") != std::string::npos);
  auto good = run_callgridd(dir, "--config " + write_config(dir, "host=127.0.0.1")
                                   + " --check-config");
  CAF_CHECK_EQUAL(good.exit_code, 0);
  CAF_CHECK(good.output.find("configuration OK") != std::string::npos);
  CAF_CHECK(good.output.find("integration-test-secret-42") == std::string::npos);
}

CAF_TEST(callgridd without a config file is a usage error) {
  temp_dir dir{"daemon-test"};
  auto result = run_callgridd(dir, "");
  CAF_CHECK_EQUAL(result.exit_code, 2);
  CAF_CHECK(result.output.find("--config") != std::string::npos);
}

CAF_TEST(callgridctl flow import checks catalog prompts and stores them by name) {
  temp_dir dir{"flow-import-test"};
  postgres_server pg;
  pg.start();
  auto config = write_config(dir, pg.conninfo());
  CAF_REQUIRE_EQUAL(run_callgridd(dir, "--config " + config + " migrate").exit_code, 0);
  auto conn = persistence::internal::pg_connect(pg.conninfo());
  CAF_REQUIRE(conn);
  persistence::catalog_prompt welcome;
  welcome.name = "welcome";
  welcome.uri = "/var/lib/prompts/en/welcome.wav";
  CAF_REQUIRE(persistence::catalog_store::upsert_prompt(conn->get(), welcome));
  auto write_flow = [&](const std::string& name, const std::string& prompt) {
    auto path = dir.path() / (name + ".yaml");
    std::ofstream out{path};
    out << "name: " << name << "\nversion: 1\nstart: greet\nnodes:\n  greet:\n    kind: play\n"
        << "    prompt: " << prompt << "\n    next: bye\n  bye:\n    kind: hangup\n";
    return path.string();
  };
  const std::string callgridctl = std::string{CALLGRID_BINARY_DIR} + "/apps/callgridctl/callgridctl";
  auto import = [&](const std::string& file) {
    auto out = dir.path() / "callgridctl.out";
    auto line = "timeout 60 " + callgridctl + " flow import --db '" + pg.conninfo() + "' " + file
                + " > " + out.string() + " 2>&1";
    int status = std::system(line.c_str());
    std::ifstream in{out};
    std::stringstream text;
    text << in.rdbuf();
    return run_result{WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
  };
  // A name the catalog does not have is refused, and nothing is stored.
  auto refused = import(write_flow("typo", "welcom"));
  CAF_CHECK_EQUAL(refused.exit_code, 4);
  CAF_CHECK(refused.output.find("prompt 'welcom' is not in the flow's prompts nor in the prompt "
                                "catalog")
            != std::string::npos);
  // A catalog name is accepted; the stored document names it without copying its URI, and
  // loading it against the catalog plays the catalog's URI.
  auto stored = import(write_flow("greeting", "welcome"));
  CAF_CHECK_EQUAL(stored.exit_code, 0);
  CAF_MESSAGE(stored.output);
  auto snapshot = persistence::load_catalog(conn->get());
  CAF_REQUIRE(snapshot);
  CAF_REQUIRE_EQUAL(snapshot->flows.size(), 1u);
  const auto& document = snapshot->flows.front().document;
  CAF_CHECK(document.find("/var/lib/prompts") == std::string::npos);
  auto loaded = ivr::load_flow(document, "stored",
                               persistence::prompt_uris_by_name(snapshot->prompts));
  CAF_REQUIRE(loaded.flow != nullptr);
  auto uris = loaded.flow->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), welcome.uri) != uris.end());
}

CAF_TEST(SIGHUP applies a new log level and capacity and names the keys that need a restart) {
  using namespace std::chrono_literals;
  platform p;
  p.start_callgridd();
  auto log_has = [&](const std::string& text, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (p.callgridd_log().find(text) != std::string::npos)
        return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  CAF_REQUIRE(log_has("callgridd running as node", 30s));
  std::filesystem::create_directories(p.dir() / "conf.d");
  auto drop_in = p.dir() / "conf.d" / "reload.toml";
  std::ofstream{drop_in} << "[log]\nlevel = \"warn\"\n[node]\ncapacity = 7\n"
                          << "[records]\nbatch_size = 500\n";
  p.signal_callgridd(SIGHUP);
  CAF_CHECK(log_has("SIGHUP: log.level changed; applied", 10s));
  CAF_CHECK(log_has("SIGHUP: node.capacity changed; applied", 10s));
  CAF_CHECK(
    log_has("SIGHUP: records.batch_size changed; it takes effect when callgridd restarts", 10s));
  // A drop-in with an error changes nothing, and the daemon goes on.
  std::ofstream{drop_in} << "[log]\nlevel = \"warn\"\n[node]\ncapacityy = 7\n";
  p.signal_callgridd(SIGHUP);
  CAF_CHECK(log_has("SIGHUP: the configuration has errors (above); nothing was changed", 10s));
  auto log = p.callgridd_log();
  CAF_CHECK(log.find("did you mean node.capacity?") != std::string::npos);
  // The second reading's info line is not there: the level is warn now.
  auto readings = 0;
  for (auto at = log.find("SIGHUP: reading the configuration"); at != std::string::npos;
       at = log.find("SIGHUP: reading the configuration", at + 1))
    ++readings;
  CAF_CHECK_EQUAL(readings, 1);
  CAF_CHECK(p.metrics().find("callgrid_build_info") != std::string::npos);
  p.stop_callgridd();
}
