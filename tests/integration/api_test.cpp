// End-to-end tests of the product API: the real server binary, over real
// HTTP, on SQLite and on PostgreSQL.

#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

#include <memory>
#include <set>
#include <sstream>
#include <thread>

using namespace sb::testing;
using nlohmann::json;

namespace {

constexpr const char* ops_token = "ops-token-for-tests-0123456789";

/// A throwaway database of one kind and the server environment that uses it.
struct backend {
  std::string kind;
  std::string connection_string;
  std::unique_ptr<temp_postgres_database> pg;

  explicit backend(std::string k) : kind(std::move(k)) {
    if (kind == "postgresql") {
      pg = std::make_unique<temp_postgres_database>();
      connection_string = pg->connection_string();
    } else {
      connection_string = temp_sqlite_database();
    }
  }

  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> e = {
        {"SWITCHBOARD_DATABASE", connection_string},
        {"SWITCHBOARD_PASSWORD_HASH", "minimum"},
        {"SWITCHBOARD_DEBUG_ROUTES", "true"},
        {"SWITCHBOARD_OPS_TOKEN", ops_token},
    };
    for (auto& [k, v] : extra) {
      e[k] = v;
    }
    return e;
  }
};

json signup_body(const std::string& email, const std::string& workspace) {
  return {{"email", email},
          {"password", "a long password"},
          {"name", "Test User"},
          {"workspace", workspace}};
}

// Signs up and leaves the client holding the new token; returns the reply body.
json sign_up(api_client& c, const std::string& email, const std::string& workspace = "Acme") {
  auto r = c.post("/v1/auth/signup", signup_body(email, workspace));
  REQUIRE(r.status == 201);
  auto body = r.json();
  c.token(body["token"].get<std::string>());
  return body;
}

void require_problem(const api_reply& r, int status) {
  INFO(r.body);
  REQUIRE(r.status == status);
  CHECK(r.header("content-type") == "application/problem+json");
  auto b = r.json();
  CHECK(b["status"] == status);
  CHECK(b["title"].is_string());
  CHECK(b["detail"].is_string());
  CHECK(b["request_id"] == r.header("x-request-id"));
  CHECK_FALSE(r.header("x-request-id").empty());
}

