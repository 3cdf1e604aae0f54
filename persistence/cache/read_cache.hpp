#pragma once

// A read-through cache in front of the database: a bounded in-process LRU
// (L1, short TTL) and, when Redis is configured, a shared Redis level (L2,
// longer TTL with jitter).
//
// Staleness is ruled out with generations rather than timing. Every entry
// depends on tags (its own key, plus scopes such as "the contacts of
// workspace w"); every tag has a generation, bumped by invalidate() after a
// write commits. An entry remembers the generations it was read under and is
// served only while they are unchanged, and a loader's result is stored with
// the generations seen *before* the database read, so a slow reader cannot
// put back a value that a write has meanwhile replaced. In Redis the check
// and the store are one Lua script; other processes hear of invalidations on
// a pub/sub channel and bump their own L1 generations.
//
// Redis is optional and never trusted blindly: failures open a circuit
// breaker (reads then go to the database); while the invalidation channel is
// down both levels are bypassed, since other processes' writes would go
// unheard; a write whose invalidation could not reach Redis bumps a global
// epoch once Redis answers again (every L2 entry written before goes stale)
// and is answered only after every other process must have noticed the
// outage (see fence()). Calls block on Redis for at most the client's command
// timeout: call them from blocking workers only.

#include "persistence/cache/circuit_breaker.hpp"
#include "persistence/redis/client.hpp"
#include "persistence/redis/subscriber.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb::persistence {

/// Settings of a read cache.
struct cache_options {
  bool enabled = true;                           ///< false: every read goes to the loader.
  size_t l1_capacity = 10000;                    ///< Entries kept in process.
  std::chrono::milliseconds l1_ttl{2000};        ///< In-process lifetime of an entry.
  std::chrono::milliseconds l2_ttl{60000};       ///< Redis lifetime, before jitter.
  double l2_jitter = 0.1;                        ///< L2 TTLs vary by up to ± this fraction.
  std::chrono::milliseconds negative_ttl{1000};  ///< Lifetime of a cached "not found".
  std::chrono::milliseconds flight_wait{5000};   ///< A coalesced reader waits this long.
  int breaker_failures = 3;                      ///< Redis failures in a row that open.
  std::chrono::milliseconds breaker_open{1000};  ///< Pause before a probe.
  std::string key_prefix = "sb:cache:";          ///< Of every Redis key and the channel.
  subscriber_options subscriber = {};            ///< Of the invalidation channel.
  /// After the channel (re)connects, the caches stay bypassed this long, so
  /// that every other process has reconnected too and can be heard.
  std::chrono::milliseconds channel_grace{500};
};

/// What a loader found in the database.
struct cache_load {
  /// A value, a definite "not found", or a failure (never cached).
  enum class kind { value, absent, failed };
  kind what = kind::failed;
  std::string data;

  /// A value to cache.
  static cache_load value(std::string x) { return {kind::value, std::move(x)}; }
  /// A "not found" to cache briefly.
  static cache_load absent() { return {kind::absent, {}}; }
  /// A failure: passed on, not cached.
  static cache_load failed() { return {kind::failed, {}}; }
};

/// What a read returns: the value, or that there is none.
struct cache_entry {
  bool present = false;  ///< false: the loader said "not found".
  std::string data;      ///< The value when present.
};

/// Counters of one cache, for tests and /metrics.
struct cache_stats {
  uint64_t l1_hits = 0;
  uint64_t l2_hits = 0;
  uint64_t coalesced = 0;  ///< Readers served by another reader's load.
  uint64_t misses = 0;
  uint64_t loads = 0;     ///< Loader calls.
  uint64_t bypasses = 0;  ///< Reads that skipped a level (disabled, breaker, channel down).
  uint64_t errors = 0;    ///< Redis calls that failed.
};

/// An L1 + optional L2 read cache with tag generations; thread-safe.
class read_cache {
 public:
  /// Loads a value from the database; runs on the calling thread.
  using loader = std::function<cache_load()>;

  /// A cache without Redis (the embedded default): the L1 is the whole cache.
  explicit read_cache(cache_options options);

  /// A cache with Redis as L2; `endpoint` is the same server, for the
  /// invalidation channel's own connection.
  read_cache(cache_options options, std::shared_ptr<redis_client> redis, redis_endpoint endpoint);

  ~read_cache();

  read_cache(const read_cache&) = delete;
  read_cache& operator=(const read_cache&) = delete;

  /// Returns the entry under `key`, loading it on a miss. `kind` names the
  /// cache for metrics ("contacts"); `tags` are the scopes the entry also
  /// depends on (its key always is one). Many concurrent misses on one key
  /// share one load. nullopt when the loader failed.
  std::optional<cache_entry> get(const std::string& kind, const std::string& key,
                                 const std::vector<std::string>& tags, const loader& load);

  /// What peek() hands back: a current first-level entry, or nullopt when the
  /// caller must read through get().
  using peek_handler = std::function<void(std::optional<cache_entry>)>;

  /// Looks `key` (with the same `tags` as get()) up in the first level only,
  /// without blocking and without loading. Without Redis, `done` runs at
  /// once on the calling thread. With Redis it runs, on the Redis client's
  /// thread, once this process has heard every invalidation published before
  /// the call (the same guarantee as get()); never more than about 250 ms
  /// later. A miss is not counted: the get() that follows counts it.
  void peek(const std::string& kind, const std::string& key, const std::vector<std::string>& tags,
            peek_handler done);

  /// Makes every entry that depends on one of `tags` (keys or scopes) stale,
  /// in this process at once and in the others through Redis. Call it after
  /// the write committed and before answering.
  void invalidate(const std::vector<std::string>& tags);

  /// Makes `tags` stale in this process only; never blocks.
  void invalidate_locally(const std::vector<std::string>& tags);

  /// As invalidate(), without blocking: `done` runs once Redis has answered
  /// (on the Redis client's thread), or at once without Redis.
  void invalidate_async(const std::vector<std::string>& tags, std::function<void()> done);

  /// Tells whether the cache is on.
  bool enabled() const { return options_.enabled; }

  /// The counters of `kind` so far.
  cache_stats stats(const std::string& kind) const;

  /// The Redis circuit breaker's state, or "none" without Redis.
  std::string breaker_state() const;

  /// Tells whether the L1 may serve right now (always without Redis).
  bool l1_trusted() const;

 private:
  class impl;
  std::shared_ptr<impl> impl_;
  cache_options options_;
};

}  // namespace sb::persistence
