#include "persistence/odbc/connection_string.hpp"

#include <catch2/catch.hpp>

using namespace sb::persistence::odbc;

TEST_CASE("attribute finds a key case-insensitively and unwraps braces") {
  const std::string cs = "Driver={PostgreSQL Unicode};Server=127.0.0.1;pwd={a;b=c};Port=5432";
  CHECK(attribute(cs, "driver") == "PostgreSQL Unicode");
  CHECK(attribute(cs, "PWD") == "a;b=c");
  CHECK(attribute(cs, "Port") == "5432");
  CHECK_FALSE(attribute(cs, "Database").has_value());
}

TEST_CASE("with_attribute replaces an existing key and appends a missing one") {
  const std::string cs = "Driver=PostgreSQL Unicode;Database=postgres;Pwd={x;y}";
  CHECK(with_attribute(cs, "database", "other") ==
        "Driver=PostgreSQL Unicode;Database=other;Pwd={x;y}");
  CHECK(with_attribute("Driver=SQLite3;Database=/tmp/a.db;", "Timeout", "50") ==
        "Driver=SQLite3;Database=/tmp/a.db;Timeout=50");
  CHECK(with_attribute("", "Driver", "SQLite3") == "Driver=SQLite3");
}
