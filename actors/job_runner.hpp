#pragma once

// Runs the durable job queue: a dispatcher claims due jobs from the database
// and starts one actor per job under the jobs supervisor; each job actor runs
// its handler on a database worker, keeps its lease alive, and completes or
// fails the job.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"
#include "persistence/repositories/jobs.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sb::actors {

/// What a job handler reports: an empty error means the job is done.
struct job_result {
  std::string error;
  /// JSON text stored with the completed job and shown by GET /v1/jobs/{id};
  /// empty for none.
  std::string result;
  /// With an error: retrying cannot help (the input is bad), so the job goes
  /// to the dead-letter queue now instead of after max_attempts.
  bool final = false;
};

/// What one attempt of a job may use. It lives on the database worker that
/// runs the handler; progress and stopping() are safe to call from there.
class job_context {
 public:
  /// Receives progress reports; set by the job actor.
  using progress_fn = std::function<void(int64_t done, int64_t total)>;

  job_context(const persistence::jobs::job_record& job, persistence::connection& conn,
              progress_fn progress, std::shared_ptr<const std::atomic<bool>> stop,
              std::shared_ptr<services> svc = {})
      : job_(job),
        conn_(conn),
        progress_(std::move(progress)),
        stop_(std::move(stop)),
        svc_(std::move(svc)) {}

  /// The job being run, as claimed (attempt and lease_owner are this attempt's).
  const persistence::jobs::job_record& job() const { return job_; }

  /// A connection of the attempt's own; not in a transaction.
  persistence::connection& conn() { return conn_; }

  /// Reports progress: `done` of `total` units (total 0 when unknown). Cheap:
  /// the job actor stores and publishes at most a few reports per second.
  void progress(int64_t done, int64_t total) {
    if (progress_) {
      progress_(done, total);
    }
  }

  /// True once the job was cancelled or its lease was lost: the handler
  /// should stop early; whatever it returns is then discarded.
  bool stopping() const { return stop_ && stop_->load(); }

  /// The process's shared services (the read cache a bulk write must
  /// invalidate); null in tests that run a handler alone.
  const std::shared_ptr<services>& svc() const { return svc_; }

 private:
  const persistence::jobs::job_record& job_;
  persistence::connection& conn_;
  progress_fn progress_;
  std::shared_ptr<const std::atomic<bool>> stop_;
  std::shared_ptr<services> svc_;
};

/// Runs one attempt of a job on a database worker (blocking is fine there).
/// A handler that completes the job itself, in the transaction of its own
/// writes (jobs::complete with the owner ctx.job().lease_owner), returns
/// success too; the runner's later complete is then a harmless no-op.
using job_handler = std::function<job_result(job_context&)>;

/// How a kind of job runs.
struct job_kind_options {
  std::chrono::milliseconds timeout{30000};  ///< An attempt running longer fails.
  /// Attempts of this kind running at once in one process; 0 means only the
  /// process-wide job_concurrency limits it.
  size_t concurrency = 0;
  /// When set, the workspace hears "<prefix>.progress", "<prefix>.completed"
  /// and "<prefix>.failed" events about these jobs over /v1/events.
  std::string event_prefix;
  /// When set, run on a database worker with every sweep for expired leases
  /// (a few seconds apart): removes what this kind keeps outside the jobs
  /// table that no job needs any more (a cancelled import's upload). Returns
  /// how many things it removed.
  using sweep_fn = std::function<persistence::db_result<int64_t>(persistence::connection&)>;
  sweep_fn sweep;
};

/// The job kinds this process runs, with their handlers and options.
class job_kinds {
 public:
  /// Registers `kind`.
  void add(std::string kind, job_handler handler, job_kind_options options = {});

  /// The kinds, for claiming only what this process can run.
  std::vector<std::string> names() const;

  /// The handler of `kind`, or nullptr.
  const job_handler* handler(const std::string& kind) const;

  /// The options of `kind` (defaults for an unknown kind).
  const job_kind_options& options(const std::string& kind) const;

  /// The sweeps of the kinds that have one, by kind.
  std::vector<std::pair<std::string, job_kind_options::sweep_fn>> sweeps() const;

 private:
  struct entry {
    job_handler handler;
    job_kind_options options;
  };
  std::map<std::string, entry> kinds_;
};

/// The kinds every Switchboard runs ("noop", "report" and the import), plus
/// "debug.fail", which always fails, when `debug` is set (tests of retries
/// and dead letters).
std::shared_ptr<const job_kinds> standard_job_kinds(bool debug);

/// How the dispatcher claims.
struct job_runner_options {
  size_t concurrency = 4;                  ///< Jobs running at once in this process.
  std::chrono::milliseconds poll{200};     ///< Between claims when the queue was empty.
  std::chrono::milliseconds lease{30000};  ///< Renewed every third of it while running.
  std::chrono::milliseconds rescue{5000};  ///< Between sweeps for expired leases.
};

/// A child spec for the dispatcher, to run under the jobs supervisor, which
/// must be registered as names::jobs.
child_spec job_dispatcher_child(std::shared_ptr<services> svc,
                                std::shared_ptr<const job_kinds> kinds,
                                job_runner_options options = {});

}  // namespace sb::actors
