#pragma once

// For fsemu's switch_core tests: a switch driven directly with explicit times (no sockets, no
// wall clock), collecting every event it fires, with the queries the tests make of them.

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frame_comparison.hpp" // captured_switch_config, capture_day_us, switch_core

namespace callgrid::fsemu::testing {

/// One switch_core on `config`, its clock at 100 s into the capture day, and the events it fired.
struct switch_harness {
  explicit switch_harness(switch_config c) : config(std::move(c)) {}

  switch_config config;
  switch_core core{config, capture_day_us};
  std::int64_t now = capture_day_us + 100 * 1'000'000;
  std::vector<switch_event> events;

  /// Moves the clock to `at` running due work, and collects the events fired on the way.
  void run_until(std::int64_t at) {
    while (auto due = core.next_due()) {
      if (*due > at)
        break;
      now = std::max(now, *due);
      core.advance(now);
      collect();
    }
    now = at;
    core.advance(now);
    collect();
  }

  void collect() {
    for (auto& ev : core.take_events(now))
      events.push_back(std::move(ev));
  }

  /// Places an inbound (SIP-like) call from Alice at `number` to `destination`; its UUID.
  std::string call(const std::string& destination, std::vector<channel_variable> vars = {},
                   const std::string& number = "5551234") {
    inbound_call_request request;
    request.caller_id_name = "Alice";
    request.caller_id_number = number;
    request.destination = destination;
    request.variables = std::move(vars);
    auto result = core.place_inbound_call(request, now);
    collect();
    return result.uuid;
  }

  void press(const std::string& uuid, const std::string& digits) {
    for (char digit : digits)
      CAF_CHECK(core.receive_dtmf(uuid, digit, 800, "RTP", now));
    collect();
  }

  std::string execute(const std::string& uuid, const std::string& app, const std::string& arg,
                      const std::string& app_uuid = {}) {
    auto reply = core.sendmsg(uuid, "execute", app, arg, app_uuid, now);
    collect();
    return reply;
  }

  /// Whether `ev` belongs to channel `uuid` (every event does when `uuid` is empty).
  static bool of(const switch_event& ev, const std::string& uuid) {
    return uuid.empty() || (ev.channel && ev.channel->uuid == uuid);
  }

  /// The names of the events of channel `uuid` (all channels when empty).
  std::vector<std::string> names(const std::string& uuid = {}) const {
    std::vector<std::string> out;
    for (const auto& ev : events)
      if (of(ev, uuid))
        out.push_back(ev.name);
    return out;
  }

  /// The value of header `name` in event `ev` as rendered (unencoded), or "" when absent.
  std::string header(const switch_event& ev, std::string_view name) const {
    for (const auto& h : core.renderer().headers(ev.input()))
      if (h.name == name)
        return h.value;
    return {};
  }

  const switch_event* last(std::string_view name, const std::string& uuid = {}) const {
    for (auto i = events.rbegin(); i != events.rend(); ++i)
      if (i->name == name && of(*i, uuid))
        return &*i;
    return nullptr;
  }

  std::size_t count(std::string_view name, const std::string& uuid = {}) const {
    return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [&](const auto& ev) { return ev.name == name && of(ev, uuid); }));
  }

  /// Channel variable `name` of `uuid`: "<gone>" without the channel, "<unset>" without the value.
  std::string variable(const std::string& uuid, std::string_view name) const {
    const auto* channel = core.channel(uuid);
    if (channel == nullptr)
      return "<gone>";
    const auto* value = channel->find_variable(name);
    return value != nullptr ? *value : std::string{"<unset>"};
  }

  /// The Playback-File-Path of every PLAYBACK_START so far.
  std::vector<std::string> prompts() const {
    std::vector<std::string> out;
    for (const auto& ev : events)
      if (ev.name == "PLAYBACK_START")
        out.push_back(header(ev, "Playback-File-Path"));
    return out;
  }
};

} // namespace callgrid::fsemu::testing
