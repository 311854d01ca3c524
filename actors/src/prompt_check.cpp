#include "actors/prompt_check.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics_registry.hpp"
#include "esl/errc.hpp"
#include "esl/inbound_client.hpp"
#include "ivr/flow.hpp"

namespace callgrid::actors {

namespace {

constexpr std::string_view http_cache_scheme = "http_cache://";

bool starts_with_http(std::string_view uri) {
  return uri.starts_with("http://") || uri.starts_with("https://");
}

/// How `uri` is checked, or nullopt when it is not a file (a stream, a placeholder).
std::optional<prompt_check_method> method_of(std::string_view uri) {
  if (uri.empty() || uri.find("${") != std::string_view::npos)
    return std::nullopt;
  if (starts_with_http(uri))
    return prompt_check_method::http_prefetch;
  if (uri.starts_with(http_cache_scheme))
    return starts_with_http(uri.substr(http_cache_scheme.size()))
             ? std::optional{prompt_check_method::http_prefetch}
             : std::nullopt;
  // Any other scheme (tone_stream://, silence_stream://, shout://, say:, ...) is not a file.
  if (uri.find("://") != std::string_view::npos || uri.starts_with("say:"))
    return std::nullopt;
  return prompt_check_method::file_exists;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && (text.front() == '\n' || text.front() == ' '))
    text.remove_prefix(1);
  return std::string{text};
}

} // namespace

std::string_view to_string(prompt_status status) noexcept {
  switch (status) {
    case prompt_status::unchecked:
      return "unchecked";
    case prompt_status::present:
      return "present";
    case prompt_status::missing:
      return "missing";
    case prompt_status::warmed:
      return "warmed";
    case prompt_status::not_warmed:
      return "not_warmed";
    case prompt_status::unverified:
      return "unverified";
    case prompt_status::retry:
      return "retry";
  }
  return "unchecked";
}

std::vector<prompt_target> collect_prompt_targets(const engine_catalog& catalog) {
  std::map<std::string, prompt_target, std::less<>> by_uri;
  for (const auto& [id, flow] : catalog.flows) {
    if (!flow)
      continue;
    auto name = catalog.flow_names.contains(id) ? catalog.flow_names.at(id) : flow->name();
    for (const auto& p : flow->model().prompts) {
      auto method = method_of(p.uri);
      if (!method)
        continue;
      auto& target = by_uri[p.uri];
      target.uri = p.uri;
      target.method = *method;
      prompt_use use{name, p.name};
      if (std::find(target.uses.begin(), target.uses.end(), use) == target.uses.end())
        target.uses.push_back(std::move(use));
    }
  }
  std::vector<prompt_target> out;
  out.reserve(by_uri.size());
  for (auto& [uri, target] : by_uri)
    out.push_back(std::move(target));
  return out;
}

std::string prompt_check_command(const prompt_target& target, std::string_view sounds_dir) {
  std::string_view uri = target.uri;
  if (target.method == prompt_check_method::http_prefetch) {
    if (uri.starts_with(http_cache_scheme))
      uri.remove_prefix(http_cache_scheme.size());
    return "http_prefetch " + std::string{uri};
  }
  if (uri.starts_with('/') || sounds_dir.empty())
    return "file_exists " + std::string{uri};
  std::string dir{sounds_dir};
  if (!dir.ends_with('/'))
    dir += '/';
  return "file_exists " + dir + std::string{uri};
}

prompt_status interpret_prompt_reply(prompt_check_method method, const prompt_reply& reply) {
  if (!reply.delivered)
    return prompt_status::unchecked;
  auto text = trimmed(reply.text);
  if (method == prompt_check_method::file_exists) {
    if (text == "true")
      return prompt_status::present;
    if (text == "false")
      return prompt_status::missing;
    return prompt_status::unverified;
  }
  if (text.starts_with("+OK"))
    return prompt_status::warmed;
  // mod_http_cache answers a bare "-ERR" when its prefetch queue is full; anything longer
  // ("-ERR http_prefetch Command not found!") means it cannot prefetch at all.
  if (text == "-ERR")
    return prompt_status::retry;
  return prompt_status::not_warmed;
}

void prompt_check_plan::enqueue(entry& e) {
  if (e.queued || e.sent)
    return;
  e.queued = true;
  queue_.push_back(e.target.uri);
}

void prompt_check_plan::set_catalog(const engine_catalog& catalog) {
  auto targets = collect_prompt_targets(catalog);
  std::map<std::string, entry, std::less<>> next;
  for (auto& target : targets) {
    auto uri = target.uri;
    auto old = entries_.find(uri);
    entry e;
    if (old != entries_.end()) {
      e = std::move(old->second);
      e.target = std::move(target);
    } else {
      e.target = std::move(target);
    }
    next.emplace(std::move(uri), std::move(e));
  }
  entries_ = std::move(next);
  std::erase_if(queue_, [&](const std::string& uri) { return !entries_.contains(uri); });
  std::erase_if(retries_, [&](const std::string& uri) { return !entries_.contains(uri); });
  for (auto& [uri, e] : entries_)
    if (e.status == prompt_status::unchecked || counts_as_missing(e.status)
        || e.status == prompt_status::unverified) {
      e.attempts = 0;
      enqueue(e);
    }
}

