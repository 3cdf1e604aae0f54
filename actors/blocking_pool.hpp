#pragma once

// Blocking work (ODBC, password hashing, file I/O) runs here, on detached
// actors that own a thread each, never on the CAF scheduler or Asio threads.
// A dispatcher actor hands each job to an idle worker and queues the rest.

#include "actors/messages.hpp"
#include "actors/supervisor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace sb::actors {

/// A child spec for a pool of `workers` threads that queues at most
/// `max_queue` jobs (more are refused as overloaded). The pool registers
/// itself in the actor registry under `registry_name` while it runs.
child_spec blocking_pool_child(std::string name, caf::atom_value registry_name, size_t workers,
                               size_t max_queue);

/// Why a blocking job produced no value.
enum class blocking_failure { none, overloaded, timeout, unavailable, threw };

/// The outcome of run_blocking: a value, or the failure and its message.
template <class T>
struct blocking_outcome {
  std::optional<T> value;
  blocking_failure failure = blocking_failure::none;
  std::string message;
};

/// Classifies the error a pool request ended with.
blocking_failure classify(const caf::error& err, std::string& message);

/// Runs `work()` (returning T) on `pool` and calls `done(blocking_outcome<T>)`
/// back on `self`. With `ordered`, `self` handles no other message until the
/// job is done, so requests of one actor keep their order.
template <class T, class Self, class Work, class Done>
void run_blocking(Self* self, const caf::actor& pool, std::chrono::milliseconds timeout,
                  bool ordered, Work work, Done done) {
  auto out = std::make_shared<std::optional<T>>();
  blocking_job job{[out, work = std::move(work)]() mutable { out->emplace(work()); }};
  auto on_value = [out, done](bool) mutable {
    blocking_outcome<T> result;
    result.value = std::move(*out);
    done(std::move(result));
  };
  auto on_error = [done](caf::error& err) mutable {
    blocking_outcome<T> result;
    result.failure = classify(err, result.message);
    done(std::move(result));
  };
  if (!pool) {
    blocking_outcome<T> result;
    result.failure = blocking_failure::unavailable;
    result.message = "worker pool is restarting";
    done(std::move(result));
    return;
  }
  auto handle = self->request(pool, timeout, std::move(job));
  if (ordered) {
    std::move(handle).await(std::move(on_value), std::move(on_error));
  } else {
    std::move(handle).then(std::move(on_value), std::move(on_error));
  }
}

}  // namespace sb::actors
