#include "persistence/dialect.hpp"

#include "persistence/result.hpp"

#include <catch2/catch.hpp>

using namespace sb::persistence;

TEST_CASE("dialects and error classes have stable names") {
  CHECK(std::string{to_string(dialect::sqlite)} == "sqlite");
  CHECK(std::string{to_string(dialect::postgresql)} == "postgresql");
  CHECK(std::string{to_string(db_errc::unavailable)} == "unavailable");
  CHECK(std::string{to_string(db_errc::transient)} == "transient");
  CHECK(std::string{to_string(db_errc::conflict)} == "conflict");
  CHECK(std::string{to_string(db_errc::invalid)} == "invalid");
  CHECK(std::string{to_string(db_errc::timeout)} == "timeout");
  CHECK(std::string{to_string(db_errc::internal)} == "internal");
}

TEST_CASE("render_ddl turns the portable placeholders into each dialect's types") {
  const std::string ddl =
      "CREATE TABLE t (id {key} PRIMARY KEY, n {bigint}, r {real}, b {blob}, s {text})";
  CHECK(render_ddl(dialect::sqlite, ddl) ==
        "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, r REAL, b BLOB, s TEXT)");
  CHECK(render_ddl(dialect::postgresql, ddl) ==
        "CREATE TABLE t (id TEXT COLLATE \"C\" PRIMARY KEY, n BIGINT, r DOUBLE PRECISION, "
        "b BYTEA, s TEXT)");
}

TEST_CASE("render_ddl keeps braces that are not placeholders") {
  CHECK(render_ddl(dialect::postgresql, "INSERT INTO j VALUES ('{\"a\": 1}')") ==
        "INSERT INTO j VALUES ('{\"a\": 1}')");
  CHECK(render_ddl(dialect::sqlite, "x {unknown} {key}") == "x {unknown} TEXT");
  CHECK(render_ddl(dialect::sqlite, "{ {text}") == "{ TEXT");
  CHECK(render_ddl(dialect::sqlite, "open { only") == "open { only");
  CHECK(render_ddl(dialect::sqlite, "") == "");
}
