#define CAF_SUITE integration.prompt_check

#include <thread>

#include <caf/test/unit_test.hpp>

#include "ivr/flow.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"
#include "platform.hpp"

using namespace callgrid;
using namespace callgrid::test_support;
using namespace std::chrono_literals;

namespace {

const std::string source_dir = std::string{CALLGRID_TEST_DATA_DIR} + "/../..";

/// A one-node flow named prompt_probe that plays `uri` under the prompt name `probe`.
std::string probe_flow(int version, const std::string& uri) {
  return "name: prompt_probe\nversion: " + std::to_string(version)
         + "\nstart: greeting\nprompts:\n  probe: " + uri
         + "\nnodes:\n  greeting:\n    kind: play\n    prompt: probe\n    next: bye\n"
           "  bye:\n    kind: hangup\n    cause: NORMAL_CLEARING\n";
}

void import(const platform& p, const std::string& document) {
  auto loaded = ivr::load_flow(document, "prompt_probe.yaml");
  CAF_REQUIRE(loaded.flow != nullptr);
  auto conn = persistence::internal::pg_connect(p.postgres.conninfo());
  CAF_REQUIRE(static_cast<bool>(conn));
  auto stored = persistence::catalog_store::import_flow(conn->get(), loaded.flow->name(),
                                                        loaded.flow->to_json());
  if (!stored)
    CAF_FAIL("import_flow: " << persistence::render_error(stored.error()));
}

/// Polls /metrics until it holds `line`; false after `limit`.
bool wait_for_metric(const platform& p, const std::string& line, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p.metrics().find("\n" + line + "\n") != std::string::npos)
      return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

} // namespace

CAF_TEST(a prompt FreeSWITCH does not have is reported until the catalog stops using it) {
  platform p;
  // fsemu has exactly the example flow's files: everything else is missing, as on a real box.
  // The lines land in fsemu's [prompts] table (the callers' TOML is appended right after it).
  auto main_menu = ivr::load_flow_file(source_dir + "/docs/flows/main_menu.yaml");
  CAF_REQUIRE(main_menu.flow != nullptr);
  std::string prompts = "unlisted = \"missing\"\n";
  for (const auto& uri : main_menu.flow->prompt_uris())
    if (uri.find("://") == std::string::npos)
      prompts += "\"" + uri + "\" = \"300ms\"\n";
  import(p, probe_flow(1, "ivr/not_recorded_yet.wav"));
  p.start_fsemu(prompts + "\n");
  p.start_callgridd();
  bool reported = wait_for_metric(p, "callgrid_prompts_missing 1", 30s);
  if (!reported)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log() << "\nmetrics:\n" << p.metrics());
  CAF_REQUIRE(reported);
  auto log = p.callgridd_log();
  CAF_CHECK(log.find("flow 'prompt_probe' prompt 'probe': 'ivr/not_recorded_yet.wav' is missing")
            != std::string::npos);
  // Every other prompt of the example flow was found: one line only.
  CAF_CHECK(log.find("flow 'main_menu' prompt") == std::string::npos);
  auto present = p.fsemu_api("file_exists /usr/share/freeswitch/sounds/ivr/welcome.wav");
  CAF_CHECK(present.starts_with("true"));
  auto absent = p.fsemu_api("file_exists /usr/share/freeswitch/sounds/ivr/not_recorded_yet.wav");
  CAF_CHECK(absent.starts_with("false"));

  // The flow is fixed in the catalog: the watcher reloads it and the node checks again.
  import(p, probe_flow(2, "ivr/goodbye.wav"));
  bool fixed = wait_for_metric(p, "callgrid_prompts_missing 0", 30s);
  if (!fixed)
    CAF_MESSAGE("callgridd log:\n" << p.callgridd_log());
  CAF_CHECK(fixed);
  auto metrics = p.metrics();
  CAF_CHECK(metrics.find("callgrid_prompt_checks_total 0\n") == std::string::npos);
}
