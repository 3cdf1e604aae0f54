#include "persistence/connection.hpp"

#include "persistence/odbc/connection_string.hpp"
#include "tests/persistence/rendezvous.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace sb::persistence;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

void make_schema(connection& c, std::string_view ddl) {
  require_ok(c.execute_script(render_ddl(c.dialect(), ddl)));
}

// A counters table with rows (1, 0) and (2, 0).
void make_counters(connection& c) {
  make_schema(c, "CREATE TABLE counters (id {bigint} PRIMARY KEY, n {bigint} NOT NULL)");
  require_ok(c.execute("INSERT INTO counters (id, n) VALUES (1, 0), (2, 0)"));
}

int64_t counter(connection& c, int64_t id) {
  auto rows = require_ok(c.query("SELECT n FROM counters WHERE id = ?", {id}));
  REQUIRE(rows.size() == 1);
  return rows[0].int64(0);
}

// A connection that gives up on a held lock quickly: SQLite's busy timeout
// (the driver's Timeout=, in ms), PostgreSQL's lock_timeout.
std::unique_ptr<connection> impatient_connection(const test_database& db) {
  if (db.kind() == database_kind::sqlite) {
    return connect(odbc::with_attribute(db.connection_string(), "Timeout", "50"));
  }
  auto c = connect(db.connection_string());
  require_ok(c->execute("SET lock_timeout = '100ms'"));
  return c;
}

// Counts UTF-8 code points: every byte that does not continue a sequence.
int64_t code_points(const std::string& x) {
  return std::count_if(x.begin(), x.end(), [](char ch) { return (ch & 0xC0) != 0x80; });
}

bool is_true(const std::string& x) {
  return x == "1" || x == "t" || x == "true";
}

}  // namespace

TEST_CASE("a connection detects the dialect of its database") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());

  auto expected = kind == database_kind::sqlite ? dialect::sqlite : dialect::postgresql;
  CHECK(c->dialect() == expected);
  CHECK_FALSE(c->broken());
  CHECK_FALSE(c->in_transaction());
  CHECK(c->ping());
}

TEST_CASE("parameters bind NULL, integers, doubles and text and read back unchanged") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_schema(*c, "CREATE TABLE t (id {bigint} PRIMARY KEY, i {bigint}, r {real}, s {text})");

  const std::string unicode = "Grüße, Ærøskøbing, 世界, 🎉";
  const std::string hostile = "x'); DROP TABLE t; --";
  const int64_t big = std::numeric_limits<int64_t>::max();
  const int64_t small = std::numeric_limits<int64_t>::min();
  const std::string sql = "INSERT INTO t (id, i, r, s) VALUES (?, ?, ?, ?)";
  require_ok(c->execute(sql, {int64_t{1}, param{}, param{}, param{}}));
  require_ok(c->execute(sql, {int64_t{2}, big, 3.25, std::string{"plain"}}));
  require_ok(c->execute(sql, {int64_t{3}, small, -0.5, unicode}));
  require_ok(c->execute(sql, {int64_t{4}, int64_t{0}, 0.0, std::string{}}));
  require_ok(c->execute(sql, {int64_t{5}, int64_t{-1}, 1e-300, hostile}));

  auto rows = require_ok(c->query("SELECT id, i, r, s FROM t ORDER BY id"));
  REQUIRE(rows.size() == 5);

  CHECK(rows[0].is_null(1));
  CHECK(rows[0].is_null(2));
  CHECK(rows[0].is_null(3));
  CHECK(rows[0].int64(1) == 0);
  CHECK(rows[0].text(3).empty());
  CHECK_FALSE(rows[0].opt_text(3).has_value());

  CHECK(rows[1].int64(1) == big);
  CHECK(rows[1].real(2) == 3.25);
  CHECK(rows[1].text(3) == "plain");

  CHECK(rows[2].int64(1) == small);
  CHECK(rows[2].real(2) == -0.5);
  CHECK(rows[2].text(3) == unicode);

  CHECK(rows[3].int64(1) == 0);
  CHECK(rows[3].real(2) == 0.0);
  CHECK_FALSE(rows[3].is_null(3));
  CHECK(rows[3].text(3).empty());

  CHECK(rows[4].real(2) == Approx(1e-300));
  CHECK(rows[4].text(3) == hostile);

  // The server stored characters, not re-encoded bytes.
  auto length = require_ok(c->query("SELECT LENGTH(s) FROM t WHERE id = 3"));
  CHECK(length[0].int64(0) == code_points(unicode));

  // Unicode also matches as a bound comparison value, and NULL matches nothing.
  auto found = require_ok(c->query("SELECT id FROM t WHERE s = ?", {unicode}));
  REQUIRE(found.size() == 1);
  CHECK(found[0].int64(0) == 3);
  CHECK(require_ok(c->query("SELECT id FROM t WHERE s = ?", {param{}})).empty());
}

