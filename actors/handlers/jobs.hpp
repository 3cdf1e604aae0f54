#pragma once

// The job queue through the API: the operator's view (counts, dead letters,
// replay) and a workspace member's view of its own jobs.

#include "actors/api.hpp"
#include "persistence/connection.hpp"
#include "persistence/repositories/jobs.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace sb::actors::handlers {

/// An ops request about the job queue, run on a database worker; nullptr
/// when `route` is not one of them.
using ops_job_handler = api_response (*)(const api_request&, persistence::connection&);

/// The handler of an ops.jobs / ops.dlq.* route, or nullptr.
ops_job_handler find_ops_job_handler(std::string_view route);

/// A job as a workspace member sees it: status (queued, running, succeeded,
/// failed, cancelled), attempts, progress, result and times.
nlohmann::json member_job_view(const persistence::jobs::job_record& j);

}  // namespace sb::actors::handlers