// Finds the node at `path` ("root/sessions") in the ops tree.
const json* find_node(const json& node, const std::string& path) {
  if (node["path"] == path) {
    return &node;
  }
  if (node.contains("children")) {
    for (const auto& child : node["children"]) {
      if (auto* hit = find_node(child, path)) {
        return hit;
      }
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a user signs up, sees themselves, logs out and logs back in") {
  auto kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(kind) {
    backend db{kind};
    server_process srv{db.env()};
    api_client c{srv.port()};

    auto created = sign_up(c, "Ada@Example.com", "Engines");
    CHECK(created["user"]["email"] == "Ada@Example.com");
    CHECK(created["workspace"]["name"] == "Engines");
    CHECK(created["workspace"]["role"] == "owner");
    CHECK(created["token"].get<std::string>().size() >= 43);

    auto me = c.get("/v1/me");
    REQUIRE(me.status == 200);
    CHECK(me.json()["user"]["id"] == created["user"]["id"]);
    CHECK(me.json()["workspace"]["id"] == created["workspace"]["id"]);

    // The same email (in another case) cannot sign up twice.
    api_client other{srv.port()};
    require_problem(other.post("/v1/auth/signup", signup_body("ada@example.com", "X")), 409);

    REQUIRE(c.post("/v1/auth/logout", json::object()).status == 204);
    require_problem(c.get("/v1/me"), 401);

    require_problem(other.post("/v1/auth/login",
                               {{"email", "ada@example.com"}, {"password", "wrong password"}}),
                    401);
    require_problem(
        other.post("/v1/auth/login", {{"email", "nobody@example.com"}, {"password", "whatever1"}}),
        401);
    auto login = other.post("/v1/auth/login",
                            {{"email", "ADA@example.com"}, {"password", "a long password"}});
    REQUIRE(login.status == 200);
    other.token(login.json()["token"].get<std::string>());
    CHECK(other.get("/v1/me").json()["user"]["email"] == "Ada@Example.com");
  }
}

TEST_CASE("contacts are created, listed page by page, searched, patched and deleted") {
  auto kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(kind) {
    backend db{kind};
    server_process srv{db.env()};
    api_client c{srv.port()};
    sign_up(c, "owner@example.com");

    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
      auto r = c.post("/v1/contacts", {{"email", "person" + std::to_string(i) + "@example.com"},
                                       {"first_name", i % 2 ? "Grace" : "Alan"},
                                       {"last_name", "Tester"},
                                       {"lifecycle_stage", "lead"}});
      REQUIRE(r.status == 201);
      CHECK(r.header("etag") == "\"v1\"");
      CHECK(r.header("location") == "/v1/contacts/" + r.json()["id"].get<std::string>());
      ids.push_back(r.json()["id"]);
    }

    // Pages of two, newest first, with nothing lost or repeated.
    std::vector<std::string> seen;
    std::string target = "/v1/contacts?limit=2";
    for (int page = 0; page < 5; ++page) {
      auto r = c.get(target);
      REQUIRE(r.status == 200);
      auto b = r.json();
      for (const auto& item : b["items"]) {
        seen.push_back(item["id"]);
      }
      if (b["next_cursor"].is_null()) {
        break;
      }
      target = "/v1/contacts?limit=2&cursor=" + b["next_cursor"].get<std::string>();
    }
    CHECK(seen == std::vector<std::string>(ids.rbegin(), ids.rend()));

    // Search is a case-insensitive prefix over email and names.
    auto grace = c.get("/v1/contacts?q=GRA").json()["items"];
    CHECK(grace.size() == 2);
    CHECK(c.get("/v1/contacts?q=person3").json()["items"].size() == 1);
    CHECK(c.get("/v1/contacts?q=zzz").json()["items"].empty());

    // PATCH honours If-Match; a stale ETag gets 412 and changes nothing.
    auto id = ids[0];
    auto got = c.get("/v1/contacts/" + id);
    REQUIRE(got.status == 200);
    auto etag = got.header("etag");
    auto patched = c.patch("/v1/contacts/" + id, {{"company", "Navy"}, {"phone", nullptr}},
                           {{"If-Match", etag}});
    REQUIRE(patched.status == 200);
    CHECK(patched.json()["company"] == "Navy");
    CHECK(patched.json()["version"] == 2);
    require_problem(c.patch("/v1/contacts/" + id, {{"company", "Army"}}, {{"If-Match", etag}}),
                    412);
    CHECK(c.get("/v1/contacts/" + id).json()["company"] == "Navy");

    // An email already used in the workspace is a conflict.
    require_problem(c.post("/v1/contacts", {{"email", "PERSON1@example.com"}}), 409);

    // DELETE honours If-Match too.
    require_problem(c.del("/v1/contacts/" + id, {{"If-Match", etag}}), 412);
    REQUIRE(c.del("/v1/contacts/" + id, {{"If-Match", patched.header("etag")}}).status == 204);
    require_problem(c.get("/v1/contacts/" + id), 404);
    require_problem(c.del("/v1/contacts/" + id), 404);
  }
}

TEST_CASE("deals link contacts of the workspace and filter by stage") {
  auto kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(kind) {
    backend db{kind};
    server_process srv{db.env()};
    api_client c{srv.port()};
    sign_up(c, "owner@example.com");
    auto contact = c.post("/v1/contacts", {{"email", "buyer@example.com"}}).json()["id"];

    auto deal = c.post("/v1/deals", {{"name", "Licence"},
                                     {"stage", "qualifiedtobuy"},
                                     {"amount", 1200.5},
                                     {"currency", "EUR"},
                                     {"close_date", "2027-01-31"},
                                     {"contact_ids", {contact}}});
    REQUIRE(deal.status == 201);
    CHECK(deal.json()["amount"] == 1200.5);
    CHECK(deal.json()["contact_ids"] == json::array({contact}));
    REQUIRE(c.post("/v1/deals", {{"name", "Other"}}).status == 201);

    auto qualified = c.get("/v1/deals?stage=qualifiedtobuy").json()["items"];
    REQUIRE(qualified.size() == 1);
    CHECK(qualified[0]["name"] == "Licence");
    CHECK(c.get("/v1/deals").json()["items"].size() == 2);
    require_problem(c.get("/v1/deals?stage=nonsense"), 422);

    // A failed request leaves the database as it was.
    auto bad = c.post("/v1/deals", {{"name", "Ghost"}, {"contact_ids", {"ct_missing"}}});
    require_problem(bad, 422);
    CHECK(bad.json()["errors"][0]["field"] == "contact_ids");
    CHECK(c.get("/v1/deals").json()["items"].size() == 2);

    auto id = deal.json()["id"].get<std::string>();
    auto moved =
        c.patch("/v1/deals/" + id, {{"stage", "closedwon"}, {"contact_ids", json::array()}});
    REQUIRE(moved.status == 200);
    CHECK(moved.json()["stage"] == "closedwon");
    CHECK(moved.json()["contact_ids"].empty());
    REQUIRE(c.del("/v1/deals/" + id).status == 204);
  }
}

TEST_CASE("videos keep their metadata and status") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client c{srv.port()};
  sign_up(c, "owner@example.com");
  auto v = c.post("/v1/videos", {{"title", "Demo"}, {"description", "First cut"}});
  REQUIRE(v.status == 201);
  CHECK(v.json()["status"] == "draft");
  auto id = v.json()["id"].get<std::string>();
  REQUIRE(c.patch("/v1/videos/" + id, {{"status", "ready"}}).status == 200);
  CHECK(c.get("/v1/videos?status=ready").json()["items"].size() == 1);
  CHECK(c.get("/v1/videos?status=draft").json()["items"].empty());
  require_problem(c.patch("/v1/videos/" + id, {{"status", "lost"}}), 422);
  REQUIRE(c.del("/v1/videos/" + id).status == 204);
}

