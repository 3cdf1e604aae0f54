#pragma once

// The parts of read, patch and delete that every workspace entity shares:
// tenancy by workspace id, 404s, If-Match against the stored version, a
// version-guarded write, and the change event.

#include "actors/credentials.hpp"
#include "actors/handlers/cache_tags.hpp"
#include "actors/handlers/handler.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sb::actors::handlers {

/// How the shared handlers reach one kind of entity.
template <class Record>
struct resource {
  std::string_view noun;  ///< "contact": used in messages and event types.
  std::string_view path;  ///< "/v1/contacts": for Location headers.
  persistence::db_result<std::optional<Record>> (*find)(persistence::connection&,
                                                        std::string_view workspace_id,
                                                        std::string_view id);
  persistence::db_status (*insert)(persistence::connection&, const Record&);
  persistence::db_result<bool> (*update)(persistence::connection&, const Record&,
                                         int64_t expected_version);
  persistence::db_result<bool> (*remove)(persistence::connection&, std::string_view workspace_id,
                                         std::string_view id);
  nlohmann::json (*to_json)(const Record&);
  std::string_view conflict = "the change conflicts with existing data";  ///< 409 detail.

  /// The response for a failed write.
  api_response failure(const persistence::db_error& err, std::string_view rid) const {
    if (err.code == persistence::db_errc::conflict) {
      return problem(409, conflict, rid);
    }
    return db_failure(err, rid);
  }
};

/// The response for an entity: its JSON and its ETag.
template <class Record>
api_response entity_response(uint16_t status, const resource<Record>& res, const Record& r) {
  auto out = json_response(status, res.to_json(r).dump());
  out.headers.emplace_back("ETag", etag_of(r.version));
  return out;
}

/// Stores a new entity (inside `check`'s transaction when given) and
/// answers 201 with ETag and Location. `check` may veto with a response.
template <class Record, class Check>
api_response create_one(handler_context& ctx, const resource<Record>& res, const Record& r,
                        Check check) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> vetoed;
  auto st = persistence::in_transaction(ctx.conn, [&](persistence::connection& conn) {
    if ((vetoed = check(conn))) {
      return persistence::db_status{persistence::done{}};
    }
    return res.insert(conn, r);
  });
  if (!st) {
    return res.failure(st.error(), rid);
  }
  if (vetoed) {
    return *vetoed;
  }
  invalidate_entity(ctx.svc, res.noun, r.workspace_id, r.id);
  auto data = res.to_json(r).dump();
  add_event(ctx, std::string{res.noun} + ".created", r.id, data);
  auto out = json_response(201, std::move(data));
  out.headers.emplace_back("ETag", etag_of(r.version));
  out.headers.emplace_back("Location", std::string{res.path} + "/" + r.id);
  return out;
}

/// The response for a cached entity: the stored "version\njson" with its
/// ETag, or 404 for a cached not-found.
inline api_response cached_entity_response(const persistence::cache_entry& entry,
                                           std::string_view noun, std::string_view rid) {
  if (!entry.present) {
    return problem(404, "no such " + std::string{noun}, rid);
  }
  auto nl = entry.data.find('\n');
  auto out = json_response(200, entry.data.substr(nl + 1));
  out.headers.emplace_back("ETag", etag_of(std::stoll(entry.data.substr(0, nl))));
  return out;
}

/// GET of one entity of the caller's workspace, through the read cache when
/// there is one: the cached value is the version and the JSON, and a
/// not-found is cached briefly too. (The session actor answers first-level
/// hits itself, see cached_entity_response; this is the way for the rest.)
template <class Record>
api_response get_one(handler_context& ctx, const resource<Record>& res) {
  const auto& rid = ctx.request.request_id;
  const auto& ws = ctx.session.workspace_id;
  const auto& id = ctx.request.params.at(0);
  std::optional<api_response> failure;
  auto load = [&]() {
    auto found = res.find(ctx.conn, ws, id);
    if (!found) {
      failure = db_failure(found.error(), rid);
      return persistence::cache_load::failed();
    }
    if (!*found) {
      return persistence::cache_load::absent();
    }
    return persistence::cache_load::value(std::to_string((*found)->version) + "\n" +
                                          res.to_json(**found).dump());
  };
  std::optional<persistence::cache_entry> entry;
  if (ctx.svc && ctx.svc->cache) {
    entry = ctx.svc->cache->get(std::string{res.noun}, entity_key(res.noun, ws, id),
                                entity_scopes(res.noun, ws), load);
  } else if (auto l = load(); l.what != persistence::cache_load::kind::failed) {
    entry = persistence::cache_entry{l.what == persistence::cache_load::kind::value, l.data};
  }
  if (!entry) {
    return std::move(*failure);  // Only our own loader's failure yields no entry.
  }
  return cached_entity_response(*entry, res.noun, rid);
}

