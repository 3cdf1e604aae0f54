#include "persistence/migrations.hpp"

#include "tests/persistence/rendezvous.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using namespace sb::persistence;
using sb::testing::connect;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

// Test steps in the portable notation; step 2 also writes data, so that a
// step applied twice would show.
std::vector<migration> test_steps() {
  return {
      {1, "widgets",
       "CREATE TABLE widgets (\n  id {key} PRIMARY KEY,\n  price {real},\n  qty {bigint} NOT NULL\n"
       ");\nCREATE INDEX widgets_by_qty ON widgets (qty)"},
      {2, "gadgets",
       "CREATE TABLE gadgets (id {key} PRIMARY KEY, widget_id {key} REFERENCES widgets(id));\n"
       "INSERT INTO gadgets (id) VALUES ('seed');\n"},
  };
}

// Five steps that each append to a log table: every application shows up.
// Step 1 takes a while, so that a second migrator arrives while it runs.
std::vector<migration> logging_steps(sb::testing::database_kind kind) {
  std::string slow = kind == sb::testing::database_kind::postgresql
                         ? "SELECT pg_sleep(0.3)"
                         : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                           "WHERE x < 1500000) SELECT MAX(x) FROM c";
  std::vector<migration> steps{
      {1, "log", "CREATE TABLE applied_log (version {bigint} NOT NULL);\n" + slow}};
  for (int v = 2; v <= 5; ++v) {
    steps.push_back({v, "step " + std::to_string(v),
                     "INSERT INTO applied_log (version) VALUES (" + std::to_string(v) + ")"});
  }
  return steps;
}

int64_t count(connection& c, const std::string& sql) {
  return require_ok(c.query(sql))[0].int64(0);
}

}  // namespace

TEST_CASE("migrate applies every step once and records it") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());

  CHECK(require_ok(migrate(*c, test_steps())) == 2);

  auto recorded = require_ok(
      c->query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version"));
  REQUIRE(recorded.size() == 2);
  CHECK(recorded[0].int64(0) == 1);
  CHECK(recorded[0].text(1) == "widgets");
  CHECK(recorded[1].int64(0) == 2);
  CHECK(recorded[1].text(1) == "gadgets");
  CHECK(recorded[1].int64(2) > 1600000000);  // Unix seconds.

  // The rendered schema works: placeholders became real types.
  require_ok(c->execute("INSERT INTO widgets (id, price, qty) VALUES (?, ?, ?)",
                        {std::string{"w1"}, 9.5, int64_t{3}}));
  CHECK(count(*c, "SELECT COUNT(*) FROM gadgets") == 1);
}

TEST_CASE("migrate is idempotent on a second run") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());

  CHECK(require_ok(migrate(*c, test_steps())) == 2);
  CHECK(require_ok(migrate(*c, test_steps())) == 2);
  auto again = connect(db.connection_string());
  CHECK(require_ok(migrate(*again, test_steps())) == 2);

  CHECK(count(*c, "SELECT COUNT(*) FROM schema_migrations") == 2);
  CHECK(count(*c, "SELECT COUNT(*) FROM gadgets") == 1);
}

TEST_CASE("migrate applies only the steps newer than the recorded version") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  auto steps = test_steps();

  CHECK(require_ok(migrate(*c, {steps[0]})) == 1);
  CHECK(count(*c, "SELECT COUNT(*) FROM schema_migrations") == 1);
  CHECK(require_ok(migrate(*c, steps)) == 2);
  CHECK(count(*c, "SELECT COUNT(*) FROM schema_migrations") == 2);
}

TEST_CASE("migrate refuses a database whose recorded version is newer than any known step") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  auto steps = test_steps();
  require_ok(migrate(*c, steps));

  auto older_build = migrate(*c, {steps[0]});
  REQUIRE_FALSE(older_build);
  INFO(older_build.error().message);
  CHECK(older_build.error().code == db_errc::invalid);
  CHECK(older_build.error().message.find("version 2") != std::string::npos);
  CHECK(older_build.error().message.find("newer") != std::string::npos);
  CHECK(count(*c, "SELECT COUNT(*) FROM schema_migrations") == 2);
}

TEST_CASE("a failing step is rolled back and not recorded") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  auto steps = test_steps();
  steps.push_back({3, "broken", "CREATE TABLE partial (x {bigint});\nCREATE TABLE oops ("});

  auto res = migrate(*c, steps);
  REQUIRE_FALSE(res);
  INFO(res.error().message);
  CHECK(res.error().code == db_errc::invalid);
  CHECK(res.error().message.find("migration 3 (broken)") == 0);
  CHECK_FALSE(c->in_transaction());
  CHECK(count(*c, "SELECT MAX(version) FROM schema_migrations") == 2);

  // DDL is transactional on both: the first statement of step 3 is gone too.
  auto partial = c->query("SELECT COUNT(*) FROM partial");
  REQUIRE_FALSE(partial);
  CHECK(partial.error().code == db_errc::invalid);
}

TEST_CASE("migrate rejects steps that are not in ascending order") {
  auto c = connect(sb::testing::temp_sqlite_database());
  auto steps = test_steps();
  std::swap(steps[0], steps[1]);
  auto res = migrate(*c, steps);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::invalid);
}

TEST_CASE("two concurrent migrators apply each step exactly once") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  const auto steps = logging_steps(kind);

  struct outcome {
    std::unique_ptr<connection> conn;
    std::optional<db_result<int>> result;
    bool met = true;
  };
  std::vector<outcome> migrators(2);
  for (auto& m : migrators) {
    m.conn = connect(db.connection_string());
  }

  // With the bookkeeping table in place beforehand, both migrators read
  // version 0 and race for step 1 itself.
  CHECK(require_ok(migrate(*migrators[0].conn, {})) == 0);
  sb::testing::rendezvous start{2};
  std::vector<std::thread> threads;
  for (auto& m : migrators) {
    threads.emplace_back([&m, &start, &steps] {
      m.met = start.arrive_and_wait(std::chrono::seconds{10});
      m.result = migrate(*m.conn, steps);
    });
  }
  for (auto& t : threads) {
    t.join();
  }

  for (auto& m : migrators) {
    CHECK(m.met);
    REQUIRE(m.result.has_value());
    if (!*m.result) {
      FAIL_CHECK(m.result->error().message);
      continue;
    }
    CHECK(**m.result == 5);
  }
  auto c = connect(db.connection_string());
  CHECK(count(*c, "SELECT COUNT(*) FROM schema_migrations") == 5);
  CHECK(count(*c, "SELECT COUNT(*) FROM applied_log") == 4);
  CHECK(count(*c, "SELECT COUNT(DISTINCT version) FROM applied_log") == 4);
}