TEST_CASE("a 100 KB text value is bound and fetched whole") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_schema(*c, "CREATE TABLE docs (id {bigint} PRIMARY KEY, body {text} NOT NULL)");

  // Multi-byte characters make the fetch chunks split UTF-8 sequences.
  std::string body;
  for (int i = 0; body.size() < 100 * 1024; ++i) {
    body += "line " + std::to_string(i) + ": naïve café €; ";
  }
  require_ok(c->execute("INSERT INTO docs (id, body) VALUES (?, ?)", {int64_t{1}, body}));

  auto rows =
      require_ok(c->query("SELECT body, LENGTH(body) FROM docs WHERE id = ?", {int64_t{1}}));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].text(0).size() == body.size());
  CHECK(rows[0].text(0) == body);
  CHECK(rows[0].int64(1) == code_points(body));
}

TEST_CASE("a prepared statement is reused for the same SQL text") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_counters(*c);
  const auto before = c->cached_statements();

  const std::string sql = "UPDATE counters SET n = n + ? WHERE id = ?";
  for (int64_t i = 1; i <= 3; ++i) {
    CHECK(require_ok(c->execute(sql, {i, int64_t{1}})) == 1);
  }
  CHECK(c->cached_statements() == before + 1);

  // New parameters on the reused statement take effect each time.
  CHECK(counter(*c, 1) == 6);
  CHECK(counter(*c, 2) == 0);
  CHECK(c->cached_statements() == before + 2);
}

TEST_CASE("query_each stops when the callback returns false") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_schema(*c, "CREATE TABLE nums (n {bigint} PRIMARY KEY)");
  for (int64_t i = 1; i <= 10; ++i) {
    require_ok(c->execute("INSERT INTO nums (n) VALUES (?)", {i}));
  }

  const std::string sql = "SELECT n FROM nums WHERE n > ? ORDER BY n";
  std::vector<int64_t> seen;
  require_ok(c->query_each(sql, {int64_t{0}}, [&seen](const row& r) {
    seen.push_back(r.int64(0));
    return seen.size() < 3;
  }));
  CHECK(seen == std::vector<int64_t>{1, 2, 3});

  // The abandoned cursor was closed: the same statement runs again in full.
  auto all = require_ok(c->query(sql, {int64_t{0}}));
  CHECK(all.size() == 10);
}

TEST_CASE("constraint violations are reported as conflict") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_schema(*c,
              "CREATE TABLE parents (id {key} PRIMARY KEY);\n"
              "CREATE TABLE kids (id {key} PRIMARY KEY, parent {key} NOT NULL REFERENCES "
              "parents(id), age {bigint} CHECK (age >= 0))");
  require_ok(c->execute("INSERT INTO parents (id) VALUES (?)", {std::string{"p1"}}));

  SECTION("unique") {
    auto dup = c->execute("INSERT INTO parents (id) VALUES (?)", {std::string{"p1"}});
    REQUIRE_FALSE(dup);
    INFO(dup.error().message);
    CHECK(dup.error().code == db_errc::conflict);
  }
  SECTION("foreign key") {
    auto orphan = c->execute("INSERT INTO kids (id, parent, age) VALUES (?, ?, ?)",
                             {std::string{"k1"}, std::string{"nobody"}, int64_t{3}});
    REQUIRE_FALSE(orphan);
    INFO(orphan.error().message);
    CHECK(orphan.error().code == db_errc::conflict);
  }
  SECTION("not null") {
    auto missing = c->execute("INSERT INTO kids (id, parent, age) VALUES (?, ?, ?)",
                              {std::string{"k1"}, param{}, int64_t{3}});
    REQUIRE_FALSE(missing);
    INFO(missing.error().message);
    CHECK(missing.error().code == db_errc::conflict);
  }
  SECTION("check") {
    auto negative = c->execute("INSERT INTO kids (id, parent, age) VALUES (?, ?, ?)",
                               {std::string{"k1"}, std::string{"p1"}, int64_t{-1}});
    REQUIRE_FALSE(negative);
    INFO(negative.error().message);
    CHECK(negative.error().code == db_errc::conflict);
  }

  // The connection stays usable after a rejected write.
  CHECK_FALSE(c->broken());
  CHECK(require_ok(c->query("SELECT id FROM parents")).size() == 1);
}

