#include "persistence/cache/read_cache.hpp"

#include "redis_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using sb::persistence::cache_entry;
using sb::persistence::cache_load;
using sb::persistence::cache_options;
using sb::persistence::parse_redis_url;
using sb::persistence::read_cache;
using sb::persistence::redis_client;
using sb::persistence::redis_options;
using sb::test::redis_server;
using steady = std::chrono::steady_clock;

namespace {

// The "database": one value per key, and a count of reads.
struct fake_table {
  std::mutex mtx;
  std::map<std::string, std::string> rows;
  std::atomic<int> reads{0};

  void put(const std::string& k, const std::string& v) {
    std::lock_guard<std::mutex> lock(mtx);
    rows[k] = v;
  }

  read_cache::loader loader(const std::string& k) {
    return [this, k] {
      ++reads;
      std::lock_guard<std::mutex> lock(mtx);
      auto i = rows.find(k);
      return i == rows.end() ? cache_load::absent() : cache_load::value(i->second);
    };
  }
};

std::string value_of(const std::optional<cache_entry>& e) {
  REQUIRE(e);
  return e->present ? e->data : "<absent>";
}

std::shared_ptr<redis_client> client_for(const redis_server& server) {
  auto ep = parse_redis_url(server.url());
  REQUIRE(ep.value);
  redis_options o;
  o.command_timeout = 100ms;
  o.backoff_max = 200ms;
  return std::make_shared<redis_client>(*ep.value, o);
}

cache_options fast_options() {
  cache_options o;
  o.breaker_failures = 2;
  o.breaker_open = 100ms;
  o.subscriber.ping_interval = 50ms;
  o.subscriber.ping_timeout = 150ms;
  o.subscriber.backoff_max = 200ms;
  o.channel_grace = 100ms;
  return o;
}

std::unique_ptr<read_cache> redis_cache(const redis_server& server,
                                        cache_options o = fast_options()) {
  auto ep = parse_redis_url(server.url());
  REQUIRE(ep.value);
  return std::make_unique<read_cache>(o, client_for(server), *ep.value);
}

// Waits for `done` with a deadline, re-checking every few milliseconds.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// Reads fresh keys until the cache's Redis level works and its channel is
// up; true if that happens in time.
bool redis_level_works(read_cache& c) {
  static std::atomic<int> n{0};
  return eventually([&] {
    auto before = c.stats("probe").errors;
    auto key = "probe-" + std::to_string(++n);
    c.get("probe", key, {}, [] { return cache_load::value("p"); });
    return c.l1_trusted() && c.breaker_state() == "closed" && c.stats("probe").errors == before;
  });
}

void wait_ready(read_cache& c, fake_table&) {
  REQUIRE(redis_level_works(c));
}

}  // namespace

TEST_CASE("read cache serves a second read from the first level") {
  read_cache c{cache_options{}};
  fake_table t;
  t.put("k", "v1");
  CHECK(value_of(c.get("test", "k", {}, t.loader("k"))) == "v1");
  CHECK(value_of(c.get("test", "k", {}, t.loader("k"))) == "v1");
  CHECK(t.reads == 1);
  auto s = c.stats("test");
  CHECK(s.l1_hits == 1);
  CHECK(s.misses == 1);
  CHECK(s.loads == 1);
}

TEST_CASE("read cache reloads after its key or one of its tags is invalidated") {
  read_cache c{cache_options{}};
  fake_table t;
  t.put("k", "v1");
  CHECK(value_of(c.get("test", "k", {"scope"}, t.loader("k"))) == "v1");

  t.put("k", "v2");
  c.invalidate({"k"});
  CHECK(value_of(c.get("test", "k", {"scope"}, t.loader("k"))) == "v2");

  t.put("k", "v3");
  c.invalidate({"scope"});
  CHECK(value_of(c.get("test", "k", {"scope"}, t.loader("k"))) == "v3");
  CHECK(t.reads == 3);
}

TEST_CASE("read cache caches a not-found briefly and passes failures on uncached") {
  cache_options o;
  o.negative_ttl = 50ms;
  read_cache c{o};
  fake_table t;
  CHECK(value_of(c.get("test", "gone", {}, t.loader("gone"))) == "<absent>");
  CHECK(value_of(c.get("test", "gone", {}, t.loader("gone"))) == "<absent>");
  CHECK(t.reads == 1);
  t.put("gone", "back");
  CHECK(
      eventually([&] { return value_of(c.get("test", "gone", {}, t.loader("gone"))) == "back"; }));

  int failures = 0;
  auto failing = [&] {
    ++failures;
    return cache_load::failed();
  };
  CHECK_FALSE(c.get("test", "bad", {}, failing));
  CHECK_FALSE(c.get("test", "bad", {}, failing));
  CHECK(failures == 2);
}

