#include "persistence/cache/circuit_breaker.hpp"

namespace sb::persistence {

circuit_breaker::circuit_breaker(int failures, std::chrono::milliseconds open_for)
    : threshold_(failures < 1 ? 1 : failures), open_for_(open_for) {}

bool circuit_breaker::allow(clock_type::time_point now) {
  std::lock_guard<std::mutex> lock(mtx_);
  switch (state_) {
    case state::closed:
      return true;
    case state::half_open:
      return false;  // The probe has not reported yet.
    case state::open:
      break;
  }
  if (now < open_until_) {
    return false;
  }
  state_ = state::half_open;
  return true;
}

void circuit_breaker::success() {
  std::lock_guard<std::mutex> lock(mtx_);
  state_ = state::closed;
  failures_ = 0;
}

void circuit_breaker::failure(clock_type::time_point now) {
  std::lock_guard<std::mutex> lock(mtx_);
  // A failed probe reopens at once; a closed circuit tolerates a few.
  if (state_ == state::closed && ++failures_ < threshold_) {
    return;
  }
  if (state_ != state::open) {
    ++openings_;
  }
  state_ = state::open;
  failures_ = 0;
  open_until_ = now + open_for_;
}

circuit_breaker::state circuit_breaker::current() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return state_;
}

uint64_t circuit_breaker::openings() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return openings_;
}

const char* to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed:
      return "closed";
    case circuit_breaker::state::open:
      return "open";
    case circuit_breaker::state::half_open:
      return "half_open";
  }
  return "unknown";
}

}  // namespace sb::persistence
