#pragma once

// The "contacts.import" job: reads a complete upload (a CSV file) chunk by
// chunk, validates each row as the contacts API would, and upserts the valid
// ones by email into the workspace's contacts in one transaction together
// with the job's completion. Its result counts inserted, updated, unchanged
// and rejected rows and lists the rejected ones with their line and reason.

#include "actors/job_runner.hpp"

#include <string>
#include <string_view>

namespace sb::actors::imports {

/// The kind of the import job.
constexpr std::string_view import_job_kind = "contacts.import";

/// Rejected rows listed in a result at most; the count covers them all.
constexpr size_t max_listed_rejections = 1000;

/// The payload of an import job reading `upload_id`.
std::string import_payload(std::string_view upload_id);

/// Runs one attempt of an import job (exposed for tests; the job runner
/// calls it through add_import_jobs).
job_result run_import(job_context& ctx);

/// Registers the import job kind.
void add_import_jobs(job_kinds& kinds);

}  // namespace sb::actors::imports
