// End-to-end tests of the read cache and the rate limits: the real server
// binary, alone on SQLite, or two of them on one PostgreSQL database and one
// real redis-server that the tests freeze, kill and restart mid-run.

#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include "redis_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <regex>
#include <thread>

using namespace sb::testing;
using nlohmann::json;
using sb::test::redis_server;

namespace {

std::map<std::string, std::string> server_env(const std::string& database,
                                              std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> e = {
      {"SWITCHBOARD_DATABASE", database},
      {"SWITCHBOARD_PASSWORD_HASH", "minimum"},
  };
  for (auto& [k, v] : extra) {
    e[k] = v;
  }
  return e;
}

json sign_up(api_client& c, const std::string& email) {
  auto r = c.post("/v1/auth/signup", {{"email", email},
                                      {"password", "a long password"},
                                      {"name", "Cache Tester"},
                                      {"workspace", "Cached"}});
  REQUIRE(r.status == 201);
  c.token(r.json()["token"].get<std::string>());
  return r.json();
}

// The value of one sample in /metrics, e.g. metric(c, "x_total{cache=\"contact\"}").
double metric(api_client& c, const std::string& sample) {
  auto body = c.get("/metrics").body;
  auto at = body.find("\n" + sample + " ");
  if (at == std::string::npos) {
    return 0;
  }
  return std::stod(body.substr(at + sample.size() + 2));
}

std::string first_name_of(const api_reply& r) {
  auto j = r.json();
  return j.is_object() && j["first_name"].is_string() ? j["first_name"].get<std::string>() : "";
}

bool list_has_name(const api_reply& r, const std::string& name) {
  auto body = r.json();
  for (const auto& item : body["items"]) {
    if (item["first_name"] == name) {
      return true;
    }
  }
  return false;
}

// Reads a list until the server serves it from its first level: after start
// (and after Redis returns) the caches stay bypassed until the invalidation
// channel has been up for a moment.
void wait_until_caching(api_client& c) {
  const std::string hits = "switchboard_cache_hits_total{cache=\"contact_list\",level=\"l1\"}";
  auto before = metric(c, hits);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (metric(c, hits) == before && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(c.get("/v1/contacts").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(metric(c, hits) > before);
}

// Two servers on one PostgreSQL database and one Redis, and a user signed up
// on the first whose token works on both.
struct two_servers {
  temp_postgres_database db;
  redis_server redis;
  std::unique_ptr<server_process> a, b;
  std::unique_ptr<api_client> on_a, on_b;

  explicit two_servers(std::map<std::string, std::string> extra = {}, bool warm = true) {
    extra["SWITCHBOARD_REDIS"] = redis.url();
    a = std::make_unique<server_process>(server_env(db.connection_string(), extra));
    b = std::make_unique<server_process>(server_env(db.connection_string(), extra));
    on_a = std::make_unique<api_client>(a->port());
    on_b = std::make_unique<api_client>(b->port());
    auto body = sign_up(*on_a, "two@example.com");
    on_b->token(body["token"].get<std::string>());
    if (warm) {
      wait_until_caching(*on_a);
      wait_until_caching(*on_b);
    }
  }
};

}  // namespace

TEST_CASE("cached reads follow every write at once on a server without Redis") {
  server_process srv{server_env(temp_sqlite_database())};
  api_client c{srv.port()};
  sign_up(c, "solo@example.com");
  auto id = c.post("/v1/contacts", {{"email", "ada@example.com"}, {"first_name", "Ada"}})
                .json()["id"]
                .get<std::string>();
  auto path = "/v1/contacts/" + id;

  // Twice the same answer, the second from the cache.
  auto first = c.get(path);
  REQUIRE(first.status == 200);
  auto second = c.get(path);
  CHECK(second.body == first.body);
  CHECK(second.header("etag") == first.header("etag"));
  CHECK(metric(c, "switchboard_cache_hits_total{cache=\"contact\",level=\"l1\"}") >= 1);
  REQUIRE(list_has_name(c.get("/v1/contacts"), "Ada"));

  // Every write shows in the very next read, of the entity and of the list.
  for (int i = 0; i < 5; ++i) {
    auto name = "Ada " + std::to_string(i);
    REQUIRE(c.patch(path, {{"first_name", name}}).status == 200);
    auto r = c.get(path);
    CHECK(first_name_of(r) == name);
    CHECK(r.header("etag") == "\"v" + std::to_string(i + 2) + "\"");
    CHECK(list_has_name(c.get("/v1/contacts"), name));
  }
  auto created = c.post("/v1/contacts", {{"email", "grace@example.com"}, {"first_name", "Grace"}});
  CHECK(list_has_name(c.get("/v1/contacts"), "Grace"));

  // A deal lists its contact until the contact is deleted (a cascade).
  auto grace = created.json()["id"].get<std::string>();
  auto deal = c.post("/v1/deals", {{"name", "Licence"}, {"contact_ids", {grace}}});
  REQUIRE(deal.status == 201);
  auto deal_path = "/v1/deals/" + deal.json()["id"].get<std::string>();
  CHECK(c.get(deal_path).json()["contact_ids"].size() == 1);
  REQUIRE(c.del("/v1/contacts/" + grace).status == 204);
  CHECK(c.get(deal_path).json()["contact_ids"].empty());
  CHECK(c.get("/v1/deals").json()["items"][0]["contact_ids"].empty());

  // Deleted: 404 at once, and the 404 is cached without hiding a later state.
  REQUIRE(c.del(path).status == 204);
  CHECK(c.get(path).status == 404);
  CHECK(c.get(path).status == 404);
  CHECK_FALSE(list_has_name(c.get("/v1/contacts"), "Ada 4"));
}

TEST_CASE("a logout ends the token even though its session was cached") {
  server_process srv{server_env(temp_sqlite_database(), {{"SWITCHBOARD_SESSION_IDLE_MS", "50"}})};
  api_client c{srv.port()};
  sign_up(c, "bye@example.com");
  // The session actor passivates after 50 ms idle; the next request brings
  // it back through the token cache.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.get("/v1/me").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
  }
  REQUIRE(c.post("/v1/auth/logout", json::object()).status == 204);
  CHECK(c.get("/v1/me").status == 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  CHECK(c.get("/v1/me").status == 401);
}

TEST_CASE("two servers on one database see each other's writes at once through Redis") {
  two_servers s;
  auto id = s.on_a->post("/v1/contacts", {{"email", "both@example.com"}, {"first_name", "v0"}})
                .json()["id"]
                .get<std::string>();
  auto path = "/v1/contacts/" + id;
  REQUIRE(first_name_of(s.on_a->get(path)) == "v0");
  REQUIRE(first_name_of(s.on_b->get(path)) == "v0");
  REQUIRE(list_has_name(s.on_b->get("/v1/contacts"), "v0"));

  // Each server's first level holds the contact; a write on one must show
  // on the other in the very next read.
  for (int i = 1; i <= 20; ++i) {
    auto& writer = i % 2 == 0 ? *s.on_a : *s.on_b;
    auto& reader = i % 2 == 0 ? *s.on_b : *s.on_a;
    auto name = "v" + std::to_string(i);
    REQUIRE(writer.patch(path, {{"first_name", name}}).status == 200);
    CHECK(first_name_of(reader.get(path)) == name);
    CHECK(list_has_name(reader.get("/v1/contacts"), name));
    CHECK(first_name_of(reader.get(path)) == name);
  }
  CHECK(metric(*s.on_a, "switchboard_cache_hits_total{cache=\"contact\",level=\"l1\"}") +
            metric(*s.on_a, "switchboard_cache_hits_total{cache=\"contact\",level=\"l2\"}") >=
        1);
}

TEST_CASE("concurrent first reads of one contact load it from the database once") {
  two_servers s;
  auto id = s.on_a->post("/v1/contacts", {{"email", "hot@example.com"}}).json()["id"];
  auto path = "/v1/contacts/" + id.get<std::string>();

  // Eight sessions (a session handles its requests in order), eight readers each.
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) {
    auto r = s.on_a->post("/v1/auth/login",
                          {{"email", "two@example.com"}, {"password", "a long password"}});
    REQUIRE(r.status == 200);
    tokens.push_back(r.json()["token"].get<std::string>());
  }
  for (const auto& t : tokens) {
    api_client warm{s.a->port()};
    warm.token(t);
    REQUIRE(warm.get("/v1/me").status == 200);
  }
  auto before = metric(*s.on_a, "switchboard_cache_loads_total{cache=\"contact\"}");
  std::atomic<int> ok{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 64; ++i) {
    readers.emplace_back([&, i] {
      api_client c{s.a->port()};
      c.token(tokens[i % tokens.size()]);
      ok += c.get(path).status == 200 ? 1 : 0;
    });
  }
  for (auto& r : readers) {
    r.join();
  }
  CHECK(ok == 64);
  CHECK(metric(*s.on_a, "switchboard_cache_loads_total{cache=\"contact\"}") - before == 1);
}

TEST_CASE("Redis frozen, killed and restarted mid-run fails no request and serves nothing stale") {
  two_servers s;
  auto id = s.on_a->post("/v1/contacts", {{"email", "drill@example.com"}, {"first_name", "n0"}})
                .json()["id"]
                .get<std::string>();
  auto path = "/v1/contacts/" + id;

  // For the whole drill: a write on one server, then reads of the entity and
  // the list on the other. The writer changes side every fourth round only,
  // so the reader's first level mostly holds the previous value when the
  // other server writes.
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0}, failed{0}, stale{0};
  std::thread load([&] {
    for (int i = 1; !stop; ++i) {
      auto& writer = (i / 4) % 2 == 0 ? *s.on_a : *s.on_b;
      auto& reader = (i / 4) % 2 == 0 ? *s.on_b : *s.on_a;
      auto name = "n" + std::to_string(i);
      auto w = writer.patch(path, {{"first_name", name}});
      auto r = reader.get(path);
      auto l = reader.get("/v1/contacts");
      failed += (w.status != 200) + (r.status != 200) + (l.status != 200);
      stale += (first_name_of(r) != name) + !list_has_name(l, name);
      ++rounds;
    }
  });
  auto pause = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };

  pause(700);
  s.redis.freeze();
  pause(1200);
  auto ready = s.on_a->get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body.find("degraded") != std::string::npos);
  s.redis.thaw();
  pause(1000);
  s.redis.kill_now();
  pause(1000);
  s.redis.start();
  pause(1500);
  stop = true;
  load.join();

  INFO("rounds: " << rounds);
  CHECK(rounds > 10);
  CHECK(failed == 0);
  CHECK(stale == 0);
  CHECK(s.on_a->get("/readyz").body.find("\"redis\":\"ok\"") != std::string::npos);

  // And the cache is back at work: reads hit again.
  auto hits = [&] {
    return metric(*s.on_b, "switchboard_cache_hits_total{cache=\"contact\",level=\"l1\"}") +
           metric(*s.on_b, "switchboard_cache_hits_total{cache=\"contact\",level=\"l2\"}");
  };
  auto before = hits();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(s.on_b->get(path).status == 200);
  }
  CHECK(hits() > before);
}

