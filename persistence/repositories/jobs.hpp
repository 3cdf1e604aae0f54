#pragma once

// The durable job queue's storage: peek-lock delivery (Azure Service Bus) with
// Oban/River-style retries, a dead-letter state and producer idempotency keys.
//
// Life of a job: enqueue -> available -> claim -> running -> complete
// (completed), fail (back to available with a backoff, or dead), cancel
// (cancelled), or the lease runs out and rescue_expired puts it back. A dead
// job stays until replay or remove_dead. There is no 'scheduled' state in the
// table: a job is scheduled while it is available and its run_at is ahead;
// counts reports those as "scheduled".
//
// Delivery is at least once. Only the current lease owner may renew,
// complete or fail a running job; once a job was rescued or cancelled its old
// owner's calls answer false (fencing). Owners must therefore be unique per
// worker (node id plus a worker uuid), never reused across processes. The
// lease deadline itself only matters to rescue_expired: an owner whose lease
// ran out but that nobody rescued yet may still renew or complete.
//
// Every function takes `now` (Unix ms) from the caller, so clocks are
// injected. Functions that need several statements join the caller's open
// transaction or, without one, run their own; claim is the exception.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::persistence::jobs {

/// Where a job is in its life; stored as its lowercase name.
enum class job_state { available, running, completed, dead, cancelled };

/// Names a state ("available", ...).
const char* to_string(job_state s);

/// The state as producers see it: queued, running, succeeded, failed
/// (dead), cancelled. A job that failed and waits to retry is queued.
const char* public_status(job_state s);

/// Attempts a job gets unless its producer says otherwise (Service Bus' default).
constexpr int64_t default_max_attempts = 10;

/// Longest retry delay before jitter unless the caller sets another cap.
constexpr int64_t default_backoff_cap_ms = 3'600'000;

/// dead_reason of a job whose last attempt failed.
constexpr std::string_view max_attempts_exceeded = "MaxAttemptsExceeded";

/// dead_reason of a job whose last attempt's lease expired.
constexpr std::string_view lease_expired_exhausted = "LeaseExpiredExhausted";

/// dead_reason of a job whose handler said that retrying cannot help.
constexpr std::string_view handler_gave_up = "HandlerGaveUp";

/// What a producer hands to enqueue.
struct new_job {
  std::string id;  ///< Time-ordered, like every id of the product.
  opt_text workspace_id;
  std::string kind;
  std::string payload;   ///< JSON text, opaque here.
  int64_t priority = 0;  ///< Lower runs first.
  int64_t run_at = 0;    ///< Not before this (Unix ms); 0 means now.
  int64_t max_attempts = default_max_attempts;
  /// Unique per kind while a job with it is not dead or cancelled; a
  /// duplicate enqueue returns the existing job's id.
  opt_text idempotency_key;
};

/// A stored job.
struct job_record {
  std::string id;
  opt_text workspace_id;
  std::string kind;
  std::string payload;
  job_state state = job_state::available;
  int64_t priority = 0;
  int64_t run_at = 0;
  int64_t attempt = 0;  ///< Attempts started so far; claim adds one.
  int64_t max_attempts = default_max_attempts;
  opt_text lease_owner;                     ///< The owner of the running attempt, or the last one.
  std::optional<int64_t> lease_expires_at;  ///< Only while running.
  opt_text idempotency_key;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> completed_at;
  opt_text last_error;
  opt_text dead_reason;
  std::optional<int64_t> progress_done;   ///< Units done, as the handler last reported.
  std::optional<int64_t> progress_total;  ///< Units in all; 0 when unknown.
  opt_text result;                        ///< JSON text stored on completion.
};

/// One recorded failure of a job.
struct job_error {
  int64_t attempt = 0;
  int64_t at = 0;
  std::string error;
};

/// A job with its failures, oldest first.
struct job_details {
  job_record job;
  std::vector<job_error> errors;
};

/// What fail did with the job.
enum class fail_outcome {
  retrying,    ///< Back to available at a later run_at.
  dead,        ///< Out of attempts: dead with MaxAttemptsExceeded.
  lease_lost,  ///< The caller no longer owned the job; nothing changed.
};

/// How many jobs of one kind are in one state. `state` is a job_state name,
/// or "scheduled" for available jobs whose run_at is after `now`.
struct state_count {
  std::string kind;
  std::string state;
  int64_t count = 0;
  int64_t oldest_run_at = 0;  ///< Smallest run_at among them.
};

