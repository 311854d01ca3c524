#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "persistence/redis_client.hpp"

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace callgrid::persistence {

/// The classes of hot-state keys; each has one failure policy (see `policy_of` and
/// docs/hot-state.md).
enum class key_class : uint8_t {
  /// Call session snapshots for recovery (`SET PX` / `GET` / `DEL`).
  session,
  /// Concurrency caps: slots held by live calls.
  concurrency,
  /// Counters with a TTL (`INCRBY`).
  counter,
  /// Token-bucket rate limits.
  rate_limit,
  /// Campaign dedup keys (`SET NX PX`).
  dedup,
  /// Leases with an owner token (campaign leases, leader-ish jobs).
  lease,
};

/// Number of `key_class` values.
inline constexpr std::size_t key_class_count = 6;

/// Returns the name of `cls`, e.g. "concurrency" (the `class` label of the policy metric).
[[nodiscard]] const char* to_string(key_class cls) noexcept;

/// What the hot state does with an operation when Redis is unavailable or too slow.
enum class failure_policy : uint8_t {
  /// The operation is dropped and counted; the caller gets the error.
  best_effort,
  /// The answer comes from an in-process counter or bucket with a local share of the limit.
  local_fallback,
  /// The answer is "not granted".
  fail_closed,
};

/// Returns the name of `policy`, e.g. "fail_closed".
[[nodiscard]] const char* to_string(failure_policy policy) noexcept;

/// The fixed policy of each class: sessions best-effort; concurrency, counters and rate limits
/// fall back to a local limit (fail open, bounded); dedup and leases fail closed.
[[nodiscard]] failure_policy policy_of(key_class cls) noexcept;

/// Where an answer came from.
enum class answer_source : uint8_t {
  /// Redis answered.
  redis,
  /// Redis failed; the in-process fallback answered (`local_fallback` policy).
  local_fallback,
  /// Redis failed; the answer is "not granted" by policy (`fail_closed`).
  fail_closed,
};

/// Returns the name of `source`, e.g. "redis".
[[nodiscard]] const char* to_string(answer_source source) noexcept;

/// The answer to `acquire_slot`.
struct slot_decision {
  /// Whether the call got its slot (also true when it already held it).
  bool acquired = false;
  /// Slots in use for the key after the decision: cluster-wide from Redis, or this process's
  /// own from the fallback.
  int64_t in_use = 0;
  answer_source source = answer_source::redis;
  friend bool operator==(const slot_decision&, const slot_decision&) = default;
};

/// The answer to `increment`.
struct counter_value {
  /// The counter after the increment (cluster-wide, or this process's local count).
  int64_t value = 0;
  answer_source source = answer_source::redis;
  friend bool operator==(const counter_value&, const counter_value&) = default;
};

/// The answer to `take_token`.
struct rate_decision {
  /// Whether a token was taken.
  bool allowed = false;
  /// Whole tokens left in the bucket afterwards.
  int64_t tokens_left = 0;
  answer_source source = answer_source::redis;
  friend bool operator==(const rate_decision&, const rate_decision&) = default;
};

/// The answer to `claim_once` and the lease operations.
struct claim_decision {
  /// Whether the claim, lease, renewal or release went through.
  bool granted = false;
  answer_source source = answer_source::redis;
  friend bool operator==(const claim_decision&, const claim_decision&) = default;
};

/// Settings of a `hot_state`. Read at construction.
struct hot_state_options {
  /// The connection; `on_connect` is taken over by the hot state.
  redis_client_options redis;
  /// Prefix of every key, so several deployments can share a Redis.
  std::string key_prefix = "cg:";
  /// Expiry of a concurrency slot: a slot not released (its daemon crashed) stops counting after
  /// this. Longer than the longest call; `acquire_slot` for a held slot refreshes it.
  std::chrono::milliseconds slot_ttl{std::chrono::hours{4}};
  /// Share of a cap or rate that this process may use on its own while Redis is unavailable
  /// (`local_fallback`): local cap = max(1, ceil(cap * local_share)); same for a bucket's rate
  /// and burst. Roughly 1 / number of daemons.
  double local_share = 0.25;
};

/// Counters of a `hot_state`, as plain numbers for the metrics endpoint.
struct hot_state_stats {
  /// `callgrid_hot_state_policy_in_effect_total{class=...}`: how often a class's failure policy
  /// answered instead of Redis, indexed by `key_class`.
  std::array<uint64_t, key_class_count> policy_in_effect{};
  /// Session snapshots that could not be written (dropped).
  uint64_t sessions_dropped = 0;
  /// `SCRIPT LOAD`s sent (at every connect, and after a NOSCRIPT reply).
  uint64_t script_loads = 0;
  /// Slots this process holds now, and how many of them only locally (granted by the fallback
  /// and not yet registered in Redis).
  uint64_t slots_held = 0;
  uint64_t slots_local = 0;
  /// Slot releases that failed and wait for the next connect to be sent again.
  uint64_t releases_deferred = 0;
  /// The client's counters.
  redis_client_stats redis;
};

/// Hot state in Redis for the call path: session snapshots, concurrency caps, counters,
/// token-bucket rate limits, dedup keys and leases, each with the failure policy of its
/// `key_class` applied when Redis is unavailable, times out or answers an error.
///
/// Owned by the daemon (one per process); it owns its `redis_client` on a strand of the given
/// `io_context`. Every function may be called from any thread and returns at once; the handler
/// runs later on the client's strand (never inside the call). Operations with a policy never
/// fail: the handler gets a decision whose `source` says whether the policy answered. Sessions
/// are best-effort: their handlers get the error. Slots are sorted sets of call UUIDs scored by
/// expiry, so a crashed daemon's slots expire; the slots this process holds are registered in
/// Redis again after every reconnect (a restarted, empty Redis counts them again).
///
/// ```cpp
/// hot_state_options options;
/// options.redis.port = 6379;
/// hot_state hot{io, options};
/// hot.start();
/// hot.acquire_slot("trunk", "carrier-a", call_uuid, 100, [](slot_decision d) {
///   if (!d.acquired) reject_call();   // d.source says whether Redis or the fallback decided
/// });
/// hot.release_slot("trunk", "carrier-a", call_uuid);   // at hangup, however the call ended
/// ```
class hot_state {
public:
  /// Prepares the state and its client; nothing connects before `start()`. Never fails.
  hot_state(boost::asio::io_context& io, hot_state_options options);

  /// Stops the client; pending handlers still run (with the policy's answer). Never fails.
  ~hot_state();

  hot_state(const hot_state&) = delete;
  hot_state& operator=(const hot_state&) = delete;

  /// Connects (asynchronously) and loads the Lua scripts once connected. Never fails.
  void start();

  /// Disconnects; later operations get their policy's answer. Never fails.
  void stop();

  // -- sessions (best-effort) ----------------------------------------------------------------

  /// Stores `value` as the snapshot of session `id` for `ttl` (`SET PX`). The handler gets no
  /// error, or the failure (the snapshot is dropped and counted).
  void save_session(const std::string& id, std::string value, std::chrono::milliseconds ttl,
                    std::function<void(caf::error)> handler = {});

  /// Reads the snapshot of session `id`: its value, nothing when absent, or the failure.
  void load_session(const std::string& id,
                    std::function<void(caf::expected<std::optional<std::string>>)> handler);

  /// Deletes the snapshot of session `id`. The handler gets no error, or the failure.
  void drop_session(const std::string& id, std::function<void(caf::error)> handler = {});

  // -- concurrency caps (local fallback) -----------------------------------------------------

  /// Takes a slot of (`group`, `key`) (e.g. "trunk", "carrier-a") for `call_uuid` if fewer than
  /// `cap` are in use; a call that holds one already keeps it (and refreshes its expiry).
  void acquire_slot(const std::string& group, const std::string& key,
                    const std::string& call_uuid, int64_t cap,
                    std::function<void(slot_decision)> handler);

  /// Gives the slot of `call_uuid` back; call it however the call ended. When Redis cannot be
  /// reached the release is sent again after the next connect (and the slot expires anyway).
  /// The handler (optional) gets no error, or the failure.
  void release_slot(const std::string& group, const std::string& key,
                    const std::string& call_uuid, std::function<void(caf::error)> handler = {});

  /// Slots of (`group`, `key`) in use in Redis (expired ones not counted), or the failure.
  void slots_in_use(const std::string& group, const std::string& key,
                    std::function<void(caf::expected<int64_t>)> handler);

  // -- counters and rate limits (local fallback) ---------------------------------------------

  /// Adds `by` to counter `name`, which expires `ttl` after its first increment.
  void increment(const std::string& name, int64_t by, std::chrono::milliseconds ttl,
                 std::function<void(counter_value)> handler);

  /// Takes one token of the bucket `name` that refills at `rate_per_s` tokens per second up to
  /// `burst` (one Lua script, server time).
  void take_token(const std::string& name, double rate_per_s, int64_t burst,
                  std::function<void(rate_decision)> handler);

  // -- dedup and leases (fail closed) --------------------------------------------------------

  /// Claims `key` for `ttl` if nobody has (`SET NX PX`): granted only to the first claimer.
  void claim_once(const std::string& key, std::chrono::milliseconds ttl,
                  std::function<void(claim_decision)> handler);

  /// Takes lease `name` for `owner` for `ttl`, or extends it when `owner` holds it already.
  void acquire_lease(const std::string& name, const std::string& owner,
                     std::chrono::milliseconds ttl, std::function<void(claim_decision)> handler);

  /// Extends lease `name` to `ttl` from now, only if `owner` still holds it; not granted means
  /// the lease is lost (or Redis cannot confirm it): stop the work it guards.
  void renew_lease(const std::string& name, const std::string& owner,
                   std::chrono::milliseconds ttl, std::function<void(claim_decision)> handler);

  /// Gives lease `name` back, only if `owner` still holds it.
  void release_lease(const std::string& name, const std::string& owner,
                     std::function<void(claim_decision)> handler = {});

  /// Returns the counters (thread-safe snapshot). Never fails.
  [[nodiscard]] hot_state_stats stats() const;

  /// The client underneath, for raw commands and its counters.
  [[nodiscard]] redis_client& client() noexcept;

  /// The shared state behind the handle (defined in hot_state.cpp; named here only so that
  /// helpers there can refer to it).
  struct state;

private:
  std::shared_ptr<state> state_;
};

} // namespace callgrid::persistence