TEST_CASE("a user over their limit gets 429 with RateLimit headers, whichever token they use") {
  server_process srv{server_env(temp_sqlite_database(), {{"SWITCHBOARD_RATE_LIMIT_USER", "6"}})};
  api_client c{srv.port()}, second{srv.port()}, other{srv.port()};
  sign_up(c, "busy@example.com");
  sign_up(other, "calm@example.com");
  // A second login of the same user: another token, the same budget.
  auto login = second.post("/v1/auth/login",
                           {{"email", "busy@example.com"}, {"password", "a long password"}});
  REQUIRE(login.status == 200);
  second.token(login.json()["token"].get<std::string>());

  // The request that brings a token's session up is counted per address
  // only; from then on every request counts against the user.
  REQUIRE(c.get("/v1/me").status == 200);
  REQUIRE(second.get("/v1/me").status == 200);
  auto first = c.get("/v1/me");
  REQUIRE(first.status == 200);
  CHECK(first.header("ratelimit-limit") == "6");
  int remaining = std::stoi(first.header("ratelimit-remaining"));
  REQUIRE(remaining > 0);
  for (int i = 0; remaining > 0; ++i) {
    auto& who = i % 2 == 0 ? second : c;
    auto r = who.get("/v1/me");
    REQUIRE(r.status == 200);
    CHECK(std::stoi(r.header("ratelimit-remaining")) == remaining - 1);
    --remaining;
  }

  // Both tokens are out of the user's budget now; another user is not.
  for (auto* who : {&second, &c}) {
    auto refused = who->get("/v1/me");
    INFO(refused.body);
    REQUIRE(refused.status == 429);
    CHECK(refused.header("content-type") == "application/problem+json");
    CHECK(refused.json()["request_id"] == refused.header("x-request-id"));
    CHECK(refused.header("ratelimit-remaining") == "0");
    CHECK(std::stoi(refused.header("retry-after")) > 0);
    CHECK(std::stoi(refused.header("ratelimit-reset")) <= 60);
  }
  CHECK(other.get("/v1/me").status == 200);
}

