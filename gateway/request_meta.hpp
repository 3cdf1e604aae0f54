#pragma once

// What the gateway derives from a request's target and headers: request and
// trace ids, the decoded query, the bearer token and the media type. Plain
// string work, shared by the server, its tests and the benchmark server.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sb::gateway {

/// Tells whether a client's X-Request-Id may be used: 1-128 of [A-Za-z0-9._:-].
bool valid_request_id(std::string_view x);

/// A new request id: 16 random bytes as 32 lowercase hex digits.
std::string new_request_id();

/// The client's X-Request-Id if valid, else a new one.
std::string request_id_of(std::string_view client_value);

/// The trace id of a W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>"; empty when
/// the header is absent or invalid (including all-zero ids).
std::string trace_id_of(std::string_view traceparent);

/// Decodes %XX escapes (and '+' as space when `plus_as_space`); nullopt on a
/// malformed escape.
std::optional<std::string> percent_decode(std::string_view x, bool plus_as_space);

/// Decodes "a=1&b=x%20y" into a map; the first of repeated keys wins and
/// malformed pairs are skipped.
std::map<std::string, std::string> parse_query(std::string_view query);

/// The token of "Bearer <token>" (scheme case-insensitive), else empty.
std::string bearer_token(std::string_view authorization);

/// The media type of a Content-Type value, lowercased, without parameters.
std::string media_type(std::string_view content_type);

}  // namespace sb::gateway
