#include "actors/handlers/handler.hpp"

#include "actors/credentials.hpp"

#include <string>
#include <unordered_map>

namespace sb::actors::handlers {

handler find_handler(std::string_view route) {
  static const std::unordered_map<std::string_view, handler> table = {
      {"contacts.create", contacts_create}, {"contacts.list", contacts_list},
      {"contacts.get", contacts_get},       {"contacts.update", contacts_update},
      {"contacts.delete", contacts_delete}, {"deals.create", deals_create},
      {"deals.list", deals_list},           {"deals.get", deals_get},
      {"deals.update", deals_update},       {"deals.delete", deals_delete},
      {"videos.create", videos_create},     {"videos.list", videos_list},
      {"videos.get", videos_get},           {"videos.update", videos_update},
      {"videos.delete", videos_delete},     {"members.list", members_list},
      {"members.invite", members_invite},   {"jobs.get", jobs_get},
      {"jobs.cancel", jobs_cancel},         {"videos.views.record", videos_views_record},
      {"activity.batch", activity_batch},   {"reports.create", reports_create},
      {"reports.list", reports_list},       {"reports.get", reports_get},
      {"reports.cancel", reports_cancel},   {"reports.download", reports_download},
  };
  auto i = table.find(route);
  return i == table.end() ? nullptr : i->second;
}

bool needs_password_hash(std::string_view route) {
  return route == "members.invite";
}

api_response db_failure(const persistence::db_error& err, std::string_view request_id) {
  using persistence::db_errc;
  switch (err.code) {
    case db_errc::unavailable:
    case db_errc::transient:
    case db_errc::timeout: {
      auto res = problem(503, "the database is unavailable; try again", request_id);
      res.headers.emplace_back("Retry-After", "1");
      return res;
    }
    case db_errc::conflict:
      return problem(409, "the change conflicts with existing data", request_id);
    default:
      return problem(500, "the database rejected the operation", request_id);
  }
}

api_response json_response(uint16_t status, std::string body) {
  api_response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

api_response no_content() {
  api_response res;
  res.status = 204;
  res.content_type.clear();
  return res;
}

std::string etag_of(int64_t version) {
  return "\"v" + std::to_string(version) + "\"";
}

bool if_match_accepts(std::string_view if_match, int64_t version) {
  if (if_match.empty()) {
    return true;
  }
  auto tag = etag_of(version);
  // A list of entity tags, RFC 9110 §13.1.1; weak tags never match If-Match.
  size_t pos = 0;
  while (pos <= if_match.size()) {
    auto comma = if_match.find(',', pos);
    auto item = if_match.substr(
        pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    auto b = item.find_first_not_of(' ');
    auto e = item.find_last_not_of(' ');
    if (b != std::string_view::npos) {
      item = item.substr(b, e - b + 1);
      if (item == "*" || item == tag) {
        return true;
      }
    }
    if (comma == std::string_view::npos) {
      break;
    }
    pos = comma + 1;
  }
  return false;
}

void add_event(handler_context& ctx, std::string type, std::string id, std::string data) {
  ctx.events.push_back(
      event{std::move(type), std::move(id), ctx.session.workspace_id, std::move(data), now_ms()});
}

}  // namespace sb::actors::handlers
