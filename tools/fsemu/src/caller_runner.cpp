#include "caller_runner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

namespace callgrid::fsemu {

namespace {

/// DTMF-Duration of a scripted key press: FreeSWITCH's default of 2000 samples (250 ms).
constexpr std::uint32_t press_duration_samples = 2000;

std::string describe(const script_step& step) {
  switch (step.what) {
    case script_step::kind::wait_prompt:
      return "wait_prompt " + std::to_string(step.count);
    case script_step::kind::wait_prompt_end:
      return "wait_prompt_end " + std::to_string(step.count);
    case script_step::kind::press:
      return "press " + step.digits;
    case script_step::kind::pause:
      return "pause";
    case script_step::kind::hangup:
      return "hangup";
    case script_step::kind::expect_hangup:
      return "expect_hangup";
  }
  return "step";
}

std::string milliseconds(std::int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(us) / 1000.0);
  return text;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_counts(const std::map<std::string, std::uint32_t>& counts) {
  std::string out = "{";
  for (const auto& [key, n] : counts) {
    if (out.size() > 1)
      out += ',';
    out += json_string(key) + ":" + std::to_string(n);
  }
  return out + "}";
}

std::string text_counts(const std::map<std::string, std::uint32_t>& counts) {
  std::string out;
  for (const auto& [key, n] : counts)
    out += (out.empty() ? "" : ", ") + key + " = " + std::to_string(n);
  return out.empty() ? "-" : out;
}

} // namespace

bool callers_summary::any_failed() const {
  if (timed_out)
    return true;
  return std::any_of(scenarios.begin(), scenarios.end(),
                     [](const scenario_summary& s) { return s.failed > 0; });
}

std::string callers_summary::to_text() const {
  std::string out = "fsemu callers summary";
  out += timed_out ? " (stopped by the time limit)\n" : "\n";
  for (const auto& s : scenarios) {
    out += "scenario " + s.name + ": placed " + std::to_string(s.placed) + ", refused "
           + std::to_string(s.refused) + ", answered " + std::to_string(s.answered)
           + ", completed " + std::to_string(s.completed) + ", failed "
           + std::to_string(s.failed) + "\n";
    out += "  scripts: " + text_counts(s.scripts) + "\n";
    out += "  outcomes: " + text_counts(s.outcomes) + "\n";
    out += "  failures: " + text_counts(s.failures) + "\n";
    out += "  setup latency ms: p50 " + milliseconds(s.setup_p50_us) + ", p90 "
           + milliseconds(s.setup_p90_us) + ", p99 " + milliseconds(s.setup_p99_us) + ", max "
           + milliseconds(s.setup_max_us) + "\n";
  }
  return out;
}

std::string callers_summary::to_json() const {
  std::string out = "{\"timed_out\":";
  out += timed_out ? "true" : "false";
  out += ",\"scenarios\":[";
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const auto& s = scenarios[i];
    if (i > 0)
      out += ',';
    out += "{\"name\":" + json_string(s.name) + ",\"placed\":" + std::to_string(s.placed)
           + ",\"refused\":" + std::to_string(s.refused) + ",\"answered\":"
           + std::to_string(s.answered) + ",\"completed\":" + std::to_string(s.completed)
           + ",\"failed\":" + std::to_string(s.failed) + ",\"scripts\":" + json_counts(s.scripts)
           + ",\"outcomes\":" + json_counts(s.outcomes) + ",\"failures\":"
           + json_counts(s.failures) + ",\"setup_latency_ms\":{\"p50\":"
           + milliseconds(s.setup_p50_us) + ",\"p90\":" + milliseconds(s.setup_p90_us)
           + ",\"p99\":" + milliseconds(s.setup_p99_us) + ",\"max\":"
           + milliseconds(s.setup_max_us) + "}}";
  }
  return out + "]}\n";
}

caller_runner::caller_runner(std::vector<caller_scenario> scenarios, std::uint64_t seed)
  : random_(seed) {
  for (auto& spec : scenarios) {
    scenario_state s;
    s.totals.name = spec.name;
    s.spec = std::move(spec);
    scenarios_.push_back(std::move(s));
  }
}