TEST_CASE("failed logins from one address are limited, then even a right password waits") {
  server_process srv{server_env(temp_sqlite_database(), {{"SWITCHBOARD_RATE_LIMIT_AUTH", "3"}})};
  api_client c{srv.port()};
  sign_up(c, "guess@example.com");
  json wrong = {{"email", "guess@example.com"}, {"password", "not the password"}};
  json right = {{"email", "guess@example.com"}, {"password", "a long password"}};
  CHECK(c.post("/v1/auth/login", right).status == 200);  // Successes do not count.
  for (int i = 0; i < 3; ++i) {
    CHECK(c.post("/v1/auth/login", wrong).status == 401);
  }
  auto r = c.post("/v1/auth/login", right);
  CHECK(r.status == 429);
  CHECK_FALSE(r.header("retry-after").empty());
}

TEST_CASE("rate limits are shared by servers through Redis and fall back when it is gone") {
  two_servers s{{{"SWITCHBOARD_RATE_LIMIT_USER", "6"}}, false};
  // The first request on each server brings the session up there; then the
  // user's budget is one for both: alternating, at most 6 more get through
  // (12 if each server counted alone).
  REQUIRE(s.on_a->get("/v1/me").status == 200);
  REQUIRE(s.on_b->get("/v1/me").status == 200);
  int through = 0;
  for (int i = 0; i < 12; ++i) {
    auto st = (i % 2 == 0 ? s.on_a : s.on_b)->get("/v1/me").status;
    REQUIRE((st == 200 || st == 429));
    if (st == 429) {
      break;
    }
    ++through;
  }
  CHECK(through >= 5);
  CHECK(through <= 6);
  CHECK(s.on_a->get("/v1/me").status == 429);
  CHECK(s.on_b->get("/v1/me").status == 429);

  // Without Redis each server counts alone: still answers, never a 5xx.
  s.redis.kill_now();
  for (int i = 0; i < 10; ++i) {
    auto st = s.on_a->get("/v1/me").status;
    CHECK((st == 200 || st == 429));
  }
}