/// The queue at a glance.
struct queue_counts {
  std::vector<state_count> by_kind_state;  ///< Ordered by kind, then state.
  /// How long the oldest due, unclaimed job has waited past its run_at; 0 if none.
  int64_t oldest_waiting_age_ms = 0;
};

/// Retry delay after the failed attempt `attempt` (1 for the first), Oban's
/// formula: min(cap, 15 s + 2^attempt s) * (1 + 0.1 u), with u in [0, 1).
int64_t backoff_ms(int64_t attempt, double u, int64_t cap_ms = default_backoff_cap_ms);

/// Stores a job and returns its id; with an idempotency key already held by a
/// live job of the same kind, stores nothing and returns that job's id. Runs
/// inside the caller's transaction when one is open (transactional enqueue).
db_result<std::string> enqueue(connection& conn, const new_job& job, int64_t now);

/// Claims up to `limit` due jobs of `kinds` for `owner`: marks them running,
/// adds one attempt and sets a lease until now + lease_ms; returns them by
/// priority, run_at, id. Runs its own short transaction, so it must not be
/// called inside one (invalid): a claim held open would block other workers.
db_result<std::vector<job_record>> claim(connection& conn, std::string_view owner,
                                         const std::vector<std::string>& kinds, int64_t limit,
                                         int64_t lease_ms, int64_t now);

/// Extends the lease of a job `owner` still holds to now + lease_ms; false if
/// the lease was lost (rescued, cancelled, finished).
db_result<bool> renew(connection& conn, std::string_view id, std::string_view owner,
                      int64_t lease_ms, int64_t now);

/// Marks a job `owner` still holds completed, storing `result` (JSON text,
/// or empty for none); false if the lease was lost. One statement, so it can
/// commit with the worker's own writes.
db_result<bool> complete(connection& conn, std::string_view id, std::string_view owner, int64_t now,
                         std::string_view result = {});

/// Records the progress of a job `owner` still holds; false if the lease was
/// lost (the job was cancelled or rescued), which tells the worker to stop.
db_result<bool> set_progress(connection& conn, std::string_view id, std::string_view owner,
                             int64_t done, int64_t total, int64_t now);

/// Records `error` for a job `owner` still holds, then retries it after
/// backoff_ms(attempt, u, cap_ms) or, once attempt >= max_attempts, makes it
/// dead. With `final` (retrying cannot help) it is dead at once.
db_result<fail_outcome> fail(connection& conn, std::string_view id, std::string_view owner,
                             std::string_view error, int64_t now, double u,
                             int64_t backoff_cap_ms = default_backoff_cap_ms, bool final = false);

/// Puts running jobs whose lease expired before `now` back to available
/// (dead with LeaseExpiredExhausted when out of attempts), recording an
/// error for each; handles at most `limit` and returns how many.
db_result<int64_t> rescue_expired(connection& conn, int64_t now, int64_t limit = 1000);

/// Cancels an available or running job; false if it was in neither state.
/// A running job's owner then loses its lease: its renew, set_progress,
/// complete and fail answer false from then on.
db_result<bool> cancel(connection& conn, std::string_view id, int64_t now);

/// Makes a dead job available now with its attempts reset and, when given, a
/// new max_attempts; false if the job is not dead. A conflict error when a
/// live job of the same kind took its idempotency key meanwhile.
db_result<bool> replay(connection& conn, std::string_view id, int64_t now,
                       std::optional<int64_t> max_attempts = std::nullopt);

/// Counts jobs by kind and state, and the oldest due job's wait.
db_result<queue_counts> counts(connection& conn, int64_t now);

/// Lists dead jobs newest first, of one kind unless `kind` is empty.
db_result<std::vector<job_record>> list_dead(connection& conn, std::string_view kind,
                                             const page& p);

/// Lists a workspace's jobs of `kind` newest first (any kind when empty).
db_result<std::vector<job_record>> list_for_workspace(connection& conn,
                                                      std::string_view workspace_id,
                                                      std::string_view kind, const page& p);

/// Finds one job with its error history.
db_result<std::optional<job_details>> get(connection& conn, std::string_view id);

/// Deletes a dead job and its errors; false if it is not dead.
db_result<bool> remove_dead(connection& conn, std::string_view id);

/// Deletes up to `limit` completed or cancelled jobs that finished before
/// `finished_before`, oldest first, with what hangs off them (errors, stored
/// results). Dead jobs stay for ops. Returns how many went.
db_result<int64_t> purge_finished(connection& conn, int64_t finished_before, int64_t limit = 1000);

}  // namespace sb::persistence::jobs