void caller_runner::start(std::int64_t now_us) {
  started_ = true;
  for (auto& s : scenarios_)
    s.first_call_us = now_us + s.spec.start_after_us;
}

std::int64_t caller_runner::timeout_of(const call& c, const script_step& step) const {
  return step.timeout_us > 0 ? step.timeout_us : scenarios_[c.scenario].spec.wait_timeout_us;
}

void caller_runner::place(switch_core& core, scenario_state& s, std::size_t index,
                          std::int64_t now_us) {
  ++s.started;
  inbound_call_request request;
  request.caller_id_name = s.spec.caller_id_name;
  request.caller_id_number = s.spec.caller_id;
  request.destination = s.spec.destination;
  request.context = s.spec.context;
  request.variables = s.spec.variables;
  auto result = core.place_inbound_call(request, now_us);
  if (result.uuid.empty()) {
    ++s.totals.refused;
    ++s.totals.failed;
    ++s.totals.failures["refused: " + result.refusal];
    return;
  }
  call c;
  c.scenario = index;
  if (s.spec.weighted && s.spec.scripts.size() > 1) {
    std::vector<double> weights;
    for (const auto& script : s.spec.scripts)
      weights.push_back(script.weight);
    std::discrete_distribution<std::size_t> pick{weights.begin(), weights.end()};
    c.script = pick(random_);
  } else {
    c.script = static_cast<std::size_t>(s.round_robin++ % s.spec.scripts.size());
  }
  ++s.totals.scripts[s.spec.scripts[c.script].name];
  c.uuid = result.uuid;
  c.created_us = now_us;
  ++s.totals.placed;
  ++s.up;
  auto& placed = calls_.emplace(result.uuid, std::move(c)).first->second;
  schedule(placed);
}

void caller_runner::fail(switch_core& core, call& c, std::string why, std::int64_t now_us) {
  if (c.failure.empty())
    c.failure = std::move(why);
  if (!c.ended && !c.caller_hung_up) {
    c.caller_hung_up = true;
    // A caller giving up before the answer sends CANCEL: FreeSWITCH ends the channel with
    // ORIGINATOR_CANCEL; after the answer a BYE (NORMAL_CLEARING).
    core.remote_hang_up(c.uuid, c.answered_us == 0 ? "ORIGINATOR_CANCEL" : "", now_us);
  }
}

void caller_runner::run_steps(switch_core& core, call& c, std::int64_t now_us) {
  const auto& steps = scenarios_[c.scenario].spec.scripts[c.script].steps;
  auto next = [&] {
    ++c.step;
    c.step_started_us = now_us;
    c.digits_sent = 0;
  };
  while (!c.ended && !c.caller_hung_up && c.failure.empty()) {
    if (c.step >= steps.size()) {
      // The script ran out without hanging up: the caller hangs up.
      c.caller_hung_up = true;
      core.remote_hang_up(c.uuid, "", now_us);
      return;
    }
    const auto& step = steps[c.step];
    switch (step.what) {
      case script_step::kind::wait_prompt:
      case script_step::kind::wait_prompt_end: {
        auto seen = step.what == script_step::kind::wait_prompt ? c.prompts_started
                                                                : c.prompts_stopped;
        if (seen >= step.count) {
          next();
          continue;
        }
        if (now_us >= c.step_started_us + timeout_of(c, step))
          fail(core, c, "timeout at step " + std::to_string(c.step + 1) + " (" + describe(step) + ")",
               now_us);
        return;
      }
      case script_step::kind::press:
        while (c.digits_sent < step.digits.size()
               && c.step_started_us + static_cast<std::int64_t>(c.digits_sent) * step.interval_us
                    <= now_us) {
          core.receive_dtmf(c.uuid, step.digits[c.digits_sent], press_duration_samples, "RTP",
                            now_us);
          ++c.digits_sent;
        }
        if (c.digits_sent < step.digits.size())
          return;
        next();
        continue;
      case script_step::kind::pause:
        if (now_us < c.step_started_us + step.duration_us)
          return;
        next();
        continue;
      case script_step::kind::hangup:
        c.caller_hung_up = true;
        core.remote_hang_up(c.uuid, "", now_us);
        return;
      case script_step::kind::expect_hangup:
        if (now_us >= c.step_started_us + timeout_of(c, step))
          fail(core, c, "timeout at step " + std::to_string(c.step + 1) + " (expect_hangup)",
               now_us);
        return;
    }
  }
}

