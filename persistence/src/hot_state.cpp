#include "persistence/hot_state.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include "internal/redis_scripts.hpp"

namespace callgrid::persistence {

using internal::redis_script;
using clock_type = std::chrono::steady_clock;

const char* to_string(key_class cls) noexcept {
  switch (cls) {
    case key_class::session: return "session";
    case key_class::concurrency: return "concurrency";
    case key_class::counter: return "counter";
    case key_class::rate_limit: return "rate_limit";
    case key_class::dedup: return "dedup";
    case key_class::lease: return "lease";
  }
  return "unknown";
}

const char* to_string(failure_policy policy) noexcept {
  switch (policy) {
    case failure_policy::best_effort: return "best_effort";
    case failure_policy::local_fallback: return "local_fallback";
    case failure_policy::fail_closed: return "fail_closed";
  }
  return "unknown";
}

failure_policy policy_of(key_class cls) noexcept {
  switch (cls) {
    case key_class::session: return failure_policy::best_effort;
    case key_class::concurrency:
    case key_class::counter:
    case key_class::rate_limit: return failure_policy::local_fallback;
    case key_class::dedup:
    case key_class::lease: return failure_policy::fail_closed;
  }
  return failure_policy::fail_closed;
}

const char* to_string(answer_source source) noexcept {
  switch (source) {
    case answer_source::redis: return "redis";
    case answer_source::local_fallback: return "local_fallback";
    case answer_source::fail_closed: return "fail_closed";
  }
  return "unknown";
}

namespace {

/// The error of a reply that is a Redis error or not of the expected shape.
caf::error reply_error(const caf::expected<redis_reply>& r, const char* what) {
  if (!r)
    return r.error();
  if (r->is_error())
    return caf::make_error(redis_errc::redis_error_reply, std::string{what} + ": " + r->text);
  return caf::make_error(redis_errc::redis_unexpected_reply,
                         std::string{what} + ": unexpected reply " + to_string(*r));
}

/// {a, b} of two integers, as the slot and bucket scripts answer.
std::optional<std::pair<int64_t, int64_t>> integer_pair(const caf::expected<redis_reply>& r) {
  if (!r || r->type != redis_reply_type::array || r->elements.size() != 2)
    return std::nullopt;
  auto a = r->elements[0].as_integer();
  auto b = r->elements[1].as_integer();
  if (!a || !b)
    return std::nullopt;
  return std::pair{*a, *b};
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(std::max<int64_t>(1, d.count()));
}

} // namespace

/// Shared by the hot state and the handlers in flight. The local fallback state is guarded by
/// `mutex` (operations start on any thread, answers arrive on the strand).
struct hot_state::state : std::enable_shared_from_this<state> {
  struct local_bucket {
    double tokens = 0;
    clock_type::time_point stamp;
  };

  explicit state(hot_state_options opts) : options(std::move(opts)) {
  }

  std::string key(const char* kind, const std::string& name) const {
    std::string k = options.key_prefix;
    k += kind;
    k += ':';
    k += name;
    return k;
  }

  std::string slot_key(const std::string& group, const std::string& name) const {
    return key("slots", group + ":" + name);
  }

  void count_policy(key_class cls) {
    policy_in_effect[static_cast<std::size_t>(cls)].fetch_add(1, std::memory_order_relaxed);
  }

