#define CAF_SUITE fsemu.prompts

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frame_comparison.hpp" // also esl frames, switch_core, <regex>, <string>, <vector>
#include "fsemu_config.hpp"

using namespace callgrid;
using namespace callgrid::fsemu::testing;

namespace {

// The prompt checks callgridd runs (file_exists, http_prefetch, global_getvar sounds_dir) and
// what `playback` of a file the switch does not have does.

constexpr std::int64_t second = 1'000'000;

fsemu::switch_config strict_config() {
  auto c = captured_switch_config(7);
  c.unlisted_files_exist = false;
  c.sounds_dir = "/usr/share/freeswitch/sounds";
  c.prompt_lengths_us["ivr/welcome.wav"] = 2 * second;
  c.prompt_lengths_us["/srv/audio/jingle.wav"] = 1 * second;
  return c;
}

struct harness {
  fsemu::switch_core core;
  std::int64_t now = capture_day_us + 100 * second;
  std::vector<fsemu::switch_event> events;

  explicit harness(fsemu::switch_config config) : core(std::move(config), capture_day_us) {
  }

  void collect() {
    for (auto& ev : core.take_events(now))
      events.push_back(std::move(ev));
  }

  std::string call() {
    fsemu::inbound_call_request request;
    request.caller_id_number = "5551234";
    request.destination = "1000";
    auto result = core.place_inbound_call(request, now);
    collect();
    return result.uuid;
  }

  std::string header(const fsemu::switch_event& ev, std::string_view name) const {
    for (const auto& h : core.renderer().headers(ev.input()))
      if (h.name == name)
        return h.value;
    return {};
  }

  std::size_t count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [&](const auto& ev) { return ev.name == name; }));
  }
};

} // namespace

CAF_TEST(file_exists answers true for listed and on-disk files and false otherwise) {
  harness h{strict_config()};
  auto on_disk = std::filesystem::temp_directory_path() / "fsemu-prompts-test.wav";
  std::ofstream{on_disk} << "RIFF";
  CAF_CHECK_EQUAL(h.core.api("file_exists /usr/share/freeswitch/sounds/ivr/welcome.wav", h.now),
                  "true");
  CAF_CHECK_EQUAL(h.core.api("file_exists ivr/welcome.wav", h.now), "true");
  CAF_CHECK_EQUAL(h.core.api("file_exists /srv/audio/jingle.wav", h.now), "true");
  CAF_CHECK_EQUAL(h.core.api("file_exists " + on_disk.string(), h.now), "true");
  CAF_CHECK_EQUAL(h.core.api("file_exists /usr/share/freeswitch/sounds/ivr/gone.wav", h.now),
                  "false");
  CAF_CHECK_EQUAL(h.core.api("file_exists", h.now), "false");
  std::filesystem::remove(on_disk);
  harness lenient{captured_switch_config(7)};
  CAF_CHECK_EQUAL(lenient.core.api("file_exists /anything/at/all.wav", lenient.now), "true");
}

CAF_TEST(http_prefetch queues at once and sounds_dir is a global variable) {
  harness h{strict_config()};
  CAF_CHECK_EQUAL(h.core.api("http_prefetch https://media.example/news.wav", h.now), "+OK\n");
  CAF_CHECK_EQUAL(h.core.api("http_prefetch", h.now), "USAGE: {param=val}<url>\n");
  CAF_CHECK_EQUAL(h.core.api("global_getvar sounds_dir", h.now), "/usr/share/freeswitch/sounds");
}

CAF_TEST(playback of a missing file fails at once with FILE NOT FOUND and the call stays parked) {
  harness h{strict_config()};
  auto uuid = h.call();
  CAF_REQUIRE(!uuid.empty());
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "playback", "ivr/gone.wav", "app-9", h.now),
                  "+OK");
  h.collect();
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 0u);
  CAF_CHECK_EQUAL(h.count("PLAYBACK_STOP"), 0u);
  const fsemu::switch_event* complete = nullptr;
  for (const auto& ev : h.events)
    if (ev.name == "CHANNEL_EXECUTE_COMPLETE")
      complete = &ev;
  CAF_REQUIRE(complete != nullptr);
  CAF_CHECK_EQUAL(h.header(*complete, "Application-UUID"), "app-9");
  CAF_CHECK_EQUAL(h.header(*complete, "Application-Response"), "FILE NOT FOUND");
  CAF_CHECK_EQUAL(h.header(*complete, "variable_current_application_response"), "FILE NOT FOUND");
  CAF_CHECK_EQUAL(h.core.session_count(), 1u);
  // A listed file still plays.
  h.events.clear();
  CAF_CHECK_EQUAL(h.core.sendmsg(uuid, "execute", "playback", "ivr/welcome.wav", "app-10", h.now),
                  "+OK");
  h.collect();
  CAF_CHECK_EQUAL(h.count("PLAYBACK_START"), 1u);
}

CAF_TEST(the prompts table takes unlisted = missing and the switch table sounds_dir) {
  auto loaded = fsemu::parse_config(
    "[switch]\nsounds_dir = \"/opt/sounds\"\n[prompts]\nunlisted = \"missing\"\n\"a.wav\" = \"1s\"\n",
    "test.toml");
  CAF_REQUIRE(loaded.config.has_value());
  fsemu::switch_config config;
  loaded.config->apply_to(config);
  CAF_CHECK(!config.unlisted_files_exist);
  CAF_CHECK_EQUAL(config.sounds_dir, "/opt/sounds");
  CAF_CHECK_EQUAL(config.prompt_lengths_us.count("a.wav"), 1u);
  auto bad = fsemu::parse_config("[prompts]\nunlisted = \"maybe\"\n", "test.toml");
  CAF_REQUIRE_EQUAL(bad.problems.size(), 1u);
  CAF_CHECK_EQUAL(bad.problems[0].key, "prompts.unlisted");
}
