#pragma once

// Where a Redis server is and how to log in: parsed from
// `redis://[[user]:password@]host[:port][/db]` or `unix:///path[?db=N]`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::persistence {

/// A parsed Redis URL.
struct redis_endpoint {
  std::string host;       ///< TCP host; empty for a Unix socket.
  uint16_t port = 6379;   ///< TCP port.
  std::string unix_path;  ///< Absolute socket path; empty for TCP.
  std::string user;       ///< ACL user for AUTH; empty sends AUTH with the password only.
  std::string password;   ///< Empty: no AUTH.
  int db = 0;             ///< Database index sent with SELECT when not 0.
};

/// Either an endpoint or a one-line reason the URL is wrong.
struct redis_url_result {
  std::optional<redis_endpoint> value;  ///< Set on success.
  std::string error;                    ///< Set on failure; never contains the password.
};

/// Parses a Redis URL; percent-escapes in user and password are decoded.
redis_url_result parse_redis_url(std::string_view url);

/// Renders an endpoint for logs with the password left out, e.g. "127.0.0.1:6379/3".
std::string redact(const redis_endpoint& ep);

}  // namespace sb::persistence