void prompt_check_plan::restart() {
  sounds_dir_.reset();
  sounds_dir_asked_ = false;
  in_flight_ = 0;
  queue_.clear();
  retries_.clear();
  for (auto& [uri, e] : entries_) {
    e.queued = false;
    e.sent = false;
    e.attempts = 0;
    enqueue(e);
  }
}

void prompt_check_plan::link_lost() {
  in_flight_ = 0;
  if (!sounds_dir_)
    sounds_dir_asked_ = false;
  for (auto& [uri, e] : entries_)
    if (e.sent) {
      e.sent = false;
      enqueue(e);
    }
}

std::vector<prompt_check_plan::request> prompt_check_plan::next(std::size_t room) {
  std::vector<request> out;
  if (room <= in_flight_)
    return out;
  room -= in_flight_;
  if (!sounds_dir_) {
    if (!sounds_dir_asked_ && !queue_.empty()) {
      sounds_dir_asked_ = true;
      ++in_flight_;
      out.push_back({"", "global_getvar sounds_dir"});
    }
    return out;
  }
  std::size_t taken = 0;
  while (taken < queue_.size() && out.size() < room) {
    auto& e = entries_.at(queue_[taken]);
    ++taken;
    e.queued = false;
    e.sent = true;
    ++e.attempts;
    ++in_flight_;
    out.push_back({e.target.uri, prompt_check_command(e.target, *sounds_dir_)});
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
  return out;
}

void prompt_check_plan::set_sounds_dir(const prompt_reply& reply) {
  if (in_flight_ > 0)
    --in_flight_;
  if (!reply.delivered) {
    sounds_dir_asked_ = false;
    return;
  }
  auto text = trimmed(reply.text);
  // An unset global variable answers empty (or "_undef_" in some versions).
  sounds_dir_ = text.starts_with("-ERR") || text == "_undef_" ? std::string{} : text;
}

prompt_check_plan::change prompt_check_plan::record(const std::string& uri,
                                                    prompt_status status) {
  change out;
  auto it = entries_.find(uri);
  if (it == entries_.end()) {
    // Sent, then dropped by a catalog change while in flight.
    if (in_flight_ > 0)
      --in_flight_;
    return out;
  }
  if (!it->second.sent)
    return out;
  if (in_flight_ > 0)
    --in_flight_;
  auto& e = it->second;
  e.sent = false;
  out.target = &e.target;
  out.before = e.status;
  if (status == prompt_status::unchecked) {
    // No answer (the link went down): the next restart queues it again.
    out.after = e.status;
    return out;
  }
  if (status == prompt_status::retry) {
    if (e.attempts < max_prefetch_attempts) {
      retries_.push_back(uri);
      out.after = prompt_status::retry;
      return out;
    }
    status = prompt_status::not_warmed;
  }
  e.status = status;
  out.after = status;
  return out;
}

std::size_t prompt_check_plan::release_retries() {
  auto waiting = std::exchange(retries_, {});
  for (const auto& uri : waiting)
    if (auto it = entries_.find(uri); it != entries_.end())
      enqueue(it->second);
  return waiting.size();
}

const prompt_target* prompt_check_plan::find(std::string_view uri) const {
  auto it = entries_.find(uri);
  return it == entries_.end() ? nullptr : &it->second.target;
}

prompt_status prompt_check_plan::status(std::string_view uri) const {
  auto it = entries_.find(uri);
  return it == entries_.end() ? prompt_status::unchecked : it->second.status;
}

std::size_t prompt_check_plan::missing() const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) {
    return counts_as_missing(kv.second.status);
  }));
}

bool prompt_check_plan::idle() const noexcept {
  return queue_.empty() && retries_.empty() && in_flight_ == 0;
}

namespace {

struct checker_metrics {
  metric_gauge* missing = nullptr;
  metric_gauge* uris = nullptr;
  metric_counter* checks = nullptr;
};

struct prompt_checker_state {
  static inline const char* name = "prompt_checker";

