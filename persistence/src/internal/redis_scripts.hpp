#pragma once

#include <array>
#include <cstddef>

namespace callgrid::persistence::internal {

/// The Lua scripts of the hot state. Each is loaded once per connection with SCRIPT LOAD and run
/// with EVALSHA (reloaded after a NOSCRIPT reply). Times come from the server's clock (TIME), so
/// daemons with skewed clocks agree on expiries.
enum class redis_script : std::size_t {
  slot_acquire,
  slot_count,
  counter_add,
  token_bucket,
  lease_acquire,
  lease_renew,
  lease_release,
};

inline constexpr std::size_t redis_script_count = 7;

/// KEYS[1] sorted set of call UUIDs scored by expiry (ms); ARGV: uuid, cap, ttl_ms, force.
/// Drops expired members; a held slot is refreshed; force (re-registration after a reconnect)
/// adds the member even above the cap. Returns {acquired 0|1, members after}.
inline constexpr const char* slot_acquire_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if not held and ARGV[4] ~= '1' and n >= tonumber(ARGV[2]) then
  return {0, n}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
if not held then n = n + 1 end
return {1, n}
)lua";

/// KEYS[1] slot sorted set. Drops expired members and returns how many are left.
inline constexpr const char* slot_count_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
)lua";

/// KEYS[1] counter; ARGV: by, ttl_ms. INCRBY, and an expiry if the key has none yet.
inline constexpr const char* counter_add_lua = R"lua(
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
)lua";

/// KEYS[1] bucket hash {tokens, ts}; ARGV: rate per second, burst, cost. Refills by elapsed
/// server time, takes `cost` tokens if there are enough. Returns {allowed 0|1, whole tokens left}.
inline constexpr const char* token_bucket_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens)}
)lua";

/// KEYS[1] lease; ARGV: owner, ttl_ms. Takes a free lease or extends one the owner holds.
inline constexpr const char* lease_acquire_lua = R"lua(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

/// KEYS[1] lease; ARGV: owner, ttl_ms. Extends it only if the owner still holds it.
inline constexpr const char* lease_renew_lua = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

/// KEYS[1] lease; ARGV: owner. Deletes it only if the owner still holds it.
inline constexpr const char* lease_release_lua = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua";

/// The scripts indexed by `redis_script`.
inline constexpr std::array<const char*, redis_script_count> redis_scripts{
  slot_acquire_lua, slot_count_lua,   counter_add_lua,  token_bucket_lua,
  lease_acquire_lua, lease_renew_lua, lease_release_lua,
};

} // namespace callgrid::persistence::internal
