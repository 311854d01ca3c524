#define CAF_SUITE actors.engine_catalog

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "actors/engine_catalog.hpp"
#include "ivr/flow.hpp"
#include "persistence/catalog_snapshot.hpp"

using namespace callgrid;

namespace {

/// A stored flow (the canonical JSON form refers to catalog prompts by name) that plays the
/// catalog prompt `welcome` and hangs up.
const char* welcome_flow = R"({"name": "welcome", "version": 1, "start": "greet",
  "nodes": {"greet": {"kind": "play", "prompt": "welcome", "next": "bye"},
            "bye": {"kind": "hangup"}}})";

persistence::catalog_snapshot snapshot_with(std::vector<persistence::catalog_prompt> prompts) {
  persistence::catalog_snapshot snapshot;
  persistence::catalog_flow stored;
  stored.flow_id = 1;
  stored.version = 1;
  stored.name = "welcome";
  stored.document = welcome_flow;
  snapshot.flows.push_back(stored);
  snapshot.prompts = std::move(prompts);
  return snapshot;
}

persistence::catalog_prompt prompt(std::string language, std::string uri) {
  persistence::catalog_prompt p;
  p.name = "welcome";
  p.language = std::move(language);
  p.uri = std::move(uri);
  return p;
}

} // namespace

CAF_TEST(a flow plays the URI of its catalog prompt and follows a change of it) {
  std::vector<std::string> problems;
  auto catalog = actors::build_engine_catalog(
    snapshot_with({prompt("de", "/p/de/welcome.wav"), prompt("en", "/p/en/welcome.wav")}), "en",
    problems);
  CAF_CHECK(problems.empty());
  CAF_REQUIRE(catalog->flows.count(1) == 1);
  auto uris = catalog->flows.at(1)->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/p/en/welcome.wav") != uris.end());
  // The catalog changed the URI: the next build plays the new one, the flow is unchanged.
  auto moved = actors::build_engine_catalog(snapshot_with({prompt("en", "/srv/welcome.wav")}),
                                            "en", problems);
  CAF_REQUIRE(moved->flows.count(1) == 1);
  uris = moved->flows.at(1)->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/srv/welcome.wav") != uris.end());
}

CAF_TEST(a flow whose catalog prompt is gone is left out and says why) {
  std::vector<std::string> problems;
  auto catalog = actors::build_engine_catalog(snapshot_with({}), "en", problems);
  CAF_CHECK_EQUAL(catalog->flows.count(1), 0u);
  CAF_REQUIRE(!problems.empty());
  CAF_CHECK(std::any_of(problems.begin(), problems.end(), [](const std::string& p) {
    return p.find("prompt 'welcome' is not in the flow's prompts nor in the prompt catalog")
           != std::string::npos;
  }));
}

CAF_TEST(the prompt language picks which catalog row a flow plays) {
  std::vector<std::string> problems;
  auto catalog = actors::build_engine_catalog(
    snapshot_with({prompt("de", "/p/de/welcome.wav"), prompt("en", "/p/en/welcome.wav")}), "de",
    problems);
  CAF_REQUIRE(catalog->flows.count(1) == 1);
  auto uris = catalog->flows.at(1)->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/p/de/welcome.wav") != uris.end());
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/p/en/welcome.wav") == uris.end());
}

CAF_TEST(a flow with a language of its own plays that language s catalog rows) {
  std::vector<std::string> problems;
  auto snapshot = snapshot_with({prompt("de", "/p/de/welcome.wav"),
                                 prompt("en", "/p/en/welcome.wav"),
                                 prompt("fr", "/p/fr/welcome.wav")});
  snapshot.flows.front().document
    = R"({"name": "welcome", "version": 1, "start": "greet", "language": "fr",
          "nodes": {"greet": {"kind": "play", "prompt": "welcome", "next": "bye"},
                    "bye": {"kind": "hangup"}}})";
  auto catalog = actors::build_engine_catalog(snapshot, "de", problems);
  CAF_REQUIRE(catalog->flows.count(1) == 1);
  auto uris = catalog->flows.at(1)->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/p/fr/welcome.wav") != uris.end());
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/p/de/welcome.wav") == uris.end());
}