TEST_CASE("bad SQL is reported as invalid") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());

  auto syntax = c->query("SELEKT 1");
  REQUIRE_FALSE(syntax);
  INFO(syntax.error().message);
  CHECK(syntax.error().code == db_errc::invalid);

  auto missing = c->execute("UPDATE no_such_table SET x = ?", {int64_t{1}});
  REQUIRE_FALSE(missing);
  INFO(missing.error().message);
  CHECK(missing.error().code == db_errc::invalid);

  CHECK_FALSE(c->broken());
  CHECK(c->ping());
}

TEST_CASE("execute reports affected rows, zero when nothing matched") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_counters(*c);

  CHECK(require_ok(c->execute("UPDATE counters SET n = 5")) == 2);
  CHECK(require_ok(c->execute("UPDATE counters SET n = 6 WHERE id = ?", {int64_t{99}})) == 0);
  CHECK(require_ok(c->execute("DELETE FROM counters WHERE id = ?", {int64_t{2}})) == 1);
}

TEST_CASE("execute_script runs every statement of a script") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());

  require_ok(
      c->execute_script("CREATE TABLE a (x INTEGER);\nINSERT INTO a (x) VALUES (1);\n\nINSERT INTO "
                        "a (x) VALUES (2);\n"));
  auto rows = require_ok(c->query("SELECT COUNT(*) FROM a"));
  CHECK(rows[0].int64(0) == 2);

  auto bad = c->execute_script("INSERT INTO a (x) VALUES (3);\nINSERT INTO nope VALUES (4)");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == db_errc::invalid);
  CHECK(bad.error().message.find("script statement 2") != std::string::npos);
}

TEST_CASE("a committed transaction is kept and a rolled back one is gone") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  auto other = connect(db.connection_string());
  make_counters(*c);

  require_ok(c->begin());
  CHECK(c->in_transaction());
  require_ok(c->execute("UPDATE counters SET n = 1 WHERE id = 1"));
  require_ok(c->commit());
  CHECK_FALSE(c->in_transaction());
  CHECK(counter(*other, 1) == 1);

  require_ok(c->begin());
  require_ok(c->execute("UPDATE counters SET n = 2 WHERE id = 1"));
  require_ok(c->execute("DELETE FROM counters WHERE id = 2"));
  CHECK(counter(*c, 1) == 2);
  c->rollback();
  CHECK_FALSE(c->in_transaction());
  CHECK(counter(*c, 1) == 1);
  CHECK(counter(*other, 1) == 1);
  CHECK(require_ok(c->query("SELECT id FROM counters WHERE id = 2")).size() == 1);

  // After the rollback the connection is back in auto-commit mode.
  require_ok(c->execute("UPDATE counters SET n = 3 WHERE id = 1"));
  CHECK(counter(*other, 1) == 3);
}

TEST_CASE("in_transaction rolls back when the body fails") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto c = connect(db.connection_string());
  make_counters(*c);

  int attempts = 0;
  auto res = in_transaction(*c, [&attempts](connection& t) -> db_result<int64_t> {
    ++attempts;
    auto r = t.execute("UPDATE counters SET n = 7 WHERE id = 1");
    if (!r) {
      return r;
    }
    return t.execute("INSERT INTO counters (id, n) VALUES (2, 0)");  // Duplicate key.
  });
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::conflict);
  CHECK(attempts == 1);  // Conflicts are not retried.
  CHECK_FALSE(c->in_transaction());
  CHECK(counter(*c, 1) == 0);
}

TEST_CASE("a SQLite transaction takes the write lock when it begins") {
  // BEGIN IMMEDIATE: a second writer is turned away at begin(), before it
  // could read a snapshot that a later write would find stale.
  test_database db{database_kind::sqlite};
  auto holder = connect(db.connection_string());
  make_counters(*holder);
  auto waiter = impatient_connection(db);

  require_ok(holder->begin());
  require_ok(holder->execute("UPDATE counters SET n = n + 1 WHERE id = 1"));
  auto refused = waiter->begin();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == db_errc::transient);
  CHECK_FALSE(waiter->in_transaction());
  require_ok(holder->commit());

  int attempts = 0;
  auto res = in_transaction(*waiter, [&](connection& t) -> db_result<int64_t> {
    ++attempts;
    if (auto seen = t.query("SELECT n FROM counters WHERE id = 1"); !seen) {
      return seen.error();
    }
    return t.execute("UPDATE counters SET n = n + 10 WHERE id = 1");
  });
  REQUIRE(res);
  CHECK(attempts == 1);
  CHECK(counter(*holder, 1) == 11);
}

