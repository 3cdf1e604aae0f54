#pragma once

// The "report" job kind: a workspace's engagement or pipeline report over a
// time range, aggregated by the database, rendered as CSV or JSON and stored
// in ~64 KiB chunks (report_chunks) that GET /v1/reports/{id}/download
// streams. The job's result says how big the report is and how to serve it.

#include "actors/job_runner.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::actors::reports {

/// The job kind reports run as.
inline constexpr const char* job_kind = "report";

/// What a report job was asked for; stored as its payload.
struct report_request {
  std::string kind;    ///< engagement or pipeline.
  std::string format;  ///< csv or json.
  int64_t from = 0;    ///< Unix ms, inclusive.
  int64_t to = 0;      ///< Unix ms, exclusive.
};

/// Tells whether `kind` names a report kind.
bool known_kind(std::string_view kind);

/// Tells whether `format` names a report format.
bool known_format(std::string_view format);

/// The Content-Type a format is served with.
const char* content_type(std::string_view format);

/// The request as the job's payload (JSON text).
std::string to_payload(const report_request& r);

/// Reads a payload written by to_payload; nullopt when it is not one.
std::optional<report_request> from_payload(std::string_view payload);

/// What a finished report job stores as its result.
struct report_output {
  int64_t bytes = 0;   ///< Size of the whole report body.
  int64_t chunks = 0;  ///< Number of stored chunks, seq 0 .. chunks - 1.
  int64_t rows = 0;    ///< Result rows (videos or stages).
  std::string format;
  std::string content_type;
};

/// Reads a finished job's result; nullopt when it is not a report's.
std::optional<report_output> read_output(std::string_view result);

/// Registers the report kind: one attempt at most 10 minutes, two at a time
/// per process, progress and outcome published as report.* events.
void add_report_jobs(job_kinds& kinds);

/// Runs one report attempt (the handler add_report_jobs registers).
job_result run_report(job_context& ctx);

}  // namespace sb::actors::reports
