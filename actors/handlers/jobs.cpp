// GET /ops/jobs, and the dead-letter queue: list, show, replay, delete.

#include "actors/handlers/jobs.hpp"

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/jobs.hpp"

#include "observability/metrics.hpp"

#include <unordered_map>
#include <variant>

namespace sb::actors::handlers {

namespace {

namespace jobs = persistence::jobs;

// Counts what operators do to the dead-letter queue, by action.
void count_dlq(const char* action, int64_t n = 1) {
  observability::metrics()
      .counter_of("switchboard_dlq_actions_total",
                  "Dead-letter jobs replayed or deleted by operators, by action",
                  {{"action", action}})
      .inc(static_cast<double>(n));
}

json opt_json(const persistence::opt_text& x) {
  return x ? json(*x) : json(nullptr);
}

json job_json(const jobs::job_record& j) {
  return {
      {"id", j.id},
      {"kind", j.kind},
      {"state", jobs::to_string(j.state)},
      {"workspace_id", opt_json(j.workspace_id)},
      {"payload", json::parse(j.payload, nullptr, false).is_discarded()
                      ? json(j.payload)
                      : json::parse(j.payload, nullptr, false)},
      {"attempt", j.attempt},
      {"max_attempts", j.max_attempts},
      {"priority", j.priority},
      {"run_at", rfc3339(j.run_at)},
      {"last_error", opt_json(j.last_error)},
      {"dead_reason", opt_json(j.dead_reason)},
      {"idempotency_key", opt_json(j.idempotency_key)},
      {"created_at", rfc3339(j.created_at)},
      {"updated_at", rfc3339(j.updated_at)},
  };
}

api_response counts(const api_request& req, persistence::connection& conn) {
  auto now = now_ms();
  auto got = jobs::counts(conn, now);
  if (!got) {
    return db_failure(got.error(), req.request_id);
  }
  auto by_kind = json::object();
  for (const auto& c : got->by_kind_state) {
    by_kind[c.kind][c.state] = c.count;
  }
  return json_response(200, json{{"kinds", by_kind},
                                 {"oldest_waiting_age_ms", got->oldest_waiting_age_ms},
                                 {"generated_at", rfc3339(now)}}
                                .dump());
}

api_response dead_list(const api_request& req, persistence::connection& conn) {
  field_errors errors;
  auto params = read_list_params(req, errors);
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }
  std::string kind;
  if (auto i = req.query.find("kind"); i != req.query.end()) {
    kind = i->second;
  }
  auto rows = jobs::list_dead(conn, kind, {params.limit + 1, params.before_id});
  if (!rows) {
    return db_failure(rows.error(), req.request_id);
  }
  return page_response(*rows, params.limit, job_json);
}

api_response dead_get(const api_request& req, persistence::connection& conn) {
  auto found = jobs::get(conn, req.params.at(0));
  if (!found) {
    return db_failure(found.error(), req.request_id);
  }
  if (!*found || (*found)->job.state != jobs::job_state::dead) {
    return problem(404, "no such dead job", req.request_id);
  }
  auto body = job_json((*found)->job);
  auto errors = json::array();
  for (const auto& e : (*found)->errors) {
    errors.push_back({{"attempt", e.attempt}, {"at", rfc3339(e.at)}, {"error", e.error}});
  }
  body["errors"] = std::move(errors);
  return json_response(200, body.dump());
}

api_response dead_replay(const api_request& req, persistence::connection& conn) {
  auto replayed = jobs::replay(conn, req.params.at(0), now_ms());
  if (!replayed) {
    if (replayed.error().code == persistence::db_errc::conflict) {
      return problem(409, "a live job holds this job's idempotency key", req.request_id);
    }
    return db_failure(replayed.error(), req.request_id);
  }
  if (!*replayed) {
    return problem(404, "no such dead job", req.request_id);
  }
  count_dlq("replay");
  return json_response(202, json{{"id", req.params.at(0)}, {"state", "available"}}.dump());
}

// Replays the dead jobs a filter selects ({"kind": ...}, or all), at most
// 1000 per call; the answer says how many, so an operator can repeat.
api_response dead_replay_all(const api_request& req, persistence::connection& conn) {
  std::string kind;
  if (!req.body.empty()) {
    std::optional<api_response> bad;
    auto body = parse_object(req, bad);
    if (!body) {
      return *bad;
    }
    field_errors errors;
    reject_unknown(*body, {"kind"}, errors);
    auto k = read_text(*body, "kind", {false, true, 100, 0}, errors);
    if (!errors.empty()) {
      return errors.response(req.request_id);
    }
    kind = k.value.value_or("");
  }
  auto dead = jobs::list_dead(conn, kind, {1000, ""});
  if (!dead) {
    return db_failure(dead.error(), req.request_id);
  }
  int64_t replayed = 0;
  auto now = now_ms();
  for (const auto& j : *dead) {
    auto r = jobs::replay(conn, j.id, now);
    if (r && *r) {
      ++replayed;
    }
  }
  count_dlq("replay", replayed);
  return json_response(
      202,
      json{{"replayed", replayed}, {"kind", kind.empty() ? json(nullptr) : json(kind)}}.dump());
}

api_response dead_delete(const api_request& req, persistence::connection& conn) {
  auto removed = jobs::remove_dead(conn, req.params.at(0));
  if (!removed) {
    return db_failure(removed.error(), req.request_id);
  }
  if (!*removed) {
    return problem(404, "no such dead job", req.request_id);
  }
  count_dlq("delete");
  return no_content();
}

}  // namespace