TEST_CASE("in_transaction retries a transaction that failed on a held lock") {
  // On SQLite the lock is taken at begin(); the test above covers it.
  auto kind = database_kind::postgresql;
  CAPTURE(kind);
  test_database db{kind};
  auto holder = connect(db.connection_string());
  make_counters(*holder);
  auto waiter = impatient_connection(db);

  // The holder keeps a write lock (SQLite: the database's only one;
  // PostgreSQL: row 1) until the waiter's first attempt has failed.
  require_ok(holder->begin());
  require_ok(holder->execute("UPDATE counters SET n = n + 1 WHERE id = 1"));

  int attempts = 0;
  std::vector<db_error> errors;
  auto res = in_transaction(*waiter, [&](connection& t) -> db_result<int64_t> {
    ++attempts;
    auto r = t.execute("UPDATE counters SET n = n + 10 WHERE id = 1");
    if (!r) {
      errors.push_back(r.error());
      if (attempts == 1) {
        require_ok(holder->commit());
      }
    }
    return r;
  });

  REQUIRE(errors.size() == 1);
  INFO(errors[0].message);
  CHECK(errors[0].code == db_errc::transient);
  REQUIRE(res);
  CHECK(*res == 1);
  CHECK(attempts == 2);
  CHECK(counter(*holder, 1) == 11);
}

TEST_CASE("in_transaction retries the loser of two conflicting transactions on two threads") {
  // PostgreSQL only: each transaction locks its first row, then wants the
  // other's, and the deadlock detector aborts one (40P01). SQLite serialises
  // writers at begin() instead; see the test above.
  test_database db{database_kind::postgresql};
  make_counters(*connect(db.connection_string()));

  auto worker_connection = [&db] {
    auto c = connect(db.connection_string());
    require_ok(c->execute("SET deadlock_timeout = '100ms'"));
    return c;
  };
  struct outcome {
    std::unique_ptr<connection> conn;
    std::optional<db_result<int64_t>> result;
    int attempts = 0;
    std::vector<db_error> errors;
    bool met = true;
  };
  outcome x;
  outcome y;
  x.conn = worker_connection();
  y.conn = worker_connection();
  sb::testing::rendezvous meet{2};

  auto run = [&meet](outcome& out, int64_t first, int64_t second) {
    auto body = [&](connection& t) -> db_result<int64_t> {
      ++out.attempts;
      auto record = [&out](db_error e) {
        out.errors.push_back(e);
        return e;
      };
      if (auto r = t.execute("UPDATE counters SET n = n + 1 WHERE id = ?", {first}); !r) {
        return record(r.error());
      }
      if (out.attempts == 1 && !meet.arrive_and_wait(std::chrono::seconds{10})) {
        out.met = false;
      }
      auto r = t.execute("UPDATE counters SET n = n + 1 WHERE id = ?", {second});
      if (!r) {
        return record(r.error());
      }
      return r;
    };
    out.result = in_transaction(*out.conn, body);
  };
  std::thread tx{[&] { run(x, 1, 2); }};
  std::thread ty{[&] { run(y, 2, 1); }};
  tx.join();
  ty.join();

  CHECK(x.met);
  CHECK(y.met);
  // The deadlock aborts one of them; its retry may meet a lock once more
  // while the winner commits, so count only that failures were transient
  // and retried.
  std::vector<db_error> errors = x.errors;
  errors.insert(errors.end(), y.errors.begin(), y.errors.end());
  REQUIRE_FALSE(errors.empty());
  for (const auto& e : errors) {
    INFO(e.message);
    CHECK(e.code == db_errc::transient);
  }
  CHECK(x.attempts + y.attempts == 2 + static_cast<int>(errors.size()));
  REQUIRE(x.result.has_value());
  REQUIRE(y.result.has_value());
  CHECK(static_cast<bool>(*x.result));
  CHECK(static_cast<bool>(*y.result));
  auto check = connect(db.connection_string());
  CHECK(counter(*check, 1) == 2);
  CHECK(counter(*check, 2) == 2);
}

TEST_CASE("with_retry retries a single statement on transient errors only") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto holder = connect(db.connection_string());
  make_counters(*holder);
  auto waiter = impatient_connection(db);
  const std::string bump = "UPDATE counters SET n = n + 1 WHERE id = 1";
  int calls = 0;

  SECTION("succeeds once the lock is released") {
    require_ok(holder->begin());
    require_ok(holder->execute(bump));
    auto res = with_retry([&] {
      if (++calls == 2) {
        require_ok(holder->commit());
      }
      return waiter->execute(bump);
    });
    REQUIRE(res);
    CHECK(calls == 2);
    CHECK(counter(*holder, 1) == 2);
  }
  SECTION("gives up after the given number of attempts") {
    require_ok(holder->begin());
    require_ok(holder->execute(bump));
    auto res = with_retry(
        [&] {
          ++calls;
          return waiter->execute(bump);
        },
        2);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == db_errc::transient);
    CHECK(calls == 2);
    holder->rollback();
  }
  SECTION("does not retry other errors") {
    auto res = with_retry([&] {
      ++calls;
      return waiter->execute("UPDATE no_such_table SET n = 1");
    });
    REQUIRE_FALSE(res);
    CHECK(res.error().code == db_errc::invalid);
    CHECK(calls == 1);
  }
}

