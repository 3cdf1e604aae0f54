#pragma once

// The names under which workspace entities sit in the read cache, and the
// invalidations that writers owe it. Every write to contacts, deals or videos
// must call one of the invalidate_ functions after it commits and before it
// answers, or readers may see the old data for up to the cache's lifetime.

#include "actors/services.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sb::actors::handlers {

/// The cache key of one entity, e.g. "contact:w1:ct_1".
inline std::string entity_key(std::string_view noun, std::string_view ws, std::string_view id) {
  return std::string{noun} + ":" + std::string{ws} + ":" + std::string{id};
}

/// The noun of a route that reads one cached entity by id ("contacts.get"
/// reads a "contact"), or "" for any other route.
inline std::string_view cached_entity_noun(std::string_view route) {
  if (route == "contacts.get") {
    return "contact";
  }
  if (route == "deals.get") {
    return "deal";
  }
  return route == "videos.get" ? "video" : "";
}

/// The cache key of a login session, by the SHA-256 of its token.
inline std::string session_key(std::string_view token_hash) {
  return "session:" + std::string{token_hash};
}

/// The tag every list page of a noun in a workspace depends on.
inline std::string list_tag(std::string_view noun, std::string_view ws) {
  return std::string{noun} + "-lists:" + std::string{ws};
}

/// The tag every cached entity and list of a noun in a workspace depends on.
inline std::string all_tag(std::string_view noun, std::string_view ws) {
  return std::string{noun} + "-all:" + std::string{ws};
}

/// The scopes a cached entity depends on besides its own key; the same for
/// every read of it, or its first-level entry could never be found.
inline std::vector<std::string> entity_scopes(std::string_view noun, std::string_view ws) {
  return {all_tag(noun, ws)};
}

/// After one entity was created, changed or deleted: it and every list page.
inline void invalidate_entity(const std::shared_ptr<services>& svc, std::string_view noun,
                              std::string_view ws, std::string_view id) {
  if (svc && svc->cache) {
    svc->cache->invalidate({entity_key(noun, ws, id), list_tag(noun, ws)});
  }
}

/// After a bulk change (an import, a cascade): every entity and list of a
/// noun in the workspace.
inline void invalidate_all(const std::shared_ptr<services>& svc, std::string_view noun,
                           std::string_view ws) {
  if (svc && svc->cache) {
    svc->cache->invalidate({all_tag(noun, ws)});
  }
}

}  // namespace sb::actors::handlers
