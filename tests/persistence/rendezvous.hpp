#pragma once

// Lets test threads meet at one point, with a deadline so that a broken test
// fails instead of hanging.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace sb::testing {

/// A meeting point for a fixed number of threads.
class rendezvous {
 public:
  explicit rendezvous(int threads) : missing_(threads) {}

  /// Arrives and waits for the others; false if they did not all come in time.
  bool arrive_and_wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (--missing_ <= 0) {
      cv_.notify_all();
      return true;
    }
    return cv_.wait_for(guard, timeout, [this] { return missing_ <= 0; });
  }

 private:
  std::mutex mtx_;
  std::condition_variable cv_;
  int missing_;
};

}  // namespace sb::testing