  prompt_checker_options options;
  prompt_check_plan plan;
  checker_metrics metrics;
  bool link_ready = false;
  bool retry_armed = false;
  /// Bumped at every restart; answers of older runs are dropped.
  uint64_t run = 0;
  /// Whether the current run's summary is still to be logged.
  bool summary_due = false;
};

using checker_pointer = prompt_checker_actor::stateful_pointer<prompt_checker_state>;

prompt_reply to_reply(const caf::expected<std::string>& output) {
  if (output)
    return {true, *output};
  const auto& err = output.error();
  if (err && err.category() == caf::atom("esl")
      && static_cast<esl::errc>(err.code()) == esl::errc::command_failed) {
    // The refusal's text ("-ERR ...") follows the client's "'api ...' failed: ".
    auto text = esl::render_error(err);
    for (std::string_view marker : {"' failed: ", "' was refused: "})
      if (auto at = text.find(marker); at != std::string::npos)
        return {true, text.substr(at + marker.size())};
    return {true, text};
  }
  return {false, esl::render_error(err)};
}

void update_gauges(prompt_checker_state& st) {
  if (st.metrics.missing)
    st.metrics.missing->set(static_cast<double>(st.plan.missing()));
  if (st.metrics.uris)
    st.metrics.uris->set(static_cast<double>(st.plan.size()));
}

void pump(checker_pointer self) {
  auto& st = self->state;
  if (!st.link_ready)
    return;
  for (auto& request : st.plan.next(st.options.max_in_flight)) {
    caf::actor handle = caf::actor_cast<caf::actor>(self);
    st.options.client->api(request.command, [handle, run = st.run, uri = request.uri](
                                              caf::expected<std::string> output) {
      auto reply = to_reply(output);
      caf::anon_send(handle,
                     prompt_check_answer{run, uri, reply.delivered, std::move(reply.text)});
    });
  }
  if (st.plan.retries_waiting() > 0 && !st.retry_armed) {
    st.retry_armed = true;
    self->delayed_send(self, st.options.retry_delay, caf::tick_atom_v);
  }
  if (st.summary_due && st.plan.idle()) {
    st.summary_due = false;
    spdlog::info("prompt check: {} prompt URIs checked on FreeSWITCH, {} missing", st.plan.size(),
                 st.plan.missing());
  }
}

void log_change(const prompt_check_plan::change& change) {
  if (!change.target)
    return;
  const auto& t = *change.target;
  if (counts_as_missing(change.after)) {
    const char* what = change.after == prompt_status::missing
                         ? "is missing on FreeSWITCH (file_exists answered false); playing it "
                           "fails at once and the caller hears nothing"
                         : "could not be warmed (http_prefetch refused it); the first call that "
                           "plays it waits for the download";
    for (const auto& use : t.uses)
      spdlog::warn("prompt check: flow '{}' prompt '{}': '{}' {}", use.flow, use.prompt, t.uri,
                   what);
  } else if (counts_as_missing(change.before)
             && (change.after == prompt_status::present || change.after == prompt_status::warmed)) {
    spdlog::info("prompt check: '{}' is {} now", t.uri, to_string(change.after));
  } else if (change.after == prompt_status::unverified && change.before != change.after) {
    spdlog::warn("prompt check: '{}' could not be checked (FreeSWITCH's answer says nothing "
                 "about it)",
                 t.uri);
  }
}

prompt_checker_actor::behavior_type prompt_checker_impl(checker_pointer self,
                                                        prompt_checker_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  if (auto* m = st.options.metrics) {
    st.metrics.missing = &m->gauge(prompts_missing_metric, prompts_missing_help);
    st.metrics.uris = &m->gauge("callgrid_prompt_uris",
                                "Distinct prompt URIs of loaded flows checked on FreeSWITCH");
    st.metrics.checks = &m->counter("callgrid_prompt_checks_total",
                                    "Prompt checks answered by FreeSWITCH (file_exists, "
                                    "http_prefetch)");
  }
  if (st.options.catalog)
    st.plan.set_catalog(*st.options.catalog);
  update_gauges(st);
  return {
    [self](prompt_check_catalog& update) {
      auto& state = self->state;
      if (!update.catalog)
        return;
      state.plan.set_catalog(*update.catalog);
      state.summary_due = true;
      update_gauges(state);
      pump(self);
    },
    [self](prompt_check_link link) {
      auto& state = self->state;
      if (link.ready == state.link_ready)
        return;
      state.link_ready = link.ready;
      if (link.ready) {
        ++state.run;
        state.plan.restart();
        state.summary_due = true;
        pump(self);
      } else {
        state.plan.link_lost();
      }
    },
    [self](prompt_check_answer& answer) {
      auto& state = self->state;
      if (answer.run != state.run)
        return;
      prompt_reply reply{answer.delivered, std::move(answer.text)};
      if (answer.uri.empty()) {
        state.plan.set_sounds_dir(reply);
      } else {
        auto method = state.plan.find(answer.uri) ? state.plan.find(answer.uri)->method
                                                  : prompt_check_method::file_exists;
        auto status = interpret_prompt_reply(method, reply);
        if (reply.delivered && state.metrics.checks)
          state.metrics.checks->increment();
        log_change(state.plan.record(answer.uri, status));
        update_gauges(state);
      }
      pump(self);
    },
    [self](caf::tick_atom) {
      auto& state = self->state;
      state.retry_armed = false;
      state.plan.release_retries();
      pump(self);
    },
  };
}

} // namespace

prompt_checker_actor spawn_prompt_checker(caf::actor_system& system,
                                          prompt_checker_options options) {
  return system.spawn(prompt_checker_impl, std::move(options));
}

} // namespace callgrid::actors
