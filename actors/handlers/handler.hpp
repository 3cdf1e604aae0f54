#pragma once

// Request handlers of session routes. A handler is plain synchronous code:
// it runs on a blocking worker with a database connection, and whatever it
// changes it commits before it returns, listing the events to publish.

#include "actors/api.hpp"
#include "actors/events.hpp"
#include "actors/handlers/validation.hpp"
#include "actors/session_info.hpp"
#include "config/settings.hpp"
#include "persistence/connection.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::actors {
struct services;
}  // namespace sb::actors

namespace sb::actors::handlers {

/// Everything a handler may use.
struct handler_context {
  const api_request& request;
  const session_info& session;
  persistence::connection& conn;
  const config::settings& settings;
  std::vector<event> events;  ///< Filled on success; published with the reply.
  /// The argon2id hash of the body's "password", made beforehand on the
  /// crypto pool by routes that need one (see needs_password_hash).
  std::optional<std::string> password_hash = {};
  /// The process's shared services, for handlers that start work which
  /// outlives them (a streamed download reading on the db pool).
  std::shared_ptr<services> svc = {};
};

/// Tells whether `route` takes a password to hash before its handler runs.
bool needs_password_hash(std::string_view route);

using handler = api_response (*)(handler_context&);

/// The handler of a session route, or nullptr when there is none.
handler find_handler(std::string_view route);

/// The response for a database failure: 503 (with Retry-After) when the
/// database is unreachable or busy, 409 on a constraint, 500 otherwise.
api_response db_failure(const persistence::db_error& err, std::string_view request_id);

/// A JSON response with `status`.
api_response json_response(uint16_t status, std::string body);

/// An empty 204 response.
api_response no_content();

/// A list page: the first `limit` of `rows` rendered by `render`, and a
/// cursor when `rows` holds one more (the repositories are asked for limit + 1).
template <class Rows, class Render>
api_response page_response(const Rows& rows, size_t limit, Render render) {
  std::string body = R"({"items":[)";
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    if (i > 0) {
      body += ',';
    }
    body += render(rows[i]).dump();
  }
  body += R"(],"next_cursor":)";
  body += rows.size() > limit ? "\"" + make_cursor(rows[limit - 1].id) + "\"" : "null";
  body += '}';
  return json_response(200, std::move(body));
}

/// The strong ETag of a stored version, e.g. "\"v3\"".
std::string etag_of(int64_t version);

/// Tells whether the If-Match header (if any) accepts `version`.
bool if_match_accepts(std::string_view if_match, int64_t version);

/// Adds an event for the entity `id` with `data` (JSON text).
void add_event(handler_context& ctx, std::string type, std::string id, std::string data);

// Route handlers, by resource.
api_response contacts_create(handler_context& ctx);
api_response contacts_list(handler_context& ctx);
api_response contacts_get(handler_context& ctx);
api_response contacts_update(handler_context& ctx);
api_response contacts_delete(handler_context& ctx);
api_response deals_create(handler_context& ctx);
api_response deals_list(handler_context& ctx);
api_response deals_get(handler_context& ctx);
api_response deals_update(handler_context& ctx);
api_response deals_delete(handler_context& ctx);
api_response videos_create(handler_context& ctx);
api_response videos_list(handler_context& ctx);
api_response videos_get(handler_context& ctx);
api_response videos_update(handler_context& ctx);
api_response videos_delete(handler_context& ctx);
api_response members_list(handler_context& ctx);
api_response members_invite(handler_context& ctx);
api_response jobs_get(handler_context& ctx);
api_response jobs_cancel(handler_context& ctx);
api_response videos_views_record(handler_context& ctx);
api_response activity_batch(handler_context& ctx);
api_response reports_create(handler_context& ctx);
api_response reports_list(handler_context& ctx);
api_response reports_get(handler_context& ctx);
api_response reports_cancel(handler_context& ctx);
api_response reports_download(handler_context& ctx);

}  // namespace sb::actors::handlers
