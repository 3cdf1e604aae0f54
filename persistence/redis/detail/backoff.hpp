#pragma once

// Reconnect delays for the Redis client: exponential growth with "equal
// jitter", so that many clients losing one server do not return in lockstep.

#include <algorithm>
#include <chrono>

namespace sb::persistence::detail {

/// The delay before reconnect attempt `attempt` (0 is the first retry): half of
/// min(max, initial * 2^attempt) plus `unit_random` (in [0, 1)) times the other half.
inline std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds initial,
                                               std::chrono::milliseconds max, double unit_random) {
  auto ceiling = initial.count();
  for (int i = 0; i < attempt && ceiling < max.count(); ++i) {
    ceiling *= 2;
  }
  ceiling = std::min<long long>(ceiling, max.count());
  auto half = ceiling / 2;
  auto jitter = static_cast<long long>(unit_random * static_cast<double>(ceiling - half));
  return std::chrono::milliseconds{half + std::clamp<long long>(jitter, 0, ceiling - half)};
}

}  // namespace sb::persistence::detail
