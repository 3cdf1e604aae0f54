// Reports: POST /v1/reports queues a report job (report id = job id), GET
// lists and shows them, DELETE cancels one, and .../download streams a
// finished report from its stored chunks.

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/jobs.hpp"
#include "actors/handlers/validation.hpp"
#include "actors/reports/report_download.hpp"
#include "actors/reports/report_job.hpp"
#include "actors/reports/timestamps.hpp"
#include "persistence/repositories/jobs.hpp"

#include <variant>

namespace sb::actors::handlers {

namespace {

namespace jobs = persistence::jobs;

// The longest range a report may cover: a leap year.
constexpr int64_t max_range_ms = 366LL * 86'400'000;

// Attempts of a report job before it is dead (reported as failed).
constexpr int64_t report_attempts = 3;

// A report as its workspace sees it: the job's status and progress, what
// was asked for, and the size of the finished report.
json report_view(const jobs::job_record& j) {
  auto view = member_job_view(j);
  view.erase("result");
  if (auto req = reports::from_payload(j.payload)) {
    view["kind"] = req->kind;
    view["format"] = req->format;
    view["from"] = rfc3339(req->from);
    view["to"] = rfc3339(req->to);
  }
  auto out = j.result ? reports::read_output(*j.result) : std::nullopt;
  view["size"] = out ? json(out->bytes) : json(nullptr);
  view["rows"] = out ? json(out->rows) : json(nullptr);
  view["download_url"] = j.state == jobs::job_state::completed
                             ? json("/v1/reports/" + j.id + "/download")
                             : json(nullptr);
  return view;
}

// Loads a report of the caller's workspace; other workspaces' reports, and
// jobs that are not reports, do not exist here.
std::variant<jobs::job_record, api_response> own_report(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto found = jobs::get(ctx.conn, ctx.request.params.at(0));
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (!*found || (*found)->job.workspace_id != ctx.session.workspace_id ||
      (*found)->job.kind != reports::job_kind) {
    return problem(404, "no such report", rid);
  }
  return std::move((*found)->job);
}

}  // namespace

api_response reports_create(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  field_errors errors;
  reject_unknown(*body, {"kind", "format", "from", "to"}, errors);
  reports::report_request req;
  auto kind = read_text(*body, "kind", {true, false, 20, 0}, errors);
  if (kind.value && !reports::known_kind(*kind.value)) {
    errors.add("kind", "must be one of engagement, pipeline");
  }
  auto format = read_text(*body, "format", {false, false, 10, 0}, errors);
  req.kind = kind.value.value_or("");
  req.format = format.value.value_or("csv");
  if (!reports::known_format(req.format)) {
    errors.add("format", "must be one of csv, json");
  }
  // -1 marks a missing or malformed time (valid ones are never negative).
  auto time_of = [&](const char* name) {
    auto i = body->find(name);
    return i == body->end() ? int64_t{-1} : reports::read_timestamp(*i).value_or(-1);
  };
  req.from = time_of("from");
  req.to = time_of("to");
  if (req.from < 0) {
    errors.add("from", "required: an RFC 3339 timestamp or date, or Unix milliseconds");
  }
  if (req.to < 0) {
    errors.add("to", "required: an RFC 3339 timestamp or date, or Unix milliseconds");
  }
  if (req.from >= 0 && req.to >= 0 && req.from >= req.to) {
    errors.add("to", "must be after from");
  } else if (req.from >= 0 && req.to >= 0 && req.to - req.from > max_range_ms) {
    errors.add("to", "a report covers at most 366 days");
  }
  if (!errors.empty()) {
    return errors.response(rid);
  }

  jobs::new_job job;
  job.id = new_id("job");
  job.workspace_id = ctx.session.workspace_id;
  job.kind = reports::job_kind;
  job.payload = reports::to_payload(req);
  job.max_attempts = report_attempts;
  auto now = now_ms();
  auto queued = jobs::enqueue(ctx.conn, job, now);
  if (!queued) {
    return db_failure(queued.error(), rid);
  }
  auto stored = jobs::get(ctx.conn, *queued);
  if (!stored || !*stored) {
    return stored ? problem(500, "the report vanished after it was queued", rid)
                  : db_failure(stored.error(), rid);
  }
  auto res = json_response(202, report_view((*stored)->job).dump());
  res.headers.emplace_back("Location", "/v1/reports/" + job.id);
  return res;
}

api_response reports_list(handler_context& ctx) {
  const auto& req = ctx.request;
  field_errors errors;
  auto params = read_list_params(req, errors);
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }
  auto rows = jobs::list_for_workspace(ctx.conn, ctx.session.workspace_id, reports::job_kind,
                                       {params.limit + 1, params.before_id});
  if (!rows) {
    return db_failure(rows.error(), req.request_id);
  }
  return page_response(*rows, params.limit, report_view);
}

api_response reports_get(handler_context& ctx) {
  auto got = own_report(ctx);
  if (auto* res = std::get_if<api_response>(&got)) {
    return std::move(*res);
  }
  return json_response(200, report_view(std::get<jobs::job_record>(got)).dump());
}

api_response reports_cancel(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto got = own_report(ctx);
  if (auto* res = std::get_if<api_response>(&got)) {
    return std::move(*res);
  }
  const auto& job = std::get<jobs::job_record>(got);
  auto cancelled = jobs::cancel(ctx.conn, job.id, now_ms());
  if (!cancelled) {
    return db_failure(cancelled.error(), rid);
  }
  auto again = jobs::get(ctx.conn, job.id);
  if (!again || !*again) {
    return again ? problem(404, "no such report", rid) : db_failure(again.error(), rid);
  }
  auto view = report_view((*again)->job);
  if (!*cancelled) {
    return problem(409, "the report already finished: " + view["status"].get<std::string>(), rid);
  }
  // A running attempt notices within a second and rolls its chunks back.
  return json_response(200, view.dump());
}

api_response reports_download(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto got = own_report(ctx);
  if (auto* res = std::get_if<api_response>(&got)) {
    return std::move(*res);
  }
  const auto& job = std::get<jobs::job_record>(got);
  if (job.state != jobs::job_state::completed) {
    return problem(409, std::string{"the report is not ready: "} + jobs::public_status(job.state),
                   rid);
  }
  auto out = job.result ? reports::read_output(*job.result) : std::nullopt;
  if (!out) {
    return problem(500, "the report's result is unreadable", rid);
  }
  if (!ctx.svc) {
    return problem(503, "downloads are unavailable", rid);
  }

  api_response res;
  res.status = 200;
  res.content_type =
      out->content_type.empty() ? reports::content_type(out->format) : out->content_type;
  res.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"report-" + job.id + "." + out->format + "\"");
  res.content_length = static_cast<uint64_t>(out->bytes);
  if (out->chunks > 0) {
    res.stream = std::make_shared<reports::report_download>(ctx.svc, job.id, out->chunks);
  }
  return res;
}

}  // namespace sb::actors::handlers