void caller_runner::advance(switch_core& core, std::int64_t now_us) {
  if (!started_)
    return;
  for (std::size_t i = 0; i < scenarios_.size(); ++i) {
    auto& s = scenarios_[i];
    while (s.started < s.spec.total && s.up < s.spec.concurrency) {
      auto due = s.first_call_us
                 + static_cast<std::int64_t>(static_cast<double>(s.started) / s.spec.rate * 1e6);
      if (due > now_us)
        break;
      // A switch that fell behind (a loaded machine) places the calls it missed later rather
      // than all at once: a burst of thousands of calls in one turn only puts it further
      // behind (every call's events are rendered in that turn), until its clients time out.
      if (now_us - due > max_placement_lag_us) {
        s.first_call_us += now_us - due - max_placement_lag_us;
        ++s.totals.late_placements;
      }
      place(core, s, i, now_us);
    }
  }
  auto work = std::exchange(touched_, {});
  while (!agenda_.empty() && agenda_.begin()->first <= now_us) {
    auto entry = agenda_.extract(agenda_.begin());
    auto found = calls_.find(entry.mapped());
    if (found != calls_.end() && found->second.scheduled_us == entry.key()) {
      found->second.scheduled_us.reset();
      work.push_back(std::move(entry.mapped()));
    }
  }
  // In uuid order, as a walk over every call would visit them.
  std::sort(work.begin(), work.end());
  work.erase(std::unique(work.begin(), work.end()), work.end());
  for (const auto& uuid : work) {
    auto found = calls_.find(uuid);
    if (found == calls_.end() || found->second.ended)
      continue;
    auto& c = found->second;
    if (c.answered_us == 0) {
      if (now_us >= c.created_us + scenarios_[c.scenario].spec.answer_timeout_us)
        fail(core, c, "not answered", now_us);
    } else {
      run_steps(core, c, now_us);
    }
    schedule(c);
  }
}

void caller_runner::schedule(call& c) {
  auto due = due_of(c);
  if (due == c.scheduled_us)
    return;
  c.scheduled_us = due;
  if (due)
    agenda_.emplace(*due, c.uuid);
}

void caller_runner::finish(call& c, std::string_view cause) {
  auto& s = scenarios_[c.scenario];
  c.ended = true;
  c.counted = true;
  if (s.up > 0)
    --s.up;
  ++s.totals.outcomes[std::string{cause} + (c.caller_hung_up ? " by caller" : " by switch")];
  if (c.failure.empty()) {
    ++s.totals.completed;
  } else {
    ++s.totals.failed;
    ++s.totals.failures[c.failure];
  }
}

bool caller_runner::observes(std::string_view event_name) noexcept {
  return event_name == "CHANNEL_ANSWER" || event_name == "PLAYBACK_START"
         || event_name == "PLAYBACK_STOP" || event_name == "CHANNEL_HANGUP_COMPLETE";
}

