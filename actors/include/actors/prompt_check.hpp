#pragma once

// Prompts are checked and warmed when a flow is loaded, never fetched mid-call (design.md §4).
//
// Every prompt URI of every loaded flow is checked on FreeSWITCH over the node's inbound ESL
// link whenever the catalog changes and whenever the link becomes ready: local files with
// mod_commands' `file_exists` (relative paths under FreeSWITCH's `sounds_dir`, as `playback`
// resolves them), http(s) URIs warmed with mod_http_cache's `http_prefetch`. Two parts:
//
// - `prompt_check_plan` (pure): which URIs to check (deduplicated across flows), which api
//   command each needs, what an answer means, what is missing; tested without sockets.
// - `prompt_checker_actor` (thin): sends the plan's commands over the link, a few at a time,
//   logs each missing prompt (flow, prompt name, URI) and keeps the metrics.
//
// ```cpp
// prompt_check_plan plan;
// plan.set_catalog(*catalog);            // or after a reconnect: plan.restart();
// for (auto& r : plan.next(4))           // first "global_getvar sounds_dir", then the checks
//   send_api(r.command);                 // ... each answer:
// auto change = plan.record(r.uri, interpret_prompt_reply(method, reply));
// ```

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/engine_catalog.hpp"

namespace callgrid::esl {
class inbound_client;
} // namespace callgrid::esl

namespace callgrid::actors {

class metrics_registry;

/// How one prompt URI is checked on FreeSWITCH.
enum class prompt_check_method : uint8_t {
  /// `file_exists <path>` (mod_commands): answers `true` or `false`.
  file_exists,
  /// `http_prefetch <url>` (mod_http_cache): queues a background download; answers `+OK`, or
  /// `-ERR` when its prefetch queue is full.
  http_prefetch,
};

/// Where a URI is used: a flow and the prompt name in it. Plain value.
struct prompt_use {
  std::string flow;
  std::string prompt;
  friend bool operator==(const prompt_use&, const prompt_use&) = default;
};

/// One distinct URI to check and every place that plays it. Plain value.
struct prompt_target {
  std::string uri;
  prompt_check_method method = prompt_check_method::file_exists;
  std::vector<prompt_use> uses;
  friend bool operator==(const prompt_target&, const prompt_target&) = default;
};

/// What is known about one URI.
enum class prompt_status : uint8_t {
  /// Not checked yet (or the link went down before the answer).
  unchecked,
  /// `file_exists` said `true`.
  present,
  /// `file_exists` said `false`: `playback` fails at once with FILE NOT FOUND.
  missing,
  /// `http_prefetch` queued the download.
  warmed,
  /// `http_prefetch` could not queue it (queue full after every retry, or mod_http_cache is
  /// not loaded): the first call that plays it downloads it.
  not_warmed,
  /// The answer says nothing (the command does not exist on this FreeSWITCH, an unexpected
  /// text): neither present nor missing.
  unverified,
  /// `http_prefetch`'s queue was full: try again later.
  retry,
};

/// "present", "missing", ... for logs.
[[nodiscard]] std::string_view to_string(prompt_status status) noexcept;

/// Whether `status` counts in `callgrid_prompts_missing`.
[[nodiscard]] constexpr bool counts_as_missing(prompt_status status) noexcept {
  return status == prompt_status::missing || status == prompt_status::not_warmed;
}

/// An api command's outcome as the ESL client reports it: `delivered` is false when no answer
/// came (link down, timeout); `text` is the body (or the `-ERR ...` text of a refusal).
struct prompt_reply {
  bool delivered = false;
  std::string text;
};

/// The prompt URIs of every flow in `catalog`, deduplicated and sorted by URI, each with its
/// uses (flow name, prompt name). Left out: URIs with `${...}` placeholders (they depend on the
/// call) and streams that are not files (`tone_stream://`, `silence_stream://`, `say:` and any
/// other scheme but http, https and `http_cache://`). Pure; never fails.
[[nodiscard]] std::vector<prompt_target> collect_prompt_targets(const engine_catalog& catalog);

/// The api command (without `api `) that checks `target`: `file_exists <path>` with a
/// relative path put under `sounds_dir` (as FreeSWITCH's `playback` resolves it; as given when
/// `sounds_dir` is empty), or `http_prefetch <url>` (the URL inside `http_cache://`). Pure.
[[nodiscard]] std::string prompt_check_command(const prompt_target& target,
                                               std::string_view sounds_dir);

/// What FreeSWITCH's answer to `prompt_check_command` means. Pure.
[[nodiscard]] prompt_status interpret_prompt_reply(prompt_check_method method,
                                                   const prompt_reply& reply);

/// The prompt checker's bookkeeping: targets, their status, what is queued and in flight.
/// Pure (no clock, no sockets); owned by one prompt checker actor, not thread-safe.
class prompt_check_plan {
public:
  /// One api command to send; `uri` is empty for the `global_getvar sounds_dir` query.
  struct request {
    std::string uri;
    std::string command;
    friend bool operator==(const request&, const request&) = default;
  };

  /// What an answer changed, for the log.
  struct change {
    /// The target answered (null when the answer was for a URI no longer checked).
    const prompt_target* target = nullptr;
    prompt_status before = prompt_status::unchecked;
    prompt_status after = prompt_status::unchecked;
  };

  /// How many times `http_prefetch` is tried while its queue is full.
  static constexpr int max_prefetch_attempts = 5;