/// The first page of a list (no cursor) through the read cache, under a key
/// made of the noun, the workspace and `variant` (limit and filters); other
/// pages, and answers other than 200, are never cached. `load` renders the
/// page from the database.
template <class Load>
api_response list_page(handler_context& ctx, std::string_view noun, const std::string& variant,
                       bool first_page, Load load) {
  auto* cache = ctx.svc ? ctx.svc->cache.get() : nullptr;
  if (cache == nullptr || !first_page) {
    return load();
  }
  const auto& ws = ctx.session.workspace_id;
  std::optional<api_response> uncached;
  auto entry =
      cache->get(std::string{noun} + "_list", std::string{noun} + "-list:" + ws + ":" + variant,
                 {list_tag(noun, ws), all_tag(noun, ws)}, [&] {
                   auto res = load();
                   if (res.status != 200) {
                     uncached = std::move(res);
                     return persistence::cache_load::failed();
                   }
                   return persistence::cache_load::value(std::move(res.body));
                 });
  if (!entry) {
    return std::move(*uncached);
  }
  return json_response(200, std::move(entry->data));
}

/// PATCH of one entity: reads it, checks If-Match, lets `apply(record)`
/// change it (or veto with a response), and writes it guarded by the version
/// it read, all in one transaction.
template <class Record, class Apply>
api_response patch_one(handler_context& ctx, const resource<Record>& res, Apply apply) {
  const auto& rid = ctx.request.request_id;
  const std::string noun{res.noun};
  std::optional<api_response> outcome;
  Record updated;
  auto st = persistence::in_transaction(ctx.conn, [&](persistence::connection& conn) {
    outcome.reset();
    auto found = res.find(conn, ctx.session.workspace_id, ctx.request.params.at(0));
    if (!found) {
      return persistence::db_result<bool>{found.error()};
    }
    if (!*found) {
      outcome = problem(404, "no such " + noun, rid);
      return persistence::db_result<bool>{false};
    }
    auto current = **found;
    if (!if_match_accepts(ctx.request.if_match, current.version)) {
      outcome = problem(412, "the " + noun + " changed since the given ETag", rid);
      return persistence::db_result<bool>{false};
    }
    updated = current;
    if ((outcome = apply(conn, updated))) {
      return persistence::db_result<bool>{false};
    }
    updated.version = current.version + 1;
    updated.updated_at = now_ms();
    auto written = res.update(conn, updated, current.version);
    if (written && !*written) {
      outcome = problem(412, "the " + noun + " changed while it was being updated", rid);
    }
    return written;
  });
  if (!st) {
    // The commit may have happened before the connection failed.
    invalidate_entity(ctx.svc, res.noun, ctx.session.workspace_id, ctx.request.params.at(0));
    return res.failure(st.error(), rid);
  }
  if (outcome) {
    return *outcome;
  }
  invalidate_entity(ctx.svc, res.noun, ctx.session.workspace_id, updated.id);
  add_event(ctx, noun + ".updated", updated.id, res.to_json(updated).dump());
  return entity_response(200, res, updated);
}

/// DELETE of one entity of the caller's workspace; with If-Match, only the
/// version it names is deleted (412 otherwise).
template <class Record>
api_response delete_one(handler_context& ctx, const resource<Record>& res) {
  const auto& rid = ctx.request.request_id;
  const auto& id = ctx.request.params.at(0);
  const std::string noun{res.noun};
  std::optional<api_response> outcome;
  auto removed = persistence::in_transaction(ctx.conn, [&](persistence::connection& conn) {
    outcome.reset();
    if (!ctx.request.if_match.empty()) {
      auto found = res.find(conn, ctx.session.workspace_id, id);
      if (!found) {
        return persistence::db_result<bool>{found.error()};
      }
      if (*found && !if_match_accepts(ctx.request.if_match, (*found)->version)) {
        outcome = problem(412, "the " + noun + " changed since the given ETag", rid);
        return persistence::db_result<bool>{false};
      }
    }
    return res.remove(conn, ctx.session.workspace_id, id);
  });
  if (!removed) {
    // The commit may have happened before the connection failed.
    invalidate_entity(ctx.svc, res.noun, ctx.session.workspace_id, id);
    return db_failure(removed.error(), rid);
  }
  if (outcome) {
    return *outcome;
  }
  if (!*removed) {
    return problem(404, "no such " + noun, rid);
  }
  invalidate_entity(ctx.svc, res.noun, ctx.session.workspace_id, id);
  add_event(ctx, noun + ".deleted", id, "null");
  return no_content();
}

}  // namespace sb::actors::handlers
