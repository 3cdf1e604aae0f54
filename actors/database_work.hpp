#pragma once

// Database work from an actor: a step that needs a pooled connection runs on
// the db worker pool, and its result comes back to the actor. Every way it
// can fail (no connection, a full queue, a timeout, a throw) arrives as a
// db_error, so callers handle one kind of failure.

#include "actors/api.hpp"
#include "actors/blocking_pool.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/services.hpp"

#include <chrono>
#include <memory>
#include <utility>

namespace sb::actors {

/// Runs `step(connection&)`, which returns db_result<T>, on the db pool and
/// calls `done(db_result<T>)` back on `self`. With `ordered`, `self` handles
/// nothing else meanwhile (see run_blocking).
template <class T, class Self, class Step, class Done>
void run_on_database(Self* self, const std::shared_ptr<services>& svc, bool ordered, Step step,
                     Done done, std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) {
  using result = persistence::db_result<T>;
  auto work = [svc, step = std::move(step)]() -> result {
    auto lease = svc->database->acquire();
    if (!lease) {
      return lease.error();
    }
    return step(**lease);
  };
  auto limit = timeout.count() > 0 ? timeout : svc->db_timeout;
  run_blocking<result>(self, svc->lookup(names::db), limit, ordered, std::move(work),
                       [done = std::move(done)](blocking_outcome<result> out) mutable {
                         if (out.value) {
                           done(std::move(*out.value));
                           return;
                         }
                         using persistence::db_errc;
                         auto code = out.failure == blocking_failure::timeout ? db_errc::timeout
                                     : out.failure == blocking_failure::threw
                                         ? db_errc::internal
                                         : db_errc::unavailable;
                         done(result{persistence::db_error{code, "", out.message}});
                       });
}

/// Runs a step that makes the response itself on the db pool and delivers
/// it; a failure to run the step at all answers with handlers::db_failure.
template <class Self, class Step>
void respond_from_database(Self* self, const std::shared_ptr<services>& svc, reply_handle reply,
                           Step step) {
  run_on_database<api_response>(
      self, svc, false,
      [step = std::move(step)](persistence::connection& conn) {
        return persistence::db_result<api_response>{step(conn)};
      },
      [reply](persistence::db_result<api_response> res) {
        reply.deliver(res ? std::move(*res)
                          : handlers::db_failure(res.error(), reply.request_id()));
      });
}

}  // namespace sb::actors
