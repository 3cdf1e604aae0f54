#include "actors/rate_limiter.hpp"

#include "observability/log.hpp"
#include "observability/metrics.hpp"

#include <algorithm>

namespace sb::actors {

namespace {

using clock_type = std::chrono::steady_clock;

// For each key i: add ARGV[1] to KEYS[i]; a new window expires after
// ARGV[i + 1] ms. Returns {count, ms left} per key, flattened.
const std::string count_script =
    "local out = {} "
    "for i = 1, #KEYS do "
    "  local n = redis.call('INCRBY', KEYS[i], ARGV[1]) "
    "  local ttl = redis.call('PTTL', KEYS[i]) "
    "  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[i + 1]) ttl = tonumber(ARGV[i + 1]) end "
    "  out[#out + 1] = n out[#out + 1] = ttl "
    "end return out";

// Local windows are dropped once this many exist, the expired ones first.
constexpr size_t local_capacity = 100000;

rate_decision decide(uint64_t limit, uint64_t count, int64_t ms_left) {
  rate_decision d;
  d.limit = limit;
  d.allowed = count <= limit;
  d.remaining = count >= limit ? 0 : limit - count;
  d.reset_seconds = static_cast<uint64_t>(std::max<int64_t>(1, (ms_left + 999) / 1000));
  return d;
}

// Keeps whichever leaves less room: a refusal, else the fewest remaining.
void tighter(rate_decision& acc, const rate_decision& d, bool first) {
  if (first || (!d.allowed && acc.allowed) ||
      (d.allowed == acc.allowed && d.remaining < acc.remaining)) {
    acc = d;
  }
}

observability::counter& fallbacks() {
  static auto& c = observability::metrics().counter_of(
      "switchboard_rate_limit_local_total",
      "Rate-limit decisions made in process because Redis was unavailable");
  return c;
}

}  // namespace

rate_limiter::rate_limiter(std::shared_ptr<persistence::redis_client> redis, std::string prefix)
    : redis_(std::move(redis)), prefix_(std::move(prefix)) {}

void rate_limiter::count(std::vector<rate_limit> limits, uint64_t weight, callback done) {
  if (limits.empty()) {
    done(rate_decision{});
    return;
  }
  if (!redis_ || !breaker_.allow()) {
    if (redis_) {
      ++local_fallbacks_;
      fallbacks().inc();
    }
    done(count_locally(limits, weight));
    return;
  }

  std::vector<std::string> args{"EVAL", count_script, std::to_string(limits.size())};
  for (const auto& l : limits) {
    args.push_back(prefix_ + l.key);
  }
  args.push_back(std::to_string(weight));
  for (const auto& l : limits) {
    args.push_back(std::to_string(l.window.count()));
  }
  redis_->command(std::move(args), [this, limits = std::move(limits), weight,
                                    done = std::move(done)](persistence::redis_reply r) {
    // Redis unusable: this process decides alone rather than fail the request.
    if (r.is_error() || r.elements().size() != limits.size() * 2) {
      breaker_.failure();
      ++local_fallbacks_;
      fallbacks().inc();
      SB_LOG(actors, debug, {}, "rate limit falls back to the process error={}", r.describe());
      done(count_locally(limits, weight));
      return;
    }
    breaker_.success();
    rate_decision out;
    for (size_t i = 0; i < limits.size(); ++i) {
      auto n = static_cast<uint64_t>(std::max<int64_t>(0, r.elements()[2 * i].as_integer()));
      auto left = r.elements()[2 * i + 1].as_integer();
      tighter(out, decide(limits[i].limit, n, left), i == 0);
    }
    done(out);
  });
}

rate_decision rate_limiter::count_locally(const std::vector<rate_limit>& limits, uint64_t weight) {
  auto now = clock_type::now();
  std::lock_guard<std::mutex> lock(mtx_);
  if (local_.size() > local_capacity) {
    for (auto i = local_.begin(); i != local_.end();) {
      i = i->second.ends <= now ? local_.erase(i) : std::next(i);
    }
  }
  rate_decision out;
  for (size_t i = 0; i < limits.size(); ++i) {
    auto& w = local_[limits[i].key];
    if (w.ends <= now) {
      w.count = 0;
      w.ends = now + limits[i].window;
    }
    w.count += weight;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w.ends - now).count();
    tighter(out, decide(limits[i].limit, w.count, left), i == 0);
  }
  return out;
}

}  // namespace sb::actors