TEST_CASE("a member never sees or changes another workspace's data") {
  auto kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(kind) {
    backend db{kind};
    server_process srv{db.env()};
    api_client alice{srv.port()}, bob{srv.port()};
    sign_up(alice, "alice@example.com", "A");
    sign_up(bob, "bob@example.com", "B");
    auto contact = alice.post("/v1/contacts", {{"email", "secret@example.com"}}).json()["id"];
    auto deal = alice.post("/v1/deals", {{"name", "Secret"}}).json()["id"];
    auto path = "/v1/contacts/" + contact.get<std::string>();

    require_problem(bob.get(path), 404);
    require_problem(bob.patch(path, {{"company", "Bob's"}}), 404);
    require_problem(bob.del(path), 404);
    require_problem(bob.get("/v1/deals/" + deal.get<std::string>()), 404);
    CHECK(bob.get("/v1/contacts").json()["items"].empty());
    // Bob cannot attach Alice's contact to his deal either.
    require_problem(bob.post("/v1/deals", {{"name", "X"}, {"contact_ids", {contact}}}), 422);
    CHECK(alice.get(path).json()["company"].is_null());
  }
}

TEST_CASE("owners invite members who log in to the same workspace") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client owner{srv.port()};
  auto ws = sign_up(owner, "owner@example.com")["workspace"]["id"];
  auto invited = owner.post("/v1/workspace/members", {{"email", "member@example.com"},
                                                      {"name", "Member"},
                                                      {"role", "member"},
                                                      {"password", "member password"}});
  REQUIRE(invited.status == 201);
  CHECK(owner.get("/v1/workspace/members").json()["items"].size() == 2);

  api_client member{srv.port()};
  auto login = member.post("/v1/auth/login",
                           {{"email", "member@example.com"}, {"password", "member password"}});
  REQUIRE(login.status == 200);
  member.token(login.json()["token"]);
  CHECK(member.get("/v1/me").json()["workspace"]["id"] == ws);
  CHECK(member.get("/v1/me").json()["workspace"]["role"] == "member");
  // Members cannot invite.
  require_problem(member.post("/v1/workspace/members", {{"email", "x@example.com"}}), 403);

  // An existing account is neither added nor described without consent.
  api_client stranger{srv.port()};
  sign_up(stranger, "stranger@example.com", "Elsewhere");
  auto taken = owner.post(
      "/v1/workspace/members",
      {{"email", "stranger@example.com"}, {"name", "X"}, {"password", "whatever password"}});
  require_problem(taken, 409);
  CHECK(taken.body.find("Test User") == std::string::npos);
  CHECK(owner.get("/v1/workspace/members").json()["items"].size() == 2);
}

