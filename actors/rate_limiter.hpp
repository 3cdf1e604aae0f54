#pragma once

// Request rate limits: fixed windows counted in Redis (one Lua script, so a
// count and its expiry are atomic and shared by every process), or in
// process when Redis is not configured, down, or behind an open circuit.
// Never blocks: a decision arrives through a callback, at once when it is
// made locally and on the Redis client's thread otherwise.

#include "persistence/cache/circuit_breaker.hpp"
#include "persistence/redis/client.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sb::actors {

/// One counter to touch: a key, its limit per window and the window.
struct rate_limit {
  std::string key;  ///< e.g. "user:<token hash>"; the Redis prefix is added.
  uint64_t limit = 0;
  std::chrono::milliseconds window{60000};
};

/// Where one counter stands after a request was counted (or peeked at).
struct rate_decision {
  bool allowed = true;         ///< false: the count went past the limit.
  uint64_t limit = 0;          ///< RateLimit-Limit.
  uint64_t remaining = 0;      ///< RateLimit-Remaining.
  uint64_t reset_seconds = 0;  ///< RateLimit-Reset: seconds until the window ends.
};

/// Counts requests against limits; thread-safe.
class rate_limiter {
 public:
  /// The decision of the most constraining limit touched.
  using callback = std::function<void(rate_decision)>;

  /// Counts in `redis` when given (keys under `prefix`), in process otherwise.
  explicit rate_limiter(std::shared_ptr<persistence::redis_client> redis,
                        std::string prefix = "sb:rl:");

  /// Adds `weight` (1 counts a request, 0 only looks) to every limit and
  /// reports the one with the least room left.
  void count(std::vector<rate_limit> limits, uint64_t weight, callback done);

  /// How many decisions were made in process while Redis was configured.
  uint64_t local_fallbacks() const { return local_fallbacks_.load(); }

 private:
  rate_decision count_locally(const std::vector<rate_limit>& limits, uint64_t weight);

  const std::shared_ptr<persistence::redis_client> redis_;
  const std::string prefix_;
  persistence::circuit_breaker breaker_{3, std::chrono::milliseconds(1000)};
  std::atomic<uint64_t> local_fallbacks_{0};

  struct window {
    uint64_t count = 0;
    std::chrono::steady_clock::time_point ends;
  };
  std::mutex mtx_;
  std::unordered_map<std::string, window> local_;
};

}  // namespace sb::actors