TEST_CASE("a SQLite connection uses WAL, foreign keys and the busy timeout") {
  auto cs = sb::testing::temp_sqlite_database();
  auto c = connect(cs);
  CHECK(require_ok(c->query("PRAGMA journal_mode"))[0].text(0) == "wal");
  CHECK(require_ok(c->query("PRAGMA foreign_keys"))[0].int64(0) == 1);
  CHECK(require_ok(c->query("PRAGMA busy_timeout"))[0].int64(0) == 5000);

  // A Timeout= in the connection string sets the busy timeout instead.
  auto quick = connect(odbc::with_attribute(cs, "Timeout", "250"));
  CHECK(require_ok(quick->query("PRAGMA busy_timeout"))[0].int64(0) == 250);
}

TEST_CASE("connecting to a closed port fails as unavailable with a clear message") {
  auto res = connection::open(sb::testing::closed_port_postgres(), std::chrono::seconds{2});
  REQUIRE_FALSE(res);
  INFO(res.error().message);
  CHECK(res.error().code == db_errc::unavailable);
  CHECK(res.error().message.find("connect failed") == 0);
  CHECK(res.error().message.find("refused") != std::string::npos);
  CHECK(res.error().message.find("Pwd") == std::string::npos);
}

TEST_CASE("a server that never answers fails the connect after the login timeout") {
  // A socket that listens but never accepts: the kernel completes the TCP
  // handshake, and then no PostgreSQL greeting ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto cs =
      "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=" + std::to_string(ntohs(addr.sin_port)) +
      ";Database=postgres;Uid=nobody;Pwd=x";

  auto start = std::chrono::steady_clock::now();
  auto res = connection::open(cs, std::chrono::seconds{1});
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);

  REQUIRE_FALSE(res);
  INFO(res.error().message);
  CHECK(res.error().code == db_errc::unavailable);
  CHECK(took >= std::chrono::milliseconds{900});
  CHECK(took < std::chrono::seconds{10});
}

TEST_CASE("opening a SQLite database in a missing directory fails as unavailable") {
  auto res = connection::open("Driver=SQLite3;Database=/nonexistent-sb-dir/x/test.db",
                              std::chrono::seconds{2});
  REQUIRE_FALSE(res);
  INFO(res.error().message);
  CHECK(res.error().code == db_errc::unavailable);
}

TEST_CASE("a PostgreSQL connection whose backend was killed reports unavailable and broken",
          "[postgresql]") {
  sb::testing::temp_postgres_database pg;
  auto victim = connect(pg.connection_string());
  auto admin = connect(pg.connection_string());
  auto pid = require_ok(victim->query("SELECT pg_backend_pid()"))[0].int64(0);

  // The timeout makes pg_terminate_backend wait until the backend is gone.
  auto killed =
      require_ok(admin->query("SELECT pg_terminate_backend(CAST(? AS INTEGER), 5000)", {pid}));
  REQUIRE(is_true(killed[0].text(0)));

  auto res = victim->query("SELECT 1");
  REQUIRE_FALSE(res);
  INFO(res.error().sqlstate << " " << res.error().message);
  CHECK(res.error().code == db_errc::unavailable);
  CHECK(victim->broken());
  CHECK_FALSE(victim->ping());
  CHECK(victim->execute("SELECT 1").error().code == db_errc::unavailable);
}

TEST_CASE("a query whose UPDATE ... RETURNING matches nothing yields no rows") {
  // PostgreSQL only: the SQLite ODBC driver cannot fetch RETURNING rows.
  test_database db{database_kind::postgresql};
  auto c = connect(db.connection_string());
  make_counters(*c);
  auto none = require_ok(c->query("UPDATE counters SET n = n + 1 WHERE id = ? RETURNING n", {99}));
  CHECK(none.empty());
  auto one = require_ok(c->query("UPDATE counters SET n = n + 1 WHERE id = ? RETURNING n", {1}));
  REQUIRE(one.size() == 1);
  CHECK(one[0].int64(0) == 1);
}