TEST_CASE("bad input gets a problem response and never a crash") {
  backend db{"sqlite"};
  server_process srv{db.env({{"SWITCHBOARD_BODY_LIMIT", "4096"}})};
  api_client c{srv.port()};
  sign_up(c, "owner@example.com");

  require_problem(
      c.send("POST", "/v1/contacts", "{\"email\": ", {{"Content-Type", "application/json"}}), 400);
  auto typed = c.post("/v1/contacts", {{"email", 42}, {"first_name", json::array()}});
  require_problem(typed, 422);
  std::set<std::string> fields;
  auto typed_body = typed.json();
  for (const auto& e : typed_body["errors"]) {
    fields.insert(e["field"].get<std::string>());
  }
  CHECK(fields == std::set<std::string>{"email", "first_name"});
  require_problem(c.post("/v1/contacts", json::object()), 422);
  require_problem(c.post("/v1/contacts",
                         {{"email", "nul@example.com"}, {"first_name", std::string("a\0b", 3)}}),
                  422);
  require_problem(c.get("/v1/contacts?cursor=eyJ4IjoxfQ"), 422);
  require_problem(c.send("POST", "/v1/contacts", std::string(5000, 'x'),
                         {{"Content-Type", "application/json"}}),
                  413);
  require_problem(c.get("/v1/nothing"), 404);
  auto wrong_method = c.send("PUT", "/v1/contacts", "{}", {{"Content-Type", "application/json"}});
  require_problem(wrong_method, 405);
  auto allow = wrong_method.header("allow");
  CHECK((allow == "GET, POST" || allow == "POST, GET"));
  require_problem(c.get("/v1/contacts?limit=1000"), 422);

  api_client anonymous{srv.port()};
  require_problem(anonymous.get("/v1/me"), 401);
  anonymous.token("not-a-real-token");
  require_problem(anonymous.get("/v1/me"), 401);

  // Nothing of the above was stored.
  CHECK(c.get("/v1/contacts").json()["items"].empty());
  CHECK(srv.running());
}

TEST_CASE("a handler that throws fails its request, and the session comes back") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client c{srv.port()};
  sign_up(c, "owner@example.com");
  REQUIRE(c.get("/v1/me").status == 200);

  auto crash = c.post("/v1/debug/crash", json::object(), {{"X-Request-Id", "crash-1"}});
  require_problem(crash, 500);
  CHECK(crash.json()["request_id"] == "crash-1");

  // The next request succeeds without logging in again.
  REQUIRE(c.get("/v1/me").status == 200);

  // The supervisor counted the restart and kept the reason.
  api_client ops{srv.port()};
  ops.token(ops_token);
  auto tree = ops.get("/ops/supervision").json()["tree"];
  auto* sessions = find_node(tree, "root/sessions");
  REQUIRE(sessions);
  REQUIRE((*sessions)["children"].size() == 1);
  const auto& session = (*sessions)["children"][0];
  CHECK(session["kind"] == "session");
  CHECK(session["restarts"] == 1);
  CHECK(session["restart_type"] == "transient");
  CHECK(session["last_failure"]["reason"].get<std::string>().size() > 0);

  // The failure was logged with the request it happened in.
  srv.stop();
  bool logged = false;
  std::istringstream lines{srv.log()};
  for (std::string line; std::getline(lines, line);) {
    auto entry = json::parse(line, nullptr, false);
    logged = logged ||
             (entry.value("level", "") == "error" && entry.value("request_id", "") == "crash-1" &&
              entry.value("actor", "") == "session");
  }
  CHECK(logged);
}

TEST_CASE("one user crashing their session in a loop affects nobody else") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client c{srv.port()}, other{srv.port()};
  sign_up(c, "storm@example.com");
  sign_up(other, "bystander@example.com");
  REQUIRE(other.get("/v1/me").status == 200);

  // Each crash fails its request and restarts that one session; the sessions
  // supervisor never gives up, so the tree above it is never involved.
  int failed = 0;
  for (int i = 0; i < 1100; ++i) {
    failed += c.post("/v1/debug/crash", json::object()).status == 500 ? 1 : 0;
    if (i % 100 == 0) {
      REQUIRE(other.get("/v1/me").status == 200);
    }
  }
  CHECK(failed == 1100);
  CHECK(c.get("/v1/me").status == 200);
  CHECK(other.get("/v1/me").status == 200);

  api_client ops{srv.port()};
  ops.token(ops_token);
  auto tree = ops.get("/ops/supervision").json()["tree"];
  CHECK((*find_node(tree, "root/sessions"))["restarts"] == 0);
  CHECK(tree["restarts"] == 0);
  CHECK(ops.get("/metrics").body.find("switchboard_actor_restarts_total{kind=\"session\"} 1100") !=
        std::string::npos);
  CHECK(srv.running());
}

