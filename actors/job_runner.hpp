#pragma once

// Runs the durable job queue: a dispatcher claims due jobs from the database
// and starts one actor per job under the jobs supervisor; each job actor runs
// its handler on a database worker, keeps its lease alive, and completes or
// fails the job.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"
#include "persistence/repositories/jobs.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sb::actors {

/// What a job handler reports: an empty error means the job is done.
struct job_result {
  std::string error;
};

/// Runs one attempt of a job on a database worker (blocking is fine there).
using job_handler =
    std::function<job_result(const persistence::jobs::job_record&, persistence::connection&)>;

/// The job kinds this process runs, with their handlers and time limits.
class job_kinds {
 public:
  /// Registers `kind`; an attempt running longer than `timeout` fails.
  void add(std::string kind, job_handler handler, std::chrono::milliseconds timeout);

  /// The kinds, for claiming only what this process can run.
  std::vector<std::string> names() const;

  /// The handler of `kind`, or nullptr.
  const job_handler* handler(const std::string& kind) const;

  /// The time limit of `kind`.
  std::chrono::milliseconds timeout(const std::string& kind) const;

 private:
  struct entry {
    job_handler handler;
    std::chrono::milliseconds timeout;
  };
  std::map<std::string, entry> kinds_;
};

/// The kinds every Switchboard runs ("noop"), plus "debug.fail", which always
/// fails, when `debug` is set (tests of retries and dead letters).
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