TEST_CASE("read cache keeps at most its capacity, dropping the least recently used") {
  cache_options o;
  o.l1_capacity = 2;
  read_cache c{o};
  fake_table t;
  for (auto k : {"a", "b", "c"}) {
    t.put(k, k);
  }
  c.get("test", "a", {}, t.loader("a"));
  c.get("test", "b", {}, t.loader("b"));
  c.get("test", "a", {}, t.loader("a"));  // a is now more recent than b.
  c.get("test", "c", {}, t.loader("c"));  // Evicts b.
  REQUIRE(t.reads == 3);
  c.get("test", "a", {}, t.loader("a"));
  CHECK(t.reads == 3);
  c.get("test", "b", {}, t.loader("b"));
  CHECK(t.reads == 4);
}

TEST_CASE("read cache turned off always reads through") {
  cache_options o;
  o.enabled = false;
  read_cache c{o};
  fake_table t;
  t.put("k", "v");
  c.get("test", "k", {}, t.loader("k"));
  c.get("test", "k", {}, t.loader("k"));
  CHECK(t.reads == 2);
  CHECK(c.stats("test").bypasses == 2);
}

TEST_CASE("read cache lets 1000 concurrent misses on one key share one load") {
  read_cache c{cache_options{}};
  std::atomic<int> loads{0};
  std::atomic<int> arrived{0};
  std::promise<void> release;
  auto released = release.get_future().share();
  auto slow = [&] {
    ++loads;
    released.wait();
    return cache_load::value("v");
  };

  std::vector<std::thread> readers;
  std::atomic<int> right{0};
  for (int i = 0; i < 1000; ++i) {
    readers.emplace_back([&] {
      ++arrived;
      auto e = c.get("test", "hot", {}, slow);
      if (e && e->data == "v") {
        ++right;
      }
    });
  }
  // Every reader has at least started before the load may finish.
  REQUIRE(eventually([&] { return arrived == 1000; }));
  std::this_thread::sleep_for(50ms);  // Lets the last ones reach the flight.
  release.set_value();
  for (auto& r : readers) {
    r.join();
  }
  CHECK(loads == 1);
  CHECK(right == 1000);
  auto s = c.stats("test");
  CHECK(s.coalesced + s.l1_hits == 999);
}

TEST_CASE("read cache never stores a value read before a concurrent write") {
  read_cache c{cache_options{}};
  fake_table t;
  t.put("k", "old");

  // A reader reads "old" from the database and is slow to store it...
  std::promise<void> read_done, may_store;
  auto slow = [&] {
    auto v = t.loader("k")();
    read_done.set_value();
    may_store.get_future().wait();
    return v;
  };
  auto reader = std::async(std::launch::async, [&] { return c.get("test", "k", {}, slow); });
  read_done.get_future().wait();

  // ...while a writer commits "new" and invalidates.
  t.put("k", "new");
  c.invalidate({"k"});
  may_store.set_value();
  CHECK(value_of(reader.get()) == "old");  // It began before the write.

  CHECK(value_of(c.get("test", "k", {}, t.loader("k"))) == "new");
}

TEST_CASE("read cache shares values between processes through Redis") {
  redis_server server;
  auto a = redis_cache(server);
  auto b = redis_cache(server);
  fake_table t;
  wait_ready(*a, t);
  wait_ready(*b, t);
  t.put("k", "v1");

  CHECK(value_of(a->get("test", "k", {"ws"}, t.loader("k"))) == "v1");
  CHECK(value_of(b->get("test", "k", {"ws"}, t.loader("k"))) == "v1");
  CHECK(t.reads == 1);
  CHECK(b->stats("test").l2_hits == 1);

  SECTION("a write on one process invalidates the other's first level") {
    t.put("k", "v2");
    a->invalidate({"k"});
    CHECK(value_of(a->get("test", "k", {"ws"}, t.loader("k"))) == "v2");
    CHECK(eventually([&] { return value_of(b->get("test", "k", {"ws"}, t.loader("k"))) == "v2"; }));
  }
  SECTION("a scope invalidated on one process is stale on the other") {
    t.put("k", "v3");
    b->invalidate({"ws"});
    CHECK(value_of(b->get("test", "k", {"ws"}, t.loader("k"))) == "v3");
    // The other process hears of it on the channel, within a round trip.
    CHECK(eventually([&] { return value_of(a->get("test", "k", {"ws"}, t.loader("k"))) == "v3"; }));
  }
}

TEST_CASE("read cache refuses to put back a stale value into Redis") {
  redis_server server;
  auto a = redis_cache(server);
  auto b = redis_cache(server);
  fake_table t;
  wait_ready(*a, t);
  wait_ready(*b, t);
  t.put("k", "old");

  std::promise<void> read_done, may_store;
  auto slow = [&] {
    auto v = t.loader("k")();
    read_done.set_value();
    may_store.get_future().wait();
    return v;
  };
  auto reader = std::async(std::launch::async, [&] { return a->get("test", "k", {}, slow); });
  read_done.get_future().wait();
  t.put("k", "new");
  b->invalidate({"k"});  // The write happens on the other process.
  may_store.set_value();
  CHECK(value_of(reader.get()) == "old");

  // Neither level of either process holds "old" now.
  CHECK(value_of(b->get("test", "k", {}, t.loader("k"))) == "new");
  CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "new");
}