TEST_CASE("idle sessions passivate and come back on the next request") {
  backend db{"sqlite"};
  server_process srv{db.env({{"SWITCHBOARD_SESSION_IDLE_MS", "200"}})};
  api_client c{srv.port()}, ops{srv.port()};
  ops.token(ops_token);
  sign_up(c, "owner@example.com");
  REQUIRE(c.get("/v1/me").status == 200);

  auto live_sessions = [&] {
    auto tree = ops.get("/ops/supervision").json()["tree"];
    return (*find_node(tree, "root/sessions"))["children"].size();
  };
  CHECK(live_sessions() == 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (live_sessions() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(live_sessions() == 0);

  // The gauge follows, rather than keeping the last count it saw.
  auto metrics = ops.get("/metrics").body;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (metrics.find("switchboard_actors{kind=\"session\"} 0") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    metrics = ops.get("/metrics").body;
  }
  CHECK(metrics.find("switchboard_actors{kind=\"session\"} 0") != std::string::npos);

  REQUIRE(c.get("/v1/me").status == 200);
  CHECK(live_sessions() == 1);
}

TEST_CASE("the ops view shows the supervision tree to the ops token only") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client c{srv.port()};
  require_problem(c.get("/ops/supervision"), 401);
  c.token("wrong-token-wrong-token");
  require_problem(c.get("/ops/supervision"), 403);
  c.token(ops_token);
  auto r = c.get("/ops/supervision");
  REQUIRE(r.status == 200);
  auto tree = r.json()["tree"];
  CHECK(tree["name"] == "root");
  for (auto path : {"root/gateway", "root/sessions", "root/jobs", "root/integrations",
                    "root/storage", "root/gateway/event_hub", "root/storage/db"}) {
    INFO(path);
    auto* node = find_node(tree, path);
    REQUIRE(node);
    for (auto key : {"name", "kind", "parent", "restart_type", "restarts", "last_failure",
                     "mailbox_size", "uptime_ms", "state"}) {
      CHECK(node->contains(key));
    }
  }
  CHECK((*find_node(tree, "root/gateway"))["strategy"] == "one_for_one");

  // Many sessions: ?limit= lists some children of each supervisor and sums
  // up the rest (root has 5 children, the sessions supervisor 6).
  for (int i = 0; i < 6; ++i) {
    api_client user{srv.port()};
    sign_up(user, "u" + std::to_string(i) + "@example.com");
    REQUIRE(user.get("/v1/me").status == 200);
  }
  auto limited = c.get("/ops/supervision?limit=5").json()["tree"];
  auto* node = find_node(limited, "root/sessions");
  REQUIRE(node);
  const auto& sessions = (*node)["children"];
  REQUIRE(sessions.size() == 6);
  CHECK(sessions[0]["kind"] == "session");
  CHECK(sessions[5]["kind"] == "omitted");
  CHECK(sessions[5]["omitted"] == 1);
  require_problem(c.get("/ops/supervision?limit=0"), 422);
}

TEST_CASE("health, readiness and metrics answer without a token") {
  auto kind = GENERATE(as<std::string>{}, "sqlite", "postgresql");
  DYNAMIC_SECTION(kind) {
    backend db{kind};
    server_process srv{db.env()};
    api_client c{srv.port()};
    CHECK(c.get("/healthz").status == 200);
    auto ready = c.get("/readyz");
    REQUIRE(ready.status == 200);
    CHECK(ready.json()["checks"]["database"] == "ok");
    c.get("/v1/nothing");
    auto metrics = c.get("/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.body.find("switchboard_http_requests_total{") != std::string::npos);
    CHECK(metrics.body.find("switchboard_http_request_duration_seconds_bucket{") !=
          std::string::npos);

    // Actor gauges come from the supervision tree, sampled every few seconds.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (metrics.body.find("switchboard_actors{kind=\"blocking_pool\"} 2") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      metrics = c.get("/metrics");
    }
    CHECK(metrics.body.find("switchboard_actors{kind=\"blocking_pool\"} 2") != std::string::npos);
    CHECK(metrics.body.find("switchboard_actor_restarts{kind=\"session_loader\"} 0") !=
          std::string::npos);
    CHECK(metrics.body.find("switchboard_actor_mailbox_depth{kind=\"event_hub\"}") !=
          std::string::npos);

    if (kind == "postgresql") {
      // The database goes away: readiness says so, liveness does not.
      db.pg.reset();
      auto down = c.get("/readyz");
      CHECK(down.status == 503);
      CHECK(down.json()["status"] == "unavailable");
      CHECK(c.get("/healthz").status == 200);
    }
  }
}

TEST_CASE("readiness reports Redis, which degrades without failing the service") {
  const char* redis_url = std::getenv("SB_TEST_REDIS");
  if (!redis_url) {
    FAIL("SB_TEST_REDIS is unset: run the tests with ./scripts/test");
  }
  backend db{"sqlite"};
  {
    server_process srv{db.env({{"SWITCHBOARD_REDIS", redis_url}})};
    api_client c{srv.port()};
    // The client connects in the background; readiness may briefly say so.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto ready = c.get("/readyz");
    while (ready.json()["checks"]["redis"] != "ok" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ready = c.get("/readyz");
    }
    CHECK(ready.status == 200);
    CHECK(ready.json()["checks"]["redis"] == "ok");
  }

  // Nothing listens there: Redis is degraded, the service still ready.
  server_process srv{db.env({{"SWITCHBOARD_REDIS", "redis://127.0.0.1:1/0"}})};
  api_client c{srv.port()};
  auto ready = c.get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.json()["status"] == "ready");
  CHECK(ready.json()["checks"]["redis"].get<std::string>().rfind("degraded: ", 0) == 0);
  sign_up(c, "noredis@example.com");
  CHECK(c.get("/v1/me").status == 200);

  auto [code, out] = run_binary({}, {{"SWITCHBOARD_DATABASE", db.connection_string},
                                     {"SWITCHBOARD_REDIS", "redis://:secret@127.0.0.1:x/0"}});
  CHECK(code == 1);
  CHECK(out.find("SWITCHBOARD_REDIS") != std::string::npos);
  CHECK(out.find("secret") == std::string::npos);
}

TEST_CASE("reads survive PostgreSQL closing the pooled connections") {
  backend db{"postgresql"};
  server_process srv{db.env()};
  api_client c{srv.port()};
  sign_up(c, "pool@example.com");
  REQUIRE(c.post("/v1/contacts", {{"email", "kept@example.com"}}).status == 201);

  // The database ends every session of the server (as on a failover).
  auto admin = connect(postgres_server());
  auto killed = require_ok(admin->query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> "
      "pg_backend_pid()",
      {db.pg->name()}));
  REQUIRE_FALSE(killed.empty());

  // Each read finds a dead connection and is run again on a fresh one.
  for (int i = 0; i < 6; ++i) {
    auto r = c.get("/v1/contacts");
    INFO(r.body);
    CHECK(r.status == 200);
  }
}