  int64_t local_cap(double limit) const {
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(limit * options.local_share)));
  }

  /// Runs script `s` with EVALSHA; loads it first when its digest is not known yet, and loads
  /// it again (once) after a NOSCRIPT reply, e.g. after SCRIPT FLUSH or a Redis restart.
  void eval(redis_script s, std::vector<std::string> keys_and_args, std::size_t key_count,
            redis_reply_handler handler, bool retried = false) {
    std::string sha;
    {
      std::lock_guard guard{mutex};
      sha = shas[static_cast<std::size_t>(s)];
    }
    if (sha.empty()) {
      load_then_eval(s, std::move(keys_and_args), key_count, std::move(handler));
      return;
    }
    std::vector<std::string> args;
    args.reserve(keys_and_args.size() + 3);
    args.emplace_back("EVALSHA");
    args.push_back(std::move(sha));
    args.push_back(std::to_string(key_count));
    for (auto& a : keys_and_args)
      args.push_back(a);
    client->command(std::move(args), [self = shared_from_this(), s, key_count, retried,
                                      keys_and_args = std::move(keys_and_args),
                                      handler = std::move(handler)](auto r) mutable {
      if (r && r->is_error() && r->text.rfind("NOSCRIPT", 0) == 0 && !retried) {
        {
          std::lock_guard guard{self->mutex};
          self->shas[static_cast<std::size_t>(s)].clear();
        }
        self->load_then_eval(s, std::move(keys_and_args), key_count, std::move(handler));
        return;
      }
      handler(std::move(r));
    });
  }

  void load_then_eval(redis_script s, std::vector<std::string> keys_and_args,
                      std::size_t key_count, redis_reply_handler handler) {
    load_script(s, [self = shared_from_this(), s, key_count,
                    keys_and_args = std::move(keys_and_args),
                    handler = std::move(handler)](caf::expected<redis_reply> r) mutable {
      if (!r || r->type != redis_reply_type::string) {
        handler(std::move(r));
        return;
      }
      self->eval(s, std::move(keys_and_args), key_count, std::move(handler), true);
    });
  }

  void load_script(redis_script s, redis_reply_handler then) {
    script_loads.fetch_add(1, std::memory_order_relaxed);
    client->command({"SCRIPT", "LOAD", internal::redis_scripts[static_cast<std::size_t>(s)]},
                    [self = shared_from_this(), s, then = std::move(then)](auto r) {
                      if (r && r->type == redis_reply_type::string) {
                        std::lock_guard guard{self->mutex};
                        self->shas[static_cast<std::size_t>(s)] = r->text;
                      }
                      if (then)
                        then(std::move(r));
                    });
  }

  /// After every connect: load the scripts, send the releases that failed, and register the
  /// slots this process holds again (Redis may have restarted empty).
  void on_connect() {
    for (std::size_t i = 0; i < internal::redis_script_count; ++i)
      load_script(static_cast<redis_script>(i), {});
    std::vector<std::pair<std::string, std::string>> releases;
    std::vector<std::pair<std::string, std::string>> held;
    {
      std::lock_guard guard{mutex};
      releases.assign(deferred_releases.begin(), deferred_releases.end());
      deferred_releases.clear();
      for (const auto& [zkey, members] : slots)
        for (const auto& [uuid, local] : members)
          held.emplace_back(zkey, uuid);
    }
    for (auto& [zkey, uuid] : releases)
      send_release(zkey, uuid, {});
    for (auto& slot : held) {
      // Named copies: clang 14 cannot capture structured bindings.
      auto zkey = slot.first;
      auto uuid = slot.second;
      eval(redis_script::slot_acquire, {zkey, uuid, "0", ms(options.slot_ttl), "1"}, 1,
           [self = shared_from_this(), zkey, uuid](auto r) {
             if (auto pair = integer_pair(r); pair && pair->first == 1) {
               std::lock_guard guard{self->mutex};
               auto i = self->slots.find(zkey);
               if (i != self->slots.end()) {
                 auto j = i->second.find(uuid);
                 if (j != i->second.end())
                   j->second = false;
               }
             }
           });
    }
  }

  void send_release(const std::string& zkey, const std::string& uuid,
                    std::function<void(caf::error)> handler) {
    client->command({"ZREM", zkey, uuid}, [self = shared_from_this(), zkey, uuid,
                                           handler = std::move(handler)](auto r) {
      caf::error err;
      if (!r || r->type != redis_reply_type::integer) {
        err = reply_error(r, "ZREM");
        std::lock_guard guard{self->mutex};
        self->deferred_releases.emplace(zkey, uuid);
      }
      if (handler)
        handler(std::move(err));
    });
  }

  hot_state_options options;
  std::unique_ptr<redis_client> client;

  mutable std::mutex mutex;
  std::array<std::string, internal::redis_script_count> shas;
  /// Slot key -> call UUID -> whether the slot is only local (granted by the fallback).
  std::map<std::string, std::map<std::string, bool>> slots;
  std::set<std::pair<std::string, std::string>> deferred_releases;
  std::map<std::string, int64_t> local_counters;
  std::map<std::string, local_bucket> local_buckets;

  std::array<std::atomic<uint64_t>, key_class_count> policy_in_effect{};
  std::atomic<uint64_t> sessions_dropped{0};
  std::atomic<uint64_t> script_loads{0};
};

hot_state::hot_state(boost::asio::io_context& io, hot_state_options options)
  : state_(std::make_shared<state>(std::move(options))) {
  auto client_options = state_->options.redis;
  client_options.on_connect = [weak = std::weak_ptr<state>{state_}] {
    if (auto self = weak.lock())
      self->on_connect();
  };
  state_->client = std::make_unique<redis_client>(io, std::move(client_options));
}

hot_state::~hot_state() {
  state_->client->stop();
}

void hot_state::start() {
  state_->client->start();
}

void hot_state::stop() {
  state_->client->stop();
}

redis_client& hot_state::client() noexcept {
  return *state_->client;
}

// -- sessions -------------------------------------------------------------------------------

