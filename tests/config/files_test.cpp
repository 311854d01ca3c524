#define CAF_SUITE config.files

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <caf/test/unit_test.hpp>

#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;
namespace fs = std::filesystem;

namespace {

/// A fresh directory holding callgridd.toml and conf.d/, removed at the end of the test.
struct config_dir {
  fs::path root;

  config_dir() {
    std::string pattern = (fs::temp_directory_path() / "callgrid-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      CAF_FAIL("mkdtemp failed");
    root = pattern;
  }

  ~config_dir() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  config_dir(const config_dir&) = delete;
  config_dir& operator=(const config_dir&) = delete;

  fs::path main_file() const { return root / "callgridd.toml"; }

  void write(const fs::path& relative, const std::string& text) const {
    fs::create_directories((root / relative).parent_path());
    std::ofstream out{root / relative, std::ios::binary};
    out << text;
  }

  load_result load(const environment& env = {}) const {
    return load_daemon_config(main_file(), env);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(config_files, config_dir)

CAF_TEST(a missing configuration file is a diagnostic naming the path) {
  auto result = load();
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE(!result.problems.empty());
  const auto problem = result.problems.front();
  CAF_CHECK_EQUAL(problem.where.file, main_file().string());
  CAF_CHECK_EQUAL(problem.message, "cannot be read: No such file or directory");
}

CAF_TEST(a directory given as the configuration file is a diagnostic) {
  fs::create_directories(main_file());
  auto result = load();
  CAF_REQUIRE(!result.problems.empty());
  CAF_CHECK_EQUAL(result.problems.front().message, "is a directory");
}

CAF_TEST(a file without drop-ins loads) {
  write("callgridd.toml", test::minimal_toml() + "port = 8022\n");
  auto result = load();
  CAF_REQUIRE(result.config.has_value());
  CAF_CHECK_EQUAL(result.config->esl.port, 8022);
}

CAF_TEST(drop-ins apply in lexical order and later files win key by key) {
  write("callgridd.toml", test::minimal_toml() + "port = 1000\n[node]\ncapacity = 10\n");
  write("conf.d/10-site.toml", "[node]\ncapacity = 20\npark_timeout = \"40s\"\n");
  write("conf.d/20-host.toml", "[node]\ncapacity = 30\n");
  // "9-late.toml" sorts after "20-host.toml": names compare as text, not as numbers.
  write("conf.d/9-late.toml", "[node]\nanswer_timeout = \"9s\"\ncapacity = 90\n");
  auto result = load();
  if (!result.config)
    CAF_FAIL(test::rendered(result));
  CAF_CHECK_EQUAL(result.config->esl.port, 1000);
  CAF_CHECK_EQUAL(result.config->node.capacity, 90);
  CAF_CHECK_EQUAL(result.config->node.park_timeout.count(), 40'000);
  CAF_CHECK_EQUAL(result.config->node.answer_timeout.count(), 9'000);
}

CAF_TEST(a drop-in may supply the password the main file lacks) {
  write("callgridd.toml", "role = \"node\"\n");
  write("conf.d/secret.toml", test::minimal_toml());
  auto result = load();
  CAF_REQUIRE(result.config.has_value());
  CAF_CHECK_EQUAL(result.config->esl.password, test::good_password);
}

CAF_TEST(hidden files and files not ending in .toml are skipped) {
  write("callgridd.toml", test::minimal_toml());
  write("conf.d/.editor-swap.toml", "this is not TOML");
  write("conf.d/site.toml.bak", "neither is this");
  write("conf.d/README", "nor this");
  auto result = load();
  CAF_CHECK(result.config.has_value());
  CAF_CHECK(result.problems.empty());
}

CAF_TEST(problems in a drop-in name the drop-in file) {
  write("callgridd.toml", test::minimal_toml());
  write("conf.d/50-bad.toml", "[node]\ncapacity = \"many\"\n");
  write("conf.d/60-broken.toml", "[node\n");
  auto result = load();
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE_EQUAL(result.problems.size(), 2u);
  CAF_CHECK_EQUAL(result.problems[0].where.file, (root / "conf.d/50-bad.toml").string());
  CAF_CHECK_EQUAL(result.problems[0].where.line, 2);
  CAF_CHECK_EQUAL(result.problems[0].key, "node.capacity");
  CAF_CHECK_EQUAL(result.problems[1].where.file, (root / "conf.d/60-broken.toml").string());
  CAF_CHECK_EQUAL(result.problems[1].where.line, 1);
  CAF_CHECK(result.problems[1].message.starts_with("TOML syntax error"));
}

CAF_TEST(a conf.d that is not a directory is a diagnostic naming it) {
  write("callgridd.toml", test::minimal_toml());
  write("conf.d", "oops");
  auto result = load();
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE_EQUAL(result.problems.size(), 1u);
  CAF_CHECK_EQUAL(result.problems[0].where.file, (root / "conf.d").string());
  CAF_CHECK_EQUAL(result.problems[0].message, "is not a directory");
}

CAF_TEST(the environment wins over the file and the drop-ins) {
  write("callgridd.toml", test::minimal_toml() + "[log]\nlevel = \"debug\"\n");
  write("conf.d/10.toml", "[log]\nlevel = \"trace\"\n");
  auto result = load({{"CALLGRID_LOG_LEVEL", "error"}});
  CAF_REQUIRE(result.config.has_value());
  CAF_CHECK(result.config->log.level == log_level::error);
}

CAF_TEST(a file larger than 1 MiB is refused) {
  write("callgridd.toml", test::minimal_toml() + "# " + std::string(1024 * 1024, 'x') + "\n");
  auto result = load();
  CAF_CHECK(!result.config.has_value());
  CAF_REQUIRE(!result.problems.empty());
  CAF_CHECK_EQUAL(result.problems.front().message, "is larger than 1 MiB");
}

CAF_TEST_FIXTURE_SCOPE_END()
