#pragma once

// Real databases for tests: a fresh SQLite file or a fresh PostgreSQL
// database per test, and a generator that runs a test on both.

#include "persistence/connection.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>

namespace sb::testing {

/// A fresh SQLite database file in its own temporary directory, removed when
/// the test program exits; returns its ODBC connection string.
std::string temp_sqlite_database();

/// A fresh PostgreSQL database on the server named by SB_TEST_POSTGRES,
/// dropped (WITH (FORCE)) when destroyed. Fails the running test when
/// SB_TEST_POSTGRES is unset, so PostgreSQL coverage is never silently lost.
class temp_postgres_database {
 public:
  temp_postgres_database();
  ~temp_postgres_database();
  temp_postgres_database(const temp_postgres_database&) = delete;
  temp_postgres_database& operator=(const temp_postgres_database&) = delete;

  /// The ODBC connection string of the new database.
  const std::string& connection_string() const { return connection_string_; }

  /// The database's name.
  const std::string& name() const { return name_; }

 private:
  std::unique_ptr<persistence::connection> admin_;
  std::string name_;
  std::string connection_string_;
};

/// The ODBC connection string in SB_TEST_POSTGRES (a superuser on database
/// "postgres"); fails the running test when it is unset.
std::string postgres_server();

/// Opens a connection or fails the running test with the database's error.
std::unique_ptr<persistence::connection> connect(const std::string& connection_string);

/// The value of `r`, or fails the running test with the database's error.
template <class T>
T require_ok(persistence::db_result<T> r) {
  if (!r) {
    FAIL(persistence::to_string(r.error().code)
         << " [" << r.error().sqlstate << "]: " << r.error().message);
  }
  return std::move(*r);
}

/// A connection string for a PostgreSQL server that is certainly not there:
/// a 127.0.0.1 port that was free a moment ago.
std::string closed_port_postgres();

/// The plan of `sql` as text, one step per line. On PostgreSQL sequential
/// scans are priced out first, so a "Seq Scan" shows only where no index can
/// serve the query; on SQLite a full scan reads "SCAN <table>".
std::string query_plan(persistence::connection& conn, const std::string& sql);

/// The kinds of database every persistence test runs on.
enum class database_kind { sqlite, postgresql };

/// Names the kind ("sqlite", "postgresql").
const char* to_string(database_kind k);

/// Generates each kind in turn: `auto kind = GENERATE(each_database());`.
Catch::Generators::GeneratorWrapper<database_kind> each_database();

/// A fresh, empty database of one kind; PostgreSQL ones are dropped afterwards.
class test_database {
 public:
  explicit test_database(database_kind kind);

  /// The ODBC connection string of the database.
  const std::string& connection_string() const { return connection_string_; }

  /// The kind of database.
  database_kind kind() const { return kind_; }

 private:
  database_kind kind_;
  std::optional<temp_postgres_database> postgres_;
  std::string connection_string_;
};

/// A fresh database of one kind with the product schema applied, a
/// connection to it, and the rows that most other rows hang off.
struct migrated_database {
  explicit migrated_database(database_kind kind);

  /// Inserts a workspace named `name`, created at `created_at` (Unix ms).
  void add_workspace(const std::string& id, const std::string& name = "W", int64_t created_at = 0);

  /// Inserts a user with the email "<id>@example.com".
  void add_user(const std::string& id);

  test_database db;
  std::unique_ptr<persistence::connection> conn;
};

}  // namespace sb::testing

namespace Catch {

/// Prints a database kind in CAPTURE and failure messages.
template <>
struct StringMaker<sb::testing::database_kind> {
  static std::string convert(sb::testing::database_kind k) { return sb::testing::to_string(k); }
};

}  // namespace Catch
