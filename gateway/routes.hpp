#pragma once

// The URL map of the product API: which method and path pattern names which
// operation, and who may call it. Matching is plain string work.

#include "actors/api.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sb::gateway {

/// One route: "GET /v1/contacts/{id}" -> "contacts.get".
struct route {
  std::string_view method;
  std::string_view pattern;  ///< Segments; "{x}" matches one non-empty segment.
  std::string_view name;     ///< Operation name the actors dispatch on.
  actors::access who;
  /// How the body arrives: held whole up to a size limit, or streamed to the
  /// service piece by piece (api_service::open_upload).
  enum class body_kind { buffered, large, streamed } body = body_kind::buffered;
};

/// Every route the server answers.
const std::vector<route>& routes();

/// The outcome of matching a path.
struct route_match {
  const route* found = nullptr;     ///< Set when method and path matched.
  std::vector<std::string> params;  ///< Decoded path parameters.
  std::string allow;                ///< Methods for the path, e.g. "GET, POST" (405).
};

/// Matches `method` and `path` (no query string) against routes().
/// No match and empty `allow` means 404; empty `found` with `allow` means 405.
route_match match_route(std::string_view method, std::string_view path);

}  // namespace sb::gateway
