#pragma once

// A circuit breaker for an optional backend (Redis): after enough failures
// in a row it opens and callers skip the backend; after a pause one probe is
// let through, and its outcome closes or reopens the circuit.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace sb::persistence {

/// Closed, open or half-open, with one probe at a time; thread-safe.
class circuit_breaker {
 public:
  using clock_type = std::chrono::steady_clock;

  /// Where the circuit stands.
  enum class state { closed, open, half_open };

  /// Opens after `failures` failures in a row and stays open for `open_for`.
  circuit_breaker(int failures, std::chrono::milliseconds open_for);

  /// Tells whether a call may go to the backend now. When the pause is over,
  /// the first caller gets true (it is the probe) and the others false until
  /// the probe reports.
  bool allow(clock_type::time_point now = clock_type::now());

  /// Reports a call that worked: closes the circuit.
  void success();

  /// Reports a call that failed (timeout, connection lost): may open the circuit.
  void failure(clock_type::time_point now = clock_type::now());

  /// The current state.
  state current() const;

  /// How many times the circuit opened.
  uint64_t openings() const;

 private:
  const int threshold_;
  const std::chrono::milliseconds open_for_;
  mutable std::mutex mtx_;
  state state_ = state::closed;
  int failures_ = 0;
  uint64_t openings_ = 0;
  clock_type::time_point open_until_{};
};

/// Names a state, e.g. "half_open".
const char* to_string(circuit_breaker::state s);

}  // namespace sb::persistence