void caller_runner::observe(const switch_event& event, std::int64_t now_us) {
  if (!event.channel)
    return;
  auto found = calls_.find(event.channel->uuid);
  if (found == calls_.end() || found->second.ended)
    return;
  auto& c = found->second;
  touched_.push_back(c.uuid);
  if (event.name == "CHANNEL_ANSWER") {
    c.answered_us = event.timestamp_us;
    c.step_started_us = now_us;
    auto& s = scenarios_[c.scenario];
    ++s.totals.answered;
    s.setup_us.push_back(c.answered_us - c.created_us);
  } else if (event.name == "PLAYBACK_START") {
    ++c.prompts_started;
  } else if (event.name == "PLAYBACK_STOP") {
    ++c.prompts_stopped;
  } else if (event.name == "CHANNEL_HANGUP_COMPLETE") {
    if (!c.caller_hung_up && c.failure.empty()) {
      const auto& steps = scenarios_[c.scenario].spec.scripts[c.script].steps;
      bool expected = c.answered_us != 0 && c.step < steps.size()
                      && steps[c.step].what == script_step::kind::expect_hangup;
      if (!expected)
        c.failure = c.answered_us == 0
                      ? std::string{"hung up by the switch before answer"}
                      : "hung up by the switch at step " + std::to_string(c.step + 1) + " ("
                          + (c.step < steps.size() ? describe(steps[c.step]) : "end") + ")";
    }
    finish(c, event.channel->hangup_cause);
    calls_.erase(found);
  }
}

std::optional<std::int64_t> caller_runner::next_due() const {
  if (!started_)
    return std::nullopt;
  std::optional<std::int64_t> due;
  auto consider = [&](std::int64_t at) {
    if (!due || at < *due)
      due = at;
  };
  for (const auto& s : scenarios_)
    if (s.started < s.spec.total && s.up < s.spec.concurrency)
      consider(s.first_call_us
               + static_cast<std::int64_t>(static_cast<double>(s.started) / s.spec.rate * 1e6));
  // A stale first entry only makes the owner call `advance` early, which does no harm.
  if (!agenda_.empty())
    consider(agenda_.begin()->first);
  if (!touched_.empty())
    consider(std::numeric_limits<std::int64_t>::min());
  return due;
}

std::optional<std::int64_t> caller_runner::due_of(const call& c) const {
  if (c.ended || c.caller_hung_up)
    return std::nullopt;
  const auto& spec = scenarios_[c.scenario].spec;
  if (c.answered_us == 0)
    return c.created_us + spec.answer_timeout_us;
  const auto& steps = spec.scripts[c.script].steps;
  if (c.step >= steps.size())
    return c.step_started_us;
  const auto& step = steps[c.step];
  switch (step.what) {
    case script_step::kind::press:
      return c.step_started_us + static_cast<std::int64_t>(c.digits_sent) * step.interval_us;
    case script_step::kind::pause:
      return c.step_started_us + step.duration_us;
    case script_step::kind::hangup:
      return c.step_started_us;
    default:
      return c.step_started_us + timeout_of(c, step);
  }
}

bool caller_runner::done() const {
  if (!started_)
    return false;
  for (const auto& s : scenarios_)
    if (s.started < s.spec.total)
      return false;
  return calls_.empty();
}

void caller_runner::stop(switch_core& core, std::int64_t now_us) {
  timed_out_ = true;
  for (auto& s : scenarios_)
    s.spec.total = s.started;
  for (auto& [uuid, c] : calls_)
    if (!c.ended)
      fail(core, c, "time limit", now_us);
}

callers_summary caller_runner::summary() const {
  callers_summary out;
  out.timed_out = timed_out_;
  for (const auto& s : scenarios_) {
    auto totals = s.totals;
    auto sorted = s.setup_us;
    std::sort(sorted.begin(), sorted.end());
    totals.setup_p50_us = percentile(sorted, 50);
    totals.setup_p90_us = percentile(sorted, 90);
    totals.setup_p99_us = percentile(sorted, 99);
    totals.setup_max_us = sorted.empty() ? 0 : sorted.back();
    out.scenarios.push_back(std::move(totals));
  }
  return out;
}

std::string caller_runner::progress_line() const {
  std::string out = "fsemu callers:";
  for (const auto& s : scenarios_)
    out += " " + s.spec.name + " placed " + std::to_string(s.totals.placed + s.totals.refused)
           + "/" + std::to_string(s.spec.total) + " up " + std::to_string(s.up) + " completed "
           + std::to_string(s.totals.completed) + " failed " + std::to_string(s.totals.failed)
           + (s.totals.late_placements > 0
                ? " (behind the rate " + std::to_string(s.totals.late_placements) + " times)"
                : std::string{})
           + ";";
  return out;
}

} // namespace callgrid::fsemu
