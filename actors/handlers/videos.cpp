// Videos: metadata create, list filtered by status, read, patch, delete.

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/videos.hpp"

#include <algorithm>
#include <array>

namespace sb::actors::handlers {

namespace {

namespace repo = persistence::videos;
using persistence::video_record;

constexpr std::array<std::string_view, 5> statuses = {"draft", "uploading", "processing", "ready",
                                                      "failed"};

constexpr const char* status_list = "must be one of draft, uploading, processing, ready, failed";

bool known_status(std::string_view x) {
  return std::find(statuses.begin(), statuses.end(), x) != statuses.end();
}

json to_json(const video_record& v) {
  return {
    {"id", v.id},
    {"title", v.title},
    {"description", v.description ? json(*v.description) : json(nullptr)},
    {"status", v.status},
    {"version", v.version},
    {"created_at", rfc3339(v.created_at)},
    {"updated_at", rfc3339(v.updated_at)},
  };
}

void read_fields(const json& body, video_record& v, bool create, field_errors& errors) {
  reject_unknown(body, {"title", "description", "status"}, errors);
  auto title = read_text(body, "title", {create, false, 200, 0}, errors);
  if (title.value) {
    v.title = *title.value;
  }
  auto description = read_text(body, "description", {false, true, 5000, 0}, errors);
  if (description.present) {
    v.description = description.value;
  }
  auto status = read_text(body, "status", {false, false, 20, 0}, errors);
  if (status.value) {
    if (known_status(*status.value)) {
      v.status = *status.value;
    } else {
      errors.add("status", status_list);
    }
  }
}

api_response with_etag(uint16_t status, const video_record& v) {
  auto res = json_response(status, to_json(v).dump());
  res.headers.emplace_back("ETag", etag_of(v.version));
  return res;
}

}  // namespace

api_response videos_create(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  video_record v;
  v.status = "draft";
  field_errors errors;
  read_fields(*body, v, true, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }

  v.id = new_id("vid");
  v.workspace_id = ctx.session.workspace_id;
  v.version = 1;
  v.created_at = v.updated_at = now_ms();
  if (auto st = repo::insert(ctx.conn, v); !st) {
    return db_failure(st.error(), rid);
  }

  auto data = to_json(v).dump();
  add_event(ctx, "video.created", v.id, data);
  auto res = json_response(201, std::move(data));
  res.headers.emplace_back("ETag", etag_of(v.version));
  res.headers.emplace_back("Location", "/v1/videos/" + v.id);
  return res;
}

api_response videos_list(handler_context& ctx) {
  const auto& req = ctx.request;
  field_errors errors;
  auto params = read_list_params(req, errors);
  std::string status;
  if (auto i = req.query.find("status"); i != req.query.end()) {
    status = i->second;
    if (!known_status(status)) {
      errors.add("status", status_list);
    }
  }
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }

  auto rows = repo::list(ctx.conn, ctx.session.workspace_id, {params.limit + 1, params.before_id},
                         status);
  if (!rows) {
    return db_failure(rows.error(), req.request_id);
  }
  return page_response(*rows, params.limit, to_json);
}

api_response videos_get(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto found = repo::find(ctx.conn, ctx.session.workspace_id, ctx.request.params.at(0));
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (!*found) {
    return problem(404, "no such video", rid);
  }
  return with_etag(200, **found);
}

api_response videos_update(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  video_record patch;
  field_errors errors;
  read_fields(*body, patch, false, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }

  std::optional<api_response> outcome;
  video_record updated;
  auto st = persistence::in_transaction(ctx.conn, [&](persistence::connection& conn) {
    outcome.reset();
    auto found = repo::find(conn, ctx.session.workspace_id, ctx.request.params.at(0));
    if (!found) {
      return persistence::db_result<bool>{found.error()};
    }
    if (!*found) {
      outcome = problem(404, "no such video", rid);
      return persistence::db_result<bool>{false};
    }
    auto current = **found;
    if (!if_match_accepts(ctx.request.if_match, current.version)) {
      outcome = problem(412, "the video changed since the given ETag", rid);
      return persistence::db_result<bool>{false};
    }
    updated = current;
    if (body->contains("title")) {
      updated.title = patch.title;
    }
    if (body->contains("description")) {
      updated.description = patch.description;
    }
    if (body->contains("status")) {
      updated.status = patch.status;
    }
    updated.version = current.version + 1;
    updated.updated_at = now_ms();
    auto written = repo::update(conn, updated, current.version);
    if (written && !*written) {
      outcome = problem(412, "the video changed while it was being updated", rid);
    }
    return written;
  });
  if (!st) {
    return db_failure(st.error(), rid);
  }
  if (outcome) {
    return *outcome;
  }

  add_event(ctx, "video.updated", updated.id, to_json(updated).dump());
  return with_etag(200, updated);
}

api_response videos_delete(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  const auto& id = ctx.request.params.at(0);
  auto removed = repo::remove(ctx.conn, ctx.session.workspace_id, id);
  if (!removed) {
    return db_failure(removed.error(), rid);
  }
  if (!*removed) {
    return problem(404, "no such video", rid);
  }
  add_event(ctx, "video.deleted", id, "null");
  return no_content();
}

}  // namespace sb::actors::handlers
