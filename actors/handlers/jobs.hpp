#pragma once

// The operator's view of the job queue: counts, dead letters, replay.

#include "actors/api.hpp"
#include "persistence/connection.hpp"

#include <string_view>

namespace sb::actors::handlers {

/// An ops request about the job queue, run on a database worker; nullptr
/// when `route` is not one of them.
using ops_job_handler = api_response (*)(const api_request&, persistence::connection&);

/// The handler of an ops.jobs / ops.dlq.* route, or nullptr.
ops_job_handler find_ops_job_handler(std::string_view route);

}  // namespace sb::actors::handlers