  /// Takes a new catalog: URIs no longer used are dropped; new URIs and URIs still missing are
  /// queued; the others keep their result (a catalog change re-checks only what changed).
  void set_catalog(const engine_catalog& catalog);

  /// The link became ready (first start or reconnect; FreeSWITCH may have restarted): asks for
  /// `sounds_dir` again and queues every URI. Results stay until answered anew.
  void restart();

  /// The link went down: nothing is in flight any more; what was in flight is queued again.
  void link_lost();

  /// Up to `room` commands to send now (the `sounds_dir` query alone first). Marks them in
  /// flight.
  [[nodiscard]] std::vector<request> next(std::size_t room);

  /// The answer to the `sounds_dir` query ("" when it gave none).
  void set_sounds_dir(const prompt_reply& reply);

  /// Records the status `uri` was answered with. `retry` puts it aside until `release_retries`
  /// (up to `max_prefetch_attempts`, then `not_warmed`); `unchecked` (no answer) queues it again
  /// for the next `restart`. Answers for URIs not in flight are ignored (`target` null).
  change record(const std::string& uri, prompt_status status);

  /// Queues the URIs put aside by `retry` again; returns how many.
  std::size_t release_retries();

  /// The target for `uri`, or null.
  [[nodiscard]] const prompt_target* find(std::string_view uri) const;
  /// The status of `uri` (`unchecked` when unknown).
  [[nodiscard]] prompt_status status(std::string_view uri) const;
  /// URIs whose status counts as missing.
  [[nodiscard]] std::size_t missing() const;
  /// Distinct URIs checked.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  /// Commands sent and not answered yet.
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
  /// Whether everything queued has been answered (retries included).
  [[nodiscard]] bool idle() const noexcept;
  /// URIs waiting for `release_retries`.
  [[nodiscard]] std::size_t retries_waiting() const noexcept { return retries_.size(); }

private:
  struct entry {
    prompt_target target;
    prompt_status status = prompt_status::unchecked;
    bool queued = false;
    bool sent = false;
    int attempts = 0;
  };

  void enqueue(entry& e);

  std::map<std::string, entry, std::less<>> entries_;
  std::vector<std::string> queue_;
  std::vector<std::string> retries_;
  std::optional<std::string> sounds_dir_;
  bool sounds_dir_asked_ = false;
  std::size_t in_flight_ = 0;
};

/// Hands the prompt checker a new catalog (from the node supervisor's `catalog_update`).
struct prompt_check_catalog {
  std::shared_ptr<const engine_catalog> catalog;
  friend bool operator==(const prompt_check_catalog& a, const prompt_check_catalog& b) {
    return a.catalog == b.catalog;
  }
};

/// Tells the prompt checker the ESL link's state (from the node supervisor's `link_status`).
struct prompt_check_link {
  bool ready = false;
  friend bool operator==(const prompt_check_link&, const prompt_check_link&) = default;
};

/// An api answer, from the ESL client's handler to the prompt checker (internal).
struct prompt_check_answer {
  /// The check run the command belongs to (answers of older runs are dropped).
  uint64_t run = 0;
  /// Empty for the `sounds_dir` query.
  std::string uri;
  bool delivered = false;
  std::string text;
  friend bool operator==(const prompt_check_answer&, const prompt_check_answer&) = default;
};

} // namespace callgrid::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::prompt_check_catalog)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::prompt_check_link)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::prompt_check_answer)

namespace callgrid::actors {

/// The prompt checker: runs `prompt_check_plan` against FreeSWITCH over the node's inbound ESL
/// link. Spawned and fed by the node supervisor (catalog changes, link state); an event-based
/// actor on the CAF scheduler, off the call path. At most `max_in_flight` api commands are
/// outstanding at once, so a catalog with thousands of prompts never floods the link. Logs one
/// warning per missing prompt use (flow, prompt name, URI) and a summary per completed run;
/// keeps `callgrid_prompts_missing`, `callgrid_prompt_uris` and `callgrid_prompt_checks_total`.
/// Never fails: a lost link leaves the unanswered checks for the next reconnect.
using prompt_checker_actor
  = caf::typed_actor<caf::reacts_to<prompt_check_catalog>, caf::reacts_to<prompt_check_link>,
                     caf::reacts_to<prompt_check_answer>, caf::reacts_to<caf::tick_atom>>;

/// The gauge of prompt URIs FreeSWITCH does not have or could not warm, and its help text
/// (the daemon reads it for `/readyz`'s body).
inline constexpr const char* prompts_missing_metric = "callgrid_prompts_missing";
inline constexpr const char* prompts_missing_help
  = "Prompt URIs of loaded flows FreeSWITCH does not have (file_exists false) or could not warm "
    "(http_prefetch refused)";

/// How the prompt checker runs.
struct prompt_checker_options {
  /// The node's inbound ESL link (shared with the node supervisor).
  std::shared_ptr<esl::inbound_client> client;
  /// Where the metrics go (owned by the daemon); may be null in tests.
  metrics_registry* metrics = nullptr;
  /// The catalog at start (may be null).
  std::shared_ptr<const engine_catalog> catalog;
  /// Most api commands outstanding at once.
  std::size_t max_in_flight = 4;
  /// Delay before `http_prefetch` is tried again after its queue was full.
  std::chrono::milliseconds retry_delay{1000};
};

/// Spawns the prompt checker. It does nothing until told the link is ready.
[[nodiscard]] prompt_checker_actor spawn_prompt_checker(caf::actor_system& system,
                                                        prompt_checker_options options);

} // namespace callgrid::actors
