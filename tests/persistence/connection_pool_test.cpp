#include "persistence/connection_pool.hpp"

#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using namespace sb::persistence;
using namespace std::chrono_literals;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

pool_options options_for(std::string cs, size_t max_size,
                         std::chrono::milliseconds acquire_timeout = 5000ms) {
  pool_options o;
  o.connection_string = std::move(cs);
  o.max_size = max_size;
  o.login_timeout = std::chrono::seconds{5};
  o.acquire_timeout = acquire_timeout;
  return o;
}

int64_t backend_pid(connection& c) {
  return require_ok(c.query("SELECT pg_backend_pid()"))[0].int64(0);
}

// Ends a PostgreSQL backend and waits until it is gone.
void kill_backend(connection& admin, int64_t pid) {
  auto rows =
      require_ok(admin.query("SELECT pg_terminate_backend(CAST(? AS INTEGER), 5000)", {pid}));
  REQUIRE((rows[0].text(0) == "1" || rows[0].text(0) == "t"));
}

}  // namespace

TEST_CASE("the pool opens connections lazily and lends a returned one again") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  connection_pool pool{options_for(db.connection_string(), 2)};
  CHECK(pool.open_count() == 0);

  connection* first = nullptr;
  {
    auto lease = require_ok(pool.acquire());
    first = &*lease;
    CHECK(pool.open_count() == 1);
    CHECK(pool.dialect() ==
          (kind == database_kind::sqlite ? dialect::sqlite : dialect::postgresql));
  }
  {
    auto lease = require_ok(pool.acquire());
    CHECK(&*lease == first);
    CHECK(lease->ping());
  }
  CHECK(pool.open_count() == 1);
}

TEST_CASE("the pool opens at most max_size connections and the next acquire times out") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  connection_pool pool{options_for(db.connection_string(), 2, 200ms)};

  std::optional<connection_pool::lease> a{require_ok(pool.acquire())};
  std::optional<connection_pool::lease> b{require_ok(pool.acquire())};
  CHECK(pool.open_count() == 2);

  auto start = std::chrono::steady_clock::now();
  auto third = pool.acquire();
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(third);
  INFO(third.error().message);
  CHECK(third.error().code == db_errc::unavailable);
  CHECK(third.error().message.find("no free connection") != std::string::npos);
  CHECK(waited >= 200ms);
  CHECK(pool.open_count() == 2);

  // Once one comes back it is lent again without opening another.
  a.reset();
  auto again = pool.acquire();
  REQUIRE(again);
  CHECK(pool.open_count() == 2);
}

TEST_CASE("a waiting acquire gets the connection another caller returns") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  connection_pool pool{options_for(db.connection_string(), 1, 10000ms)};
  std::optional<connection_pool::lease> held{require_ok(pool.acquire())};

  std::atomic<bool> got{false};
  std::thread waiter{[&] {
    auto lease = pool.acquire();
    got = static_cast<bool>(lease) && (*lease)->ping();
  }};

  // Wait (with a deadline) until the other thread is blocked in acquire.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (pool.waiting_count() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  CHECK(pool.waiting_count() == 1);
  held.reset();
  waiter.join();

  CHECK(got);
  CHECK(pool.waiting_count() == 0);
  CHECK(pool.open_count() == 1);
}

TEST_CASE("a lease dropped inside a transaction is rolled back before it is lent again") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  connection_pool pool{options_for(db.connection_string(), 1)};
  {
    auto lease = require_ok(pool.acquire());
    require_ok(lease->execute_script("CREATE TABLE t (x INTEGER);\nINSERT INTO t (x) VALUES (0)"));
    require_ok(lease->begin());
    require_ok(lease->execute("UPDATE t SET x = 5"));
  }
  auto lease = require_ok(pool.acquire());
  CHECK_FALSE(lease->in_transaction());
  CHECK(require_ok(lease->query("SELECT x FROM t"))[0].int64(0) == 0);
}

TEST_CASE("threads sharing a small pool never hold more than max_size connections") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  connection_pool pool{options_for(db.connection_string(), 2, 10000ms)};

  std::atomic<int> in_use{0};
  std::atomic<int> most{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto lease = pool.acquire();
        if (!lease || !(*lease)->ping()) {
          ++failures;
          continue;
        }
        int now = ++in_use;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --in_use;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(failures == 0);
  CHECK(most <= 2);
  CHECK(pool.open_count() <= 2);
}

TEST_CASE("a connect failure is returned by acquire and frees the slot") {
  connection_pool pool{options_for(sb::testing::closed_port_postgres(), 1, 200ms)};
  for (int i = 0; i < 2; ++i) {
    auto lease = pool.acquire();
    REQUIRE_FALSE(lease);
    INFO(lease.error().message);
    CHECK(lease.error().code == db_errc::unavailable);
    CHECK(lease.error().message.find("connect failed") == 0);
    CHECK(pool.open_count() == 0);
  }
}

TEST_CASE("the pool drops a connection that broke and opens a fresh one", "[postgresql]") {
  sb::testing::temp_postgres_database pg;
  connection_pool pool{options_for(pg.connection_string(), 2)};
  auto admin = connect(pg.connection_string());

  int64_t old_pid = 0;
  {
    auto lease = require_ok(pool.acquire());
    old_pid = backend_pid(*lease);
  }
  kill_backend(*admin, old_pid);

  // Idle for less than the idle check, so it is lent unchecked and the
  // borrower sees the loss.
  {
    auto lease = require_ok(pool.acquire());
    auto res = lease->query("SELECT 1");
    REQUIRE_FALSE(res);
    INFO(res.error().sqlstate << " " << res.error().message);
    CHECK(res.error().code == db_errc::unavailable);
    CHECK(lease->broken());
  }
  CHECK(pool.open_count() == 0);

  auto lease = require_ok(pool.acquire());
  CHECK(backend_pid(*lease) != old_pid);
  CHECK_FALSE(lease->broken());
  CHECK(pool.open_count() == 1);
}

TEST_CASE("the pool pings a connection idle past the idle check and replaces it if dead",
          "[postgresql]") {
  sb::testing::temp_postgres_database pg;
  auto options = options_for(pg.connection_string(), 2);
  options.idle_check = 0ms;  // Every idle connection counts as long idle.
  connection_pool pool{options};
  auto admin = connect(pg.connection_string());

  int64_t old_pid = 0;
  {
    auto lease = require_ok(pool.acquire());
    old_pid = backend_pid(*lease);
  }
  kill_backend(*admin, old_pid);

  // The borrower gets a working connection straight away.
  auto lease = require_ok(pool.acquire());
  CHECK(backend_pid(*lease) != old_pid);
  CHECK(pool.open_count() == 1);
}
