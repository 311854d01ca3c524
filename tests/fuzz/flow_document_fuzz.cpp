// libFuzzer target for IVR flow documents: load_flow on arbitrary bytes (YAML and JSON), the
// canonical JSON of every flow that loads must load again, and a session runs on a short,
// fuzz-chosen script of events.
//
// Input layout: the document, then optionally a NUL byte followed by the event script (one
// event per byte). Without a NUL the whole input is the document and a fixed script runs.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ivr/session.hpp"

namespace {

constexpr std::size_t max_events = 256;
constexpr unsigned char fixed_script[] = {0x00, 0x00, 0x11, 0x07, 0x00, 0x21, 0x03, 0x00, 0xf1, 0x07, 0x04, 0x05, 0x00};

void run_session(const std::shared_ptr<const callgrid::ivr::flow>& f, std::string_view script) {
  using namespace callgrid::ivr;
  session s{f};
  std::vector<command> out;
  std::uint64_t timer = 0;
  std::uint64_t lookup = 0;
  auto feed = [&](const event& e) {
    out.clear();
    s.handle(e, out);
    for (const auto& c : out) {
      if (auto t = std::get_if<start_timer>(&c))
        timer = t->timer_id;
      else if (auto l = std::get_if<start_lookup>(&c))
        lookup = l->request_id;
    }
  };
  const auto now = std::chrono::system_clock::time_point{} + std::chrono::hours{24 * 20000 + script.size()};
  feed(started{{"+4930123456", "800123", "spring", {{"tier", "gold"}}}, now});
  constexpr std::string_view keys = "0123456789*#ABCD";
  for (std::size_t i = 0; i < script.size() && i < max_events && !s.finished(); ++i) {
    const auto b = static_cast<unsigned char>(script[i]);
    switch (b & 7) {
      case 0: feed(prompt_finished{}); break;
      case 1: feed(digit_pressed{keys[b >> 4]}); break;
      case 2: feed(timer_expired{static_cast<std::uint64_t>(b >> 3)}); break;
      case 3: feed(lookup_finished{lookup, std::string(b >> 3, 'v'), false}); break;
      case 4: feed(lookup_finished{lookup, std::nullopt, false}); break;
      case 5: feed(lookup_finished{lookup, std::nullopt, true}); break;
      case 6: feed(b >> 3 == 0 ? event{caller_hung_up{}} : event{digit_pressed{static_cast<char>(b)}}); break;
      default: feed(timer_expired{timer}); break;
    }
  }
  (void) s.path().size();
  (void) s.current_node().size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  const auto nul = input.find('\0');
  const auto document = input.substr(0, nul);
  const auto script = nul == std::string_view::npos
                        ? std::string_view{reinterpret_cast<const char*>(fixed_script), sizeof fixed_script}
                        : input.substr(nul + 1);
  const callgrid::ivr::prompt_catalog catalog{{"catalog/beep.wav", "file:///prompts/beep.wav"}};
  auto loaded = callgrid::ivr::load_flow(document, "fuzz.yaml", catalog);
  for (const auto& d : loaded.problems)
    (void) callgrid::ivr::render(d).size();
  if (!loaded.flow)
    return 0;
  (void) loaded.flow->prompt_uris();
  const auto json = loaded.flow->to_json();
  auto again = callgrid::ivr::load_flow(json, "canonical.json", catalog);
  if (!again.flow || again.flow->to_json() != json)
    __builtin_trap();  // the stored form of a valid flow must load back unchanged
  run_session(loaded.flow, script);
  return 0;
}
