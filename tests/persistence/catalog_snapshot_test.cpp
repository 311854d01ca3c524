#define CAF_SUITE persistence.catalog_snapshot

#include <caf/test/unit_test.hpp>

#include <string>
#include <utility>

#include "persistence/catalog_snapshot.hpp"

using namespace callgrid::persistence;

namespace {

catalog_prompt prompt(std::string name, std::string language, std::string uri) {
  catalog_prompt p;
  p.name = std::move(name);
  p.language = std::move(language);
  p.uri = std::move(uri);
  return p;
}

} // namespace

CAF_TEST(a catalog prompt used by a flow plays the en row or else the first language) {
  auto uris = prompt_uris_by_name({prompt("welcome", "de", "/p/de/welcome.wav"),
                                   prompt("welcome", "en", "/p/en/welcome.wav"),
                                   prompt("welcome", "fr", "/p/fr/welcome.wav"),
                                   prompt("goodbye", "fr", "/p/fr/goodbye.wav"),
                                   prompt("goodbye", "de", "/p/de/goodbye.wav"),
                                   prompt("menu", "en", "/p/en/menu.wav")});
  CAF_CHECK_EQUAL(uris.size(), 3u);
  CAF_CHECK_EQUAL(uris.at("welcome"), "/p/en/welcome.wav");
  CAF_CHECK_EQUAL(uris.at("goodbye"), "/p/de/goodbye.wav");
  CAF_CHECK_EQUAL(uris.at("menu"), "/p/en/menu.wav");
  CAF_CHECK(prompt_uris_by_name({}).empty());
}

CAF_TEST(the default language picks the row a prompt name plays) {
  std::vector<catalog_prompt> prompts{prompt("welcome", "de", "/p/de/welcome.wav"),
                                      prompt("welcome", "en", "/p/en/welcome.wav"),
                                      prompt("goodbye", "en", "/p/en/goodbye.wav"),
                                      prompt("goodbye", "fr", "/p/fr/goodbye.wav")};
  auto uris = prompt_uris_by_name(prompts, "de");
  CAF_CHECK_EQUAL(uris.at("welcome"), "/p/de/welcome.wav");
  CAF_CHECK_EQUAL(uris.at("goodbye"), "/p/en/goodbye.wav");
  auto french = prompt_uris_by_name(prompts, "fr");
  CAF_CHECK_EQUAL(french.at("goodbye"), "/p/fr/goodbye.wav");
  // A flow in French with German as the default: French, else German, else the first.
  auto french_then_german = prompt_uris_by_name(prompts, "fr", "de");
  CAF_CHECK_EQUAL(french_then_german.at("goodbye"), "/p/fr/goodbye.wav");
  CAF_CHECK_EQUAL(french_then_german.at("welcome"), "/p/de/welcome.wav");
}