TEST_CASE("request ids are echoed and trace ids reach the access log") {
  backend db{"sqlite"};
  server_process srv{db.env()};
  api_client c{srv.port()};
  auto r = c.get("/healthz",
                 {{"X-Request-Id", "abc-123"},
                  {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  CHECK(r.header("x-request-id") == "abc-123");
  auto generated = c.get("/healthz").header("x-request-id");
  CHECK(generated.size() >= 16);

  srv.stop();
  bool found = false;
  std::istringstream lines{srv.log()};
  for (std::string line; std::getline(lines, line);) {
    auto entry = json::parse(line, nullptr, false);
    REQUIRE_FALSE(entry.is_discarded());  // Every line is one JSON object.
    if (entry.value("request_id", "") == "abc-123") {
      CHECK(entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
      CHECK(entry["status"] == 200);
      CHECK(entry.contains("duration_ms"));
      CHECK(entry.contains("ts"));
      CHECK(entry["level"] == "info");
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("the server refuses bad settings with one line and stops cleanly on SIGTERM") {
  auto [code, out] = run_binary({}, {{"SWITCHBOARD_LISTEN", "nowhere"}});
  CHECK(code == 2);
  CHECK(out ==
        "switchboard: invalid configuration: SWITCHBOARD_LISTEN: expected host:port, "
        "got 'nowhere'\n");

  auto [help_code, help] = run_binary({"--help"}, {});
  CHECK(help_code == 0);
  CHECK(help.find("SWITCHBOARD_DATABASE") != std::string::npos);

  backend db{"sqlite"};
  server_process srv{db.env()};
  CHECK(srv.stop() == 0);
}
