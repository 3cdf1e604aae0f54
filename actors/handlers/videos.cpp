// Videos: metadata create, list filtered by status, read, patch, delete.

#include "persistence/repositories/videos.hpp"
#include "actors/credentials.hpp"
#include "actors/handlers/crud.hpp"
#include "actors/handlers/validation.hpp"

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
      {"duration_seconds", v.duration_seconds ? json(*v.duration_seconds) : json(nullptr)},
      {"version", v.version},
      {"created_at", rfc3339(v.created_at)},
      {"updated_at", rfc3339(v.updated_at)},
  };
}

void read_fields(const json& body, video_record& v, bool create, field_errors& errors) {
  reject_unknown(body, {"title", "description", "status", "duration_seconds"}, errors);
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
  // The length in whole seconds, which the engagement report's share
  // watched needs; null when unknown.
  if (auto d = body.find("duration_seconds"); d != body.end() && !d->is_null()) {
    if (d->is_number_integer() && d->get<int64_t>() > 0 && d->get<int64_t>() <= 604'800) {
      v.duration_seconds = d->get<int64_t>();
    } else {
      errors.add("duration_seconds", "must be whole seconds from 1 to 604800, or null");
    }
  }
}

const resource<video_record> videos{
    "video", "/v1/videos", repo::find, repo::insert, repo::update, repo::remove, to_json,
};

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
  return create_one(ctx, videos, v,
                    [](persistence::connection&) { return std::optional<api_response>{}; });
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

  auto variant = std::to_string(params.limit) + "|" + status;
  return list_page(ctx, "video", variant, params.before_id.empty(), [&] {
    auto rows = repo::list(ctx.conn, ctx.session.workspace_id, {params.limit + 1, params.before_id},
                           status);
    if (!rows) {
      return db_failure(rows.error(), req.request_id);
    }
    return page_response(*rows, params.limit, to_json);
  });
}

api_response videos_get(handler_context& ctx) {
  return get_one(ctx, videos);
}

api_response videos_update(handler_context& ctx) {
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  video_record patch;
  field_errors errors;
  read_fields(*body, patch, false, errors);
  if (!errors.empty()) {
    return errors.response(ctx.request.request_id);
  }
  return patch_one(ctx, videos, [&](persistence::connection&, video_record& v) {
    if (body->contains("title")) {
      v.title = patch.title;
    }
    if (body->contains("description")) {
      v.description = patch.description;
    }
    if (body->contains("status")) {
      v.status = patch.status;
    }
    if (body->contains("duration_seconds")) {
      v.duration_seconds = patch.duration_seconds;
    }
    return std::optional<api_response>{};
  });
}

api_response videos_delete(handler_context& ctx) {
  return delete_one(ctx, videos);
}

}  // namespace sb::actors::handlers