nlohmann::json member_job_view(const jobs::job_record& j) {
  json progress = nullptr;
  if (j.progress_done) {
    progress = {{"done", *j.progress_done}, {"total", j.progress_total.value_or(0)}};
  }
  json result = nullptr;
  if (j.result) {
    result = json::parse(*j.result, nullptr, false);
    if (result.is_discarded()) {
      result = *j.result;
    }
  }
  bool finished = j.state == jobs::job_state::completed || j.state == jobs::job_state::dead ||
                  j.state == jobs::job_state::cancelled;
  return {{"id", j.id},
          {"kind", j.kind},
          {"status", jobs::public_status(j.state)},
          {"attempts", j.attempt},
          {"progress", std::move(progress)},
          {"result", std::move(result)},
          {"last_error", opt_json(j.last_error)},
          {"created_at", rfc3339(j.created_at)},
          {"updated_at", rfc3339(j.updated_at)},
          {"finished_at", finished && j.completed_at ? json(rfc3339(*j.completed_at)) : json()}};
}

namespace {

// Loads a job of the caller's workspace; jobs of other workspaces, and jobs
// of none, do not exist for a member.
std::variant<jobs::job_record, api_response> own_job(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto found = jobs::get(ctx.conn, ctx.request.params.at(0));
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (!*found || (*found)->job.workspace_id != ctx.session.workspace_id) {
    return problem(404, "no such job", rid);
  }
  return std::move((*found)->job);
}

}  // namespace

api_response jobs_get(handler_context& ctx) {
  auto got = own_job(ctx);
  if (auto* res = std::get_if<api_response>(&got)) {
    return std::move(*res);
  }
  return json_response(200, member_job_view(std::get<jobs::job_record>(got)).dump());
}

api_response jobs_cancel(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto got = own_job(ctx);
  if (auto* res = std::get_if<api_response>(&got)) {
    return std::move(*res);
  }
  auto& job = std::get<jobs::job_record>(got);
  auto cancelled = jobs::cancel(ctx.conn, job.id, now_ms());
  if (!cancelled) {
    return db_failure(cancelled.error(), rid);
  }
  auto again = jobs::get(ctx.conn, job.id);
  if (!again || !*again) {
    return again ? problem(404, "no such job", rid) : db_failure(again.error(), rid);
  }
  auto view = member_job_view((*again)->job);
  if (!*cancelled) {
    return problem(
        409, std::string{"the job already finished: "} + view["status"].get<std::string>(), rid);
  }
  observability::metrics()
      .counter_of("switchboard_jobs_cancelled_total", "Jobs cancelled through the API, by kind",
                  {{"kind", job.kind}})
      .inc();
  // A running attempt notices at its next progress report or lease renewal
  // and stops; the fence refuses whatever it still tries to write.
  return json_response(200, view.dump());
}

ops_job_handler find_ops_job_handler(std::string_view route) {
  static const std::unordered_map<std::string_view, ops_job_handler> table = {
      {"ops.jobs", counts},
      {"ops.dlq.list", dead_list},
      {"ops.dlq.get", dead_get},
      {"ops.dlq.replay", dead_replay},
      {"ops.dlq.replay_all", dead_replay_all},
      {"ops.dlq.delete", dead_delete},
  };
  auto i = table.find(route);
  return i == table.end() ? nullptr : i->second;
}

}  // namespace sb::actors::handlers
