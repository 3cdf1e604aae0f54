// Engagement data: one viewing event (POST /v1/videos/{id}/views) or a batch
// of up to 10,000 (POST /v1/activity/batch). Clients choose event ids, so a
// retried event is recognised and ignored.

#include "persistence/repositories/engagement.hpp"
#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "actors/reports/timestamps.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace sb::actors::handlers {

namespace {

namespace repo = persistence::engagement;
using persistence::video_view_record;

// Events per batch request.
constexpr size_t max_batch = 10'000;

// Upper bound of seconds_watched: a week, as for a video's duration.
constexpr double max_seconds = 86'400.0 * 7;

constexpr std::array<std::string_view, 3> events = {"play", "progress", "complete"};

// Reads one event's fields into `v`, recording problems under `prefix`
// ("" for a single event, "events[3]." in a batch). `with_video` says
// whether the event names its video (batches) or the path does.
void read_event(const json& e, const std::string& prefix, bool with_video, video_view_record& v,
                field_errors& errors) {
  if (!e.is_object()) {
    errors.add(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1), "must be an object");
    return;
  }
  for (const auto& [key, value] : e.items()) {
    if (key != "id" && key != "contact_id" && key != "event" && key != "seconds_watched" &&
        key != "occurred_at" && !(with_video && key == "video_id")) {
      errors.add(prefix + key, "unknown field");
    }
  }

  field_errors mine;
  auto id = read_text(e, "id", {true, false, 100, 1}, mine);
  auto contact = read_text(e, "contact_id", {false, true, 100, 1}, mine);
  auto event = read_text(e, "event", {true, false, 20, 0}, mine);
  text_field video;
  if (with_video) {
    video = read_text(e, "video_id", {true, false, 100, 1}, mine);
  }
  for (const auto& [field, reason] : mine.list()) {
    errors.add(prefix + field, reason);
  }
  v.id = id.value.value_or("");
  v.contact_id = contact.value;
  if (with_video) {
    v.video_id = video.value.value_or("");
  }
  if (event.value) {
    if (std::find(events.begin(), events.end(), *event.value) == events.end()) {
      errors.add(prefix + "event", "must be one of play, progress, complete");
    }
    v.event = *event.value;
  }

  auto seconds = e.find("seconds_watched");
  if (seconds == e.end() || seconds->is_null()) {
    v.seconds_watched = 0;
  } else if (!seconds->is_number() || seconds->get<double>() < 0 ||
             seconds->get<double>() > max_seconds) {
    errors.add(prefix + "seconds_watched", "must be a number of seconds from 0 to 604800");
  } else {
    v.seconds_watched = seconds->get<double>();
  }

  auto at = e.find("occurred_at");
  auto ms = at == e.end() ? std::nullopt : reports::read_timestamp(*at);
  if (!ms) {
    errors.add(prefix + "occurred_at",
               "required: an RFC 3339 timestamp or an integer of Unix milliseconds");
  } else if (*ms > now_ms() + 86'400'000) {
    errors.add(prefix + "occurred_at", "must not be more than a day ahead");
  } else {
    v.occurred_at = *ms;
  }
}

json view_json(const video_view_record& v, bool duplicate) {
  return {{"id", v.id},
          {"video_id", v.video_id},
          {"contact_id", v.contact_id ? json(*v.contact_id) : json(nullptr)},
          {"event", v.event},
          {"seconds_watched", v.seconds_watched},
          {"occurred_at", rfc3339(v.occurred_at)},
          {"duplicate", duplicate}};
}

}  // namespace

api_response videos_views_record(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  video_view_record v;
  field_errors errors;
  read_event(*body, "", false, v, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }
  v.workspace_id = ctx.session.workspace_id;
  v.video_id = ctx.request.params.at(0);
  v.created_at = now_ms();

  auto found = repo::existing_videos(ctx.conn, v.workspace_id, {v.video_id});
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (found->empty()) {
    return problem(404, "no such video", rid);
  }
  auto stored = repo::record_view(ctx.conn, v);
  if (!stored) {
    return db_failure(stored.error(), rid);
  }
  // 201 the first time, 200 for a replay of a known id (nothing changes).
  return json_response(*stored ? 201 : 200, view_json(v, !*stored).dump());
}

api_response activity_batch(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  field_errors errors;
  reject_unknown(*body, {"events"}, errors);
  auto list = body->find("events");
  if (list == body->end() || !list->is_array()) {
    errors.add("events", "required: an array of events");
    return errors.response(rid);
  }
  if (list->size() > max_batch) {
    errors.add("events", "at most 10000 events per batch");
    return errors.response(rid);
  }

  // Every event is checked before anything is written.
  std::vector<video_view_record> views(list->size());
  auto now = now_ms();
  for (size_t i = 0; i < views.size(); ++i) {
    auto& v = views[i];
    read_event((*list)[i], "events[" + std::to_string(i) + "].", true, v, errors);
    v.workspace_id = ctx.session.workspace_id;
    v.created_at = now;
  }
  std::set<std::string> named;
  for (const auto& v : views) {
    if (!v.video_id.empty()) {
      named.insert(v.video_id);
    }
  }
  auto found = repo::existing_videos(ctx.conn, ctx.session.workspace_id,
                                     std::vector<std::string>(named.begin(), named.end()));
  if (!found) {
    return db_failure(found.error(), rid);
  }
  for (size_t i = 0; i < views.size(); ++i) {
    if (!views[i].video_id.empty() && found->count(views[i].video_id) == 0) {
      errors.add("events[" + std::to_string(i) + "].video_id", "no such video");
    }
  }
  if (!errors.empty()) {
    return errors.response(rid);
  }

  // A video deleted since the lookup makes the insert fail as a conflict,
  // and the whole batch is rolled back; the client can send it again.
  auto stored = repo::record_views(ctx.conn, views);
  if (!stored) {
    if (stored.error().code == persistence::db_errc::conflict) {
      return problem(409, "a video of the batch was deleted meanwhile; nothing was stored", rid);
    }
    return db_failure(stored.error(), rid);
  }
  auto accepted = *stored;
  return json_response(200, json{{"accepted", accepted},
                                 {"duplicates", static_cast<int64_t>(views.size()) - accepted}}
                                .dump());
}

}  // namespace sb::actors::handlers
