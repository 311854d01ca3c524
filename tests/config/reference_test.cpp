#define CAF_SUITE config.reference

#include <filesystem>
#include <fstream>
#include <sstream>

#include <caf/test/unit_test.hpp>

#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "config_test_support.hpp"

using namespace callgrid::config;

namespace {

const std::filesystem::path source_dir{CALLGRID_SOURCE_DIR};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

CAF_TEST(docs/configuration.md is the reference generated from the key schema) {
  auto expected = render_reference_markdown();
  auto doc = source_dir / "docs/configuration.md";
  if (read_text(doc) != expected) {
    auto fresh = std::filesystem::path{CALLGRID_BINARY_DIR} / "configuration.md";
    std::ofstream{fresh, std::ios::binary} << expected;
    CAF_FAIL(doc.string() << " is out of date with the key schema (config/src/key_schema.cpp). "
                          << "The generated text was written to " << fresh.string()
                          << "; regenerate with: cp " << fresh.string() << " " << doc.string());
  }
}

CAF_TEST(the reference documents every key with its environment variable) {
  auto reference = render_reference_markdown();
  for (const auto& spec : key_schema()) {
    CAF_CHECK(reference.find("| `" + std::string{spec.name} + "` |") != std::string::npos);
    CAF_CHECK(reference.find("`" + env_name(spec.name) + "`") != std::string::npos);
  }
}

CAF_TEST(the example configuration loads without problems and sets every key) {
  auto example = source_dir / "config/examples/callgridd.toml";
  auto result = load_daemon_config(example, {});
  if (!result.config || !result.problems.empty())
    CAF_FAIL(test::rendered(result));
  // Every key appears, uncommented, in the example: it doubles as a template.
  auto text = read_text(example);
  for (const auto& spec : key_schema()) {
    auto leaf = spec.name.substr(spec.name.rfind('.') + 1);
    CAF_CHECK(text.find("\n" + std::string{leaf} + " = ") != std::string::npos);
  }
}
