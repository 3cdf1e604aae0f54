// Timestamps as clients send them: RFC 3339 text, full dates, Unix ms.

#include "actors/reports/timestamps.hpp"

#include <catch2/catch.hpp>

using sb::actors::reports::parse_rfc3339;
using sb::actors::reports::read_timestamp;

TEST_CASE("RFC 3339 timestamps parse to Unix milliseconds") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339("2026-01-01") == 1767225600000);
  CHECK(parse_rfc3339("2026-01-01T00:00:00.5Z") == 1767225600500);
  CHECK(parse_rfc3339("2026-01-01T00:00:00.123456Z") == 1767225600123);
  CHECK(parse_rfc3339("2026-01-01t02:00:00+02:00") == 1767225600000);
  CHECK(parse_rfc3339("2025-12-31T19:00:00-05:00") == 1767225600000);
  CHECK(parse_rfc3339("2024-02-29T12:00:00Z") == 1709208000000);
}

TEST_CASE("malformed or impossible timestamps are refused") {
  for (const char* bad :
       {"", "2026", "2026-13-01", "2025-02-29", "2026-01-01T24:00:00Z", "2026-01-01T10:00Z",
        "2026-01-01T10:00:00", "2026-01-01T10:00:00.Z", "2026-01-01T10:00:00+0200",
        "2026-01-01 10:00:00Z", "2026-01-01T10:00:00Zjunk"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}

TEST_CASE("timestamp fields take text or non-negative integers up to year 9999") {
  CHECK(read_timestamp(nlohmann::json(1767225600000)) == 1767225600000);
  CHECK(read_timestamp(nlohmann::json("2026-01-01")) == 1767225600000);
  CHECK_FALSE(read_timestamp(nlohmann::json(-1)));
  CHECK_FALSE(read_timestamp(nlohmann::json(253402300800000)));
  CHECK_FALSE(read_timestamp(nlohmann::json(1.5)));
  CHECK_FALSE(read_timestamp(nlohmann::json(nullptr)));
  CHECK_FALSE(read_timestamp(nlohmann::json("yesterday")));
}
