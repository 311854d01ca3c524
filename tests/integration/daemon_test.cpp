#define CAF_SUITE integration.daemon

#include <fstream>
#include <sstream>
#include <string>

#include <caf/test/unit_test.hpp>
#include <sys/wait.h>

#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
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
