#include "persistence/redis/url.hpp"

#include <charconv>

namespace sb::persistence {
namespace {

redis_url_result fail(std::string why) {
  return {std::nullopt, "redis url: " + std::move(why)};
}

// Parses all of `text` as a decimal integer in [lo, hi].
std::optional<int64_t> parse_number(std::string_view text, int64_t lo, int64_t hi) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || x < lo || x > hi) {
    return std::nullopt;
  }
  return x;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes %XX escapes (RFC 3986 section 2.1) so passwords may hold '@', ':' or '/'.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return std::nullopt;
    }
    int hi = hex_value(text[i + 1]);
    int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// Parses the `db` value of a path segment or query; "" means 0.
std::optional<int> parse_db(std::string_view text) {
  if (text.empty()) {
    return 0;
  }
  auto x = parse_number(text, 0, 1'000'000);
  if (!x) {
    return std::nullopt;
  }
  return static_cast<int>(*x);
}

redis_url_result parse_unix(std::string_view rest) {
  redis_endpoint ep;
  auto q = rest.find('?');
  ep.unix_path = std::string{rest.substr(0, q)};
  if (ep.unix_path.size() < 2 || ep.unix_path.front() != '/') {
    return fail("expected an absolute socket path, as in unix:///run/redis.sock");
  }
  if (q == std::string_view::npos) {
    return {ep, {}};
  }
  auto query = rest.substr(q + 1);
  if (query.rfind("db=", 0) != 0 || query.find('&') != std::string_view::npos) {
    return fail("the only query parameter supported is db=N");
  }
  auto db = parse_db(query.substr(3));
  if (!db) {
    return fail("db must be a number from 0 to 1000000");
  }
  ep.db = *db;
  return {ep, {}};
}

redis_url_result parse_tcp(std::string_view rest) {
  redis_endpoint ep;

  // Credentials: everything before the last '@', split at the first ':'.
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return fail("credentials must be [user]:password@ (the ':' is missing)");
    }
    auto user = percent_decode(userinfo.substr(0, colon));
    auto password = percent_decode(userinfo.substr(colon + 1));
    if (!user || !password) {
      return fail("bad percent-escape in the credentials");
    }
    if (password->empty()) {
      return fail("empty password before '@'");
    }
    ep.user = std::move(*user);
    ep.password = std::move(*password);
  }
  if (rest.find('?') != std::string_view::npos) {
    return fail("query parameters are not supported in redis:// URLs");
  }

  // Database: the path segment after the authority.
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = parse_db(rest.substr(slash + 1));
    if (!db) {
      return fail("db must be a number from 0 to 1000000, as in redis://host:6379/3");
    }
    ep.db = *db;
  }

  // Host and port; an IPv6 literal comes in brackets (RFC 3986 section 3.2.2).
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail("unterminated '[' in the host");
    }
    ep.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return fail("unexpected text after the IPv6 host");
    }
    port_text = after.empty() ? after : after.substr(1);
    if (after == ":") {
      return fail("empty port");
    }
  } else {
    auto colon = authority.find(':');
    ep.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) {
        return fail("empty port");
      }
    }
  }
  if (ep.host.empty()) {
    return fail("missing host, as in redis://127.0.0.1:6379/0");
  }
  if (!port_text.empty()) {
    auto port = parse_number(port_text, 1, 65535);
    if (!port) {
      return fail("port must be a number from 1 to 65535");
    }
    ep.port = static_cast<uint16_t>(*port);
  }
  return {ep, {}};
}

}  // namespace

redis_url_result parse_redis_url(std::string_view url) {
  constexpr std::string_view tcp = "redis://";
  constexpr std::string_view local = "unix://";
  if (url.rfind(tcp, 0) == 0) {
    return parse_tcp(url.substr(tcp.size()));
  }
  if (url.rfind(local, 0) == 0) {
    return parse_unix(url.substr(local.size()));
  }
  if (url.rfind("rediss://", 0) == 0) {
    return fail("TLS (rediss://) is not supported");
  }
  return fail("expected redis://[:password@]host:port/db or unix:///path");
}

std::string redact(const redis_endpoint& ep) {
  std::string out = ep.unix_path.empty() ? ep.host + ":" + std::to_string(ep.port) : ep.unix_path;
  return out + "/" + std::to_string(ep.db);
}

}  // namespace sb::persistence
