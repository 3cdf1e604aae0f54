#include "gateway/routes.hpp"

#include "gateway/request_meta.hpp"

namespace sb::gateway {

namespace {

using actors::access;

// Splits off the next '/'-separated segment of `rest`; `rest` starts after a '/'.
std::string_view next_segment(std::string_view& rest) {
  auto slash = rest.find('/');
  auto seg = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  return seg;
}

// Matches `path` against `pattern` segment by segment; decoded parameters are
// appended to `params` only on success. Both start with '/'.
bool match_path(std::string_view pattern, std::string_view path, std::vector<std::string>& params) {
  if (path.empty() || path.front() != '/') {
    return false;
  }
  std::vector<std::string> found;
  auto pat = pattern.substr(1);
  auto rest = path.substr(1);
  // A trailing slash leaves an empty last segment, which no literal and no
  // "{x}" matches, so "/v1/contacts/" is a different path (404).
  bool more_path = true;
  while (!pat.empty()) {
    if (!more_path) {
      return false;
    }
    auto want = next_segment(pat);
    bool last_path_segment = rest.find('/') == std::string_view::npos;
    auto seg = next_segment(rest);
    more_path = !last_path_segment;
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      auto decoded = seg.empty() ? std::nullopt : percent_decode(seg, false);
      if (!decoded) {
        return false;
      }
      found.push_back(std::move(*decoded));
    } else if (want != seg) {
      return false;
    }
  }
  if (more_path) {
    return false;
  }
  params = std::move(found);
  return true;
}

}  // namespace

const std::vector<route>& routes() {
  static const std::vector<route> table = {
      {"POST", "/v1/auth/signup", "auth.signup", access::open},
      {"POST", "/v1/auth/login", "auth.login", access::open},
      {"POST", "/v1/auth/logout", "auth.logout", access::session},
      {"GET", "/v1/me", "me.get", access::session},
      {"POST", "/v1/workspace/members", "members.invite", access::session},
      {"GET", "/v1/workspace/members", "members.list", access::session},
      {"POST", "/v1/contacts", "contacts.create", access::session},
      {"GET", "/v1/contacts", "contacts.list", access::session},
      {"GET", "/v1/contacts/{id}", "contacts.get", access::session},
      {"PATCH", "/v1/contacts/{id}", "contacts.update", access::session},
      {"DELETE", "/v1/contacts/{id}", "contacts.delete", access::session},
      {"POST", "/v1/deals", "deals.create", access::session},
      {"GET", "/v1/deals", "deals.list", access::session},
      {"GET", "/v1/deals/{id}", "deals.get", access::session},
      {"PATCH", "/v1/deals/{id}", "deals.update", access::session},
      {"DELETE", "/v1/deals/{id}", "deals.delete", access::session},
      {"POST", "/v1/videos", "videos.create", access::session},
      {"GET", "/v1/videos", "videos.list", access::session},
      {"GET", "/v1/videos/{id}", "videos.get", access::session},
      {"PATCH", "/v1/videos/{id}", "videos.update", access::session},
      {"DELETE", "/v1/videos/{id}", "videos.delete", access::session},
      {"POST", "/v1/videos/{id}/views", "videos.views.record", access::session},
      {"POST", "/v1/activity/batch", "activity.batch", access::session, route::body_kind::large},
      {"POST", "/v1/contacts/import", "contacts.import", access::session,
       route::body_kind::streamed},
      {"POST", "/v1/reports", "reports.create", access::session},
      {"GET", "/v1/reports", "reports.list", access::session},
      {"GET", "/v1/reports/{id}", "reports.get", access::session},
      {"GET", "/v1/reports/{id}/download", "reports.download", access::session},
      {"DELETE", "/v1/reports/{id}", "reports.cancel", access::session},
      {"GET", "/v1/events", "events.stream", access::session},
      {"GET", "/v1/jobs/{id}", "jobs.get", access::session},
      {"DELETE", "/v1/jobs/{id}", "jobs.cancel", access::session},
      {"GET", "/readyz", "health.ready", access::open},
      {"GET", "/ops/supervision", "ops.supervision", access::ops},
      {"GET", "/ops/jobs", "ops.jobs", access::ops},
      {"GET", "/ops/dlq", "ops.dlq.list", access::ops},
      {"GET", "/ops/dlq/{id}", "ops.dlq.get", access::ops},
      {"POST", "/ops/dlq/replay", "ops.dlq.replay_all", access::ops},
      {"POST", "/ops/dlq/{id}/replay", "ops.dlq.replay", access::ops},
      {"DELETE", "/ops/dlq/{id}", "ops.dlq.delete", access::ops},
      {"POST", "/v1/debug/crash", "debug.crash", access::session},
  };
  return table;
}

route_match match_route(std::string_view method, std::string_view path) {
  route_match out;
  std::vector<std::string> params;
  for (const auto& r : routes()) {
    if (!match_path(r.pattern, path, params)) {
      continue;
    }
    if (r.method == method) {
      out.found = &r;
      out.params = std::move(params);
      out.allow.clear();
      return out;
    }
    // Collected for a 405; the table lists each method once per pattern.
    if (!out.allow.empty()) {
      out.allow += ", ";
    }
    out.allow += r.method;
  }
  return out;
}

}  // namespace sb::gateway