TEST_CASE("read cache answers from the database while Redis is frozen, then resumes unstale") {
  redis_server server;
  auto a = redis_cache(server);
  auto b = redis_cache(server);
  fake_table t;
  wait_ready(*a, t);
  wait_ready(*b, t);
  t.put("k", "v1");
  CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v1");
  CHECK(value_of(b->get("test", "k", {}, t.loader("k"))) == "v1");  // Now in both L1s and L2.

  // Frozen: the channel misses its pings, so both levels are bypassed and
  // every read answers from the database; a write's invalidation cannot
  // reach Redis.
  server.freeze();
  REQUIRE(eventually([&] { return !a->l1_trusted() && !b->l1_trusted(); }));
  for (int i = 0; i < 10; ++i) {
    CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v1");
  }
  CHECK(a->stats("test").bypasses >= 10);
  t.put("k", "v2");
  b->invalidate({"k"});
  CHECK(value_of(b->get("test", "k", {}, t.loader("k"))) == "v2");
  CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v2");

  // Back: the L2 still holds v1 under its old stamp, but neither process may
  // serve it, then both resume caching.
  server.thaw();
  REQUIRE(eventually([&] { return a->l1_trusted() && b->l1_trusted(); }));
  for (int i = 0; i < 20; ++i) {
    CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v2");
    CHECK(value_of(b->get("test", "k", {}, t.loader("k"))) == "v2");
  }
  CHECK(redis_level_works(*a));
  auto hits = [&] { return b->stats("test").l1_hits + b->stats("test").l2_hits; };
  CHECK(eventually([&] {
    auto before = hits();
    CHECK(value_of(b->get("test", "k", {}, t.loader("k"))) == "v2");
    return hits() > before;
  }));
}

TEST_CASE("read cache survives Redis being killed and restarted") {
  redis_server server;
  auto a = redis_cache(server);
  fake_table t;
  wait_ready(*a, t);
  t.put("k", "v1");
  CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v1");

  server.kill_now();
  t.put("k", "v2");
  a->invalidate({"k"});
  for (int i = 0; i < 10; ++i) {
    CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v2");
  }

  server.start();
  REQUIRE(eventually([&] { return a->l1_trusted(); }));
  CHECK(eventually([&] {
    auto before = a->stats("test").l1_hits + a->stats("test").l2_hits;
    CHECK(value_of(a->get("test", "k", {}, t.loader("k"))) == "v2");
    return a->stats("test").l1_hits + a->stats("test").l2_hits > before;
  }));
}

namespace {

// Peeks and waits for the answer, which may come on another thread.
std::optional<std::optional<cache_entry>> peek_now(read_cache& c, const std::string& key,
                                                   const std::vector<std::string>& tags) {
  auto answer = std::make_shared<std::promise<std::optional<cache_entry>>>();
  auto got = answer->get_future();
  c.peek("test", key, tags, [answer](std::optional<cache_entry> e) { answer->set_value(e); });
  if (got.wait_for(2s) != std::future_status::ready) {
    return std::nullopt;  // Never answered.
  }
  return got.get();
}

}  // namespace

TEST_CASE("a peek answers from the first level only, and never with a stale entry") {
  read_cache c{cache_options{}};
  fake_table t;
  t.put("k", "v1");
  auto first = peek_now(c, "k", {"ws"});
  REQUIRE(first);
  CHECK_FALSE(first->has_value());  // Nothing cached yet: the caller must get().
  CHECK(t.reads == 0);

  c.get("test", "k", {"ws"}, t.loader("k"));
  auto hit = peek_now(c, "k", {"ws"});
  REQUIRE(hit);
  CHECK(value_of(*hit) == "v1");

  c.invalidate({"ws"});
  auto after = peek_now(c, "k", {"ws"});
  REQUIRE(after);
  CHECK_FALSE(after->has_value());
  CHECK(t.reads == 1);
}

TEST_CASE(
    "a peek with Redis waits for the invalidation barrier, and gives up when Redis is frozen") {
  redis_server server;
  auto a = redis_cache(server);
  auto b = redis_cache(server);
  fake_table t;
  wait_ready(*a, t);
  wait_ready(*b, t);
  t.put("k", "v1");
  a->get("test", "k", {}, t.loader("k"));
  auto hit = peek_now(*a, "k", {});
  REQUIRE(hit);
  CHECK(value_of(*hit) == "v1");

  // A write on the other process, announced before the peek: the peek must
  // not answer with the old value.
  t.put("k", "v2");
  b->invalidate({"k"});
  auto after_write = peek_now(*a, "k", {});
  REQUIRE(after_write);
  CHECK_FALSE(after_write->has_value());

  // Frozen: the barrier cannot pass, and the peek answers "use get()" in
  // bounded time instead of hanging.
  a->get("test", "k", {}, t.loader("k"));
  server.freeze();
  auto started = steady::now();
  auto frozen = peek_now(*a, "k", {});
  REQUIRE(frozen);
  CHECK_FALSE(frozen->has_value());
  CHECK(steady::now() - started < 1s);
  server.thaw();
}