void hot_state::save_session(const std::string& id, std::string value,
                             std::chrono::milliseconds ttl,
                             std::function<void(caf::error)> handler) {
  auto& s = *state_;
  s.client->command({"SET", s.key("sess", id), std::move(value), "PX", ms(ttl)},
                    [self = state_, handler = std::move(handler)](auto r) {
                      caf::error err;
                      if (!r || !r->is_ok()) {
                        err = reply_error(r, "SET session");
                        self->count_policy(key_class::session);
                        self->sessions_dropped.fetch_add(1, std::memory_order_relaxed);
                      }
                      if (handler)
                        handler(std::move(err));
                    });
}

void hot_state::load_session(
  const std::string& id,
  std::function<void(caf::expected<std::optional<std::string>>)> handler) {
  state_->client->command({"GET", state_->key("sess", id)},
                          [self = state_, handler = std::move(handler)](auto r) {
                            if (r && r->is_nil()) {
                              handler(std::optional<std::string>{});
                            } else if (r && r->type == redis_reply_type::string) {
                              handler(std::optional<std::string>{std::move(r->text)});
                            } else {
                              self->count_policy(key_class::session);
                              handler(reply_error(r, "GET session"));
                            }
                          });
}

void hot_state::drop_session(const std::string& id, std::function<void(caf::error)> handler) {
  state_->client->command({"DEL", state_->key("sess", id)},
                          [self = state_, handler = std::move(handler)](auto r) {
                            caf::error err;
                            if (!r || r->type != redis_reply_type::integer) {
                              err = reply_error(r, "DEL session");
                              self->count_policy(key_class::session);
                            }
                            if (handler)
                              handler(std::move(err));
                          });
}

// -- concurrency caps -----------------------------------------------------------------------

void hot_state::acquire_slot(const std::string& group, const std::string& key,
                             const std::string& call_uuid, int64_t cap,
                             std::function<void(slot_decision)> handler) {
  auto zkey = state_->slot_key(group, key);
  state_->eval(
    redis_script::slot_acquire,
    {zkey, call_uuid, std::to_string(cap), ms(state_->options.slot_ttl), "0"}, 1,
    [self = state_, zkey, call_uuid, cap, handler = std::move(handler)](auto r) {
      slot_decision d;
      if (auto pair = integer_pair(r)) {
        d.acquired = pair->first == 1;
        d.in_use = pair->second;
        if (d.acquired) {
          std::lock_guard guard{self->mutex};
          self->slots[zkey][call_uuid] = false;
        }
        handler(d);
        return;
      }
      // Fail open to a local limit: this process may hold a share of the cap on its own.
      self->count_policy(key_class::concurrency);
      d.source = answer_source::local_fallback;
      {
        std::lock_guard guard{self->mutex};
        auto& members = self->slots[zkey];
        if (members.count(call_uuid) > 0) {
          d.acquired = true;
        } else if (static_cast<int64_t>(members.size())
                   < self->local_cap(static_cast<double>(cap))) {
          members.emplace(call_uuid, true);
          d.acquired = true;
        }
        d.in_use = static_cast<int64_t>(members.size());
        if (members.empty())
          self->slots.erase(zkey);
      }
      handler(d);
    });
}

void hot_state::release_slot(const std::string& group, const std::string& key,
                             const std::string& call_uuid,
                             std::function<void(caf::error)> handler) {
  auto zkey = state_->slot_key(group, key);
  {
    std::lock_guard guard{state_->mutex};
    auto i = state_->slots.find(zkey);
    if (i != state_->slots.end()) {
      i->second.erase(call_uuid);
      if (i->second.empty())
        state_->slots.erase(i);
    }
  }
  state_->send_release(zkey, call_uuid, std::move(handler));
}

void hot_state::slots_in_use(const std::string& group, const std::string& key,
                             std::function<void(caf::expected<int64_t>)> handler) {
  state_->eval(redis_script::slot_count, {state_->slot_key(group, key)}, 1,
               [handler = std::move(handler)](auto r) {
                 if (r && r->type == redis_reply_type::integer)
                   handler(r->integer);
                 else
                   handler(reply_error(r, "slot count"));
               });
}

// -- counters and rate limits ---------------------------------------------------------------

void hot_state::increment(const std::string& name, int64_t by, std::chrono::milliseconds ttl,
                          std::function<void(counter_value)> handler) {
  auto ckey = state_->key("cnt", name);
  state_->eval(redis_script::counter_add, {ckey, std::to_string(by), ms(ttl)}, 1,
               [self = state_, ckey, by, handler = std::move(handler)](auto r) {
                 if (r && r->type == redis_reply_type::integer) {
                   handler(counter_value{r->integer, answer_source::redis});
                   return;
                 }
                 self->count_policy(key_class::counter);
                 int64_t value = 0;
                 {
                   std::lock_guard guard{self->mutex};
                   value = self->local_counters[ckey] += by;
                 }
                 handler(counter_value{value, answer_source::local_fallback});
               });
}

