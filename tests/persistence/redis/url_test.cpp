#include "persistence/redis/url.hpp"

#include <catch2/catch.hpp>

using sb::persistence::parse_redis_url;
using sb::persistence::redact;

TEST_CASE("redis url parser reads host, port, password and db") {
  auto r = parse_redis_url("redis://:s3cret@127.0.0.1:6380/3");
  REQUIRE(r.value);
  CHECK(r.error.empty());
  CHECK(r.value->host == "127.0.0.1");
  CHECK(r.value->port == 6380);
  CHECK(r.value->password == "s3cret");
  CHECK(r.value->user.empty());
  CHECK(r.value->db == 3);
  CHECK(r.value->unix_path.empty());
}

TEST_CASE("redis url parser fills in the default port and db") {
  auto r = parse_redis_url("redis://cache.internal");
  REQUIRE(r.value);
  CHECK(r.value->host == "cache.internal");
  CHECK(r.value->port == 6379);
  CHECK(r.value->db == 0);
  CHECK(r.value->password.empty());

  auto slash = parse_redis_url("redis://localhost:7000/");
  REQUIRE(slash.value);
  CHECK(slash.value->port == 7000);
  CHECK(slash.value->db == 0);
}

TEST_CASE("redis url parser reads an ACL user and decodes percent-escapes") {
  auto r = parse_redis_url("redis://app:p%40ss%3Aw%2Fd@10.0.0.1:6379/1");
  REQUIRE(r.value);
  CHECK(r.value->user == "app");
  CHECK(r.value->password == "p@ss:w/d");
  CHECK(r.value->db == 1);
}

TEST_CASE("redis url parser splits credentials at the last at-sign") {
  auto r = parse_redis_url("redis://:a@b@host:1/2");
  REQUIRE(r.value);
  CHECK(r.value->password == "a@b");
  CHECK(r.value->host == "host");
}

TEST_CASE("redis url parser reads bracketed IPv6 hosts") {
  auto r = parse_redis_url("redis://[::1]:6390/4");
  REQUIRE(r.value);
  CHECK(r.value->host == "::1");
  CHECK(r.value->port == 6390);
  CHECK(r.value->db == 4);
}

TEST_CASE("redis url parser reads unix socket paths with an optional db") {
  auto r = parse_redis_url("unix:///run/redis/redis.sock");
  REQUIRE(r.value);
  CHECK(r.value->unix_path == "/run/redis/redis.sock");
  CHECK(r.value->host.empty());
  CHECK(r.value->db == 0);

  auto with_db = parse_redis_url("unix:///tmp/r.sock?db=5");
  REQUIRE(with_db.value);
  CHECK(with_db.value->unix_path == "/tmp/r.sock");
  CHECK(with_db.value->db == 5);
}

TEST_CASE("redis url parser rejects malformed urls with a reason") {
  struct bad_case {
    const char* url;
    const char* reason;
  };
  const bad_case cases[] = {
      {"", "expected redis://"},
      {"http://127.0.0.1:6379", "expected redis://"},
      {"rediss://127.0.0.1:6379", "TLS"},
      {"redis://", "missing host"},
      {"redis://:6379/0", "missing host"},
      {"redis://host:", "empty port"},
      {"redis://host:0", "port must be"},
      {"redis://host:65536", "port must be"},
      {"redis://host:12ab", "port must be"},
      {"redis://host:6379/x", "db must be"},
      {"redis://host:6379/-1", "db must be"},
      {"redis://host:6379/1/2", "db must be"},
      {"redis://secret@host:6379", "the ':' is missing"},
      {"redis://:@host:6379", "empty password"},
      {"redis://:p%4@host", "percent-escape"},
      {"redis://host:6379/0?timeout=1", "query parameters"},
      {"redis://[::1:6379", "unterminated"},
      {"unix://", "absolute socket path"},
      {"unix://relative.sock", "absolute socket path"},
      {"unix:///tmp/r.sock?db=z", "db must be"},
      {"unix:///tmp/r.sock?password=x", "only query parameter"},
  };
  for (const auto& c : cases) {
    INFO("url: " << c.url);
    auto r = parse_redis_url(c.url);
    CHECK_FALSE(r.value);
    CHECK(r.error.rfind("redis url: ", 0) == 0);
    CHECK(r.error.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("redis url errors and redacted endpoints never show the password") {
  auto bad = parse_redis_url("redis://:hunter2@host:99999");
  REQUIRE_FALSE(bad.value);
  CHECK(bad.error.find("hunter2") == std::string::npos);

  auto good = parse_redis_url("redis://:hunter2@127.0.0.1:6379/3");
  REQUIRE(good.value);
  CHECK(redact(*good.value) == "127.0.0.1:6379/3");
}