void hot_state::take_token(const std::string& name, double rate_per_s, int64_t burst,
                           std::function<void(rate_decision)> handler) {
  auto bkey = state_->key("rl", name);
  state_->eval(
    redis_script::token_bucket, {bkey, std::to_string(rate_per_s), std::to_string(burst), "1"}, 1,
    [self = state_, bkey, rate_per_s, burst, handler = std::move(handler)](auto r) {
      if (auto pair = integer_pair(r)) {
        handler(rate_decision{pair->first == 1, pair->second, answer_source::redis});
        return;
      }
      // Fail open to a local bucket refilling at this process's share of the rate.
      self->count_policy(key_class::rate_limit);
      rate_decision d;
      d.source = answer_source::local_fallback;
      auto local_burst = static_cast<double>(self->local_cap(static_cast<double>(burst)));
      auto local_rate = rate_per_s * self->options.local_share;
      auto now = clock_type::now();
      {
        std::lock_guard guard{self->mutex};
        auto [i, fresh] = self->local_buckets.try_emplace(bkey);
        auto& b = i->second;
        if (fresh) {
          b.tokens = local_burst;
        } else {
          std::chrono::duration<double> elapsed = now - b.stamp;
          b.tokens = std::min(local_burst, b.tokens + elapsed.count() * local_rate);
        }
        b.stamp = now;
        if (b.tokens >= 1.0) {
          b.tokens -= 1.0;
          d.allowed = true;
        }
        d.tokens_left = static_cast<int64_t>(b.tokens);
      }
      handler(d);
    });
}

// -- dedup and leases -----------------------------------------------------------------------

void hot_state::claim_once(const std::string& key, std::chrono::milliseconds ttl,
                           std::function<void(claim_decision)> handler) {
  state_->client->command({"SET", state_->key("dedup", key), "1", "NX", "PX", ms(ttl)},
                          [self = state_, handler = std::move(handler)](auto r) {
                            if (r && (r->is_ok() || r->is_nil())) {
                              handler(claim_decision{r->is_ok(), answer_source::redis});
                              return;
                            }
                            self->count_policy(key_class::dedup);
                            handler(claim_decision{false, answer_source::fail_closed});
                          });
}

namespace {

/// The handler of the lease scripts: 1 granted, 0 not; anything else fails closed.
redis_reply_handler lease_answer(std::shared_ptr<hot_state::state> self,
                                 std::function<void(claim_decision)> handler);

} // namespace

void hot_state::acquire_lease(const std::string& name, const std::string& owner,
                              std::chrono::milliseconds ttl,
                              std::function<void(claim_decision)> handler) {
  state_->eval(redis_script::lease_acquire, {state_->key("lease", name), owner, ms(ttl)}, 1,
               lease_answer(state_, std::move(handler)));
}

void hot_state::renew_lease(const std::string& name, const std::string& owner,
                            std::chrono::milliseconds ttl,
                            std::function<void(claim_decision)> handler) {
  state_->eval(redis_script::lease_renew, {state_->key("lease", name), owner, ms(ttl)}, 1,
               lease_answer(state_, std::move(handler)));
}

void hot_state::release_lease(const std::string& name, const std::string& owner,
                              std::function<void(claim_decision)> handler) {
  state_->eval(redis_script::lease_release, {state_->key("lease", name), owner}, 1,
               lease_answer(state_, std::move(handler)));
}

namespace {

redis_reply_handler lease_answer(std::shared_ptr<hot_state::state> self,
                                 std::function<void(claim_decision)> handler) {
  return [self = std::move(self), handler = std::move(handler)](caf::expected<redis_reply> r) {
    if (r && r->type == redis_reply_type::integer) {
      if (handler)
        handler(claim_decision{r->integer == 1, answer_source::redis});
      return;
    }
    self->count_policy(key_class::lease);
    if (handler)
      handler(claim_decision{false, answer_source::fail_closed});
  };
}

} // namespace

hot_state_stats hot_state::stats() const {
  hot_state_stats out;
  auto& s = *state_;
  for (std::size_t i = 0; i < key_class_count; ++i)
    out.policy_in_effect[i] = s.policy_in_effect[i].load(std::memory_order_relaxed);
  out.sessions_dropped = s.sessions_dropped.load(std::memory_order_relaxed);
  out.script_loads = s.script_loads.load(std::memory_order_relaxed);
  {
    std::lock_guard guard{s.mutex};
    for (const auto& [zkey, members] : s.slots) {
      out.slots_held += members.size();
      for (const auto& [uuid, local] : members)
        out.slots_local += local ? 1 : 0;
    }
    out.releases_deferred = s.deferred_releases.size();
  }
  out.redis = s.client->stats();
  return out;
}

} // namespace callgrid::persistence
