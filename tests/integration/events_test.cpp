// End-to-end tests of the event stream: real WebSocket clients against the
// real server.

#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace sb::testing;
using nlohmann::json;

namespace {

std::map<std::string, std::string> server_env(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {
      {"SWITCHBOARD_DATABASE", temp_sqlite_database()},
      {"SWITCHBOARD_PASSWORD_HASH", "minimum"},
  };
  env.insert(extra.begin(), extra.end());
  return env;
}

std::string sign_up(api_client& c, const std::string& email) {
  auto r = c.post("/v1/auth/signup", {{"email", email},
                                      {"password", "a long password"},
                                      {"name", "Events"},
                                      {"workspace", email}});
  REQUIRE(r.status == 201);
  auto token = r.json()["token"].get<std::string>();
  c.token(token);
  return token;
}

ws_options bearer(const std::string& token) {
  ws_options o;
  o.headers["Authorization"] = "Bearer " + token;
  return o;
}

json next_event(ws_client& ws) {
  auto text = ws.read_text(std::chrono::seconds(10));
  REQUIRE(text);
  auto e = json::parse(*text, nullptr, false);
  REQUIRE(e.is_object());
  return e;
}

}  // namespace

TEST_CASE("every change in a workspace reaches its WebSocket clients in order") {
  server_process srv{server_env()};
  api_client c{srv.port()};
  auto token = sign_up(c, "events@example.com");
  auto workspace = c.get("/v1/me").json()["workspace"]["id"];

  ws_client by_header{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(by_header.accepted());
  ws_options query;
  query.target = "/v1/events?access_token=" + token;
  ws_client by_query{"127.0.0.1", srv.port(), query};
  REQUIRE(by_query.accepted());

  auto contact = c.post("/v1/contacts", {{"email", "x@example.com"}}).json();
  auto id = contact["id"].get<std::string>();
  REQUIRE(c.patch("/v1/contacts/" + id, {{"company", "Acme"}}).status == 200);
  auto deal = c.post("/v1/deals", {{"name", "D"}}).json()["id"].get<std::string>();
  REQUIRE(c.del("/v1/contacts/" + id).status == 204);
  auto video = c.post("/v1/videos", {{"title", "V"}}).json()["id"].get<std::string>();
  REQUIRE(c.del("/v1/videos/" + video).status == 204);

  for (auto* ws : {&by_header, &by_query}) {
    auto created = next_event(*ws);
    CHECK(created["type"] == "contact.created");
    CHECK(created["id"] == id);
    CHECK(created["workspace_id"] == workspace);
    CHECK(created["data"]["email"] == "x@example.com");
    CHECK(created["occurred_at"].is_number());
    auto updated = next_event(*ws);
    CHECK(updated["type"] == "contact.updated");
    CHECK(updated["data"]["company"] == "Acme");
    CHECK(next_event(*ws)["type"] == "deal.created");
    auto deleted = next_event(*ws);
    CHECK(deleted["type"] == "contact.deleted");
    CHECK(deleted["data"].is_null());
    CHECK(next_event(*ws)["type"] == "video.created");
    CHECK(next_event(*ws)["type"] == "video.deleted");
  }
}

TEST_CASE("event streams need a valid token and stay within their workspace") {
  server_process srv{server_env()};
  api_client alice{srv.port()}, bob{srv.port()};
  auto alice_token = sign_up(alice, "alice@example.com");
  auto bob_token = sign_up(bob, "bob@example.com");

  ws_client anonymous{"127.0.0.1", srv.port()};
  CHECK_FALSE(anonymous.accepted());
  CHECK(anonymous.response().status == 401);
  ws_client forged{"127.0.0.1", srv.port(), bearer("forged-token")};
  CHECK_FALSE(forged.accepted());
  CHECK(forged.response().status == 401);

  ws_client bobs{"127.0.0.1", srv.port(), bearer(bob_token)};
  REQUIRE(bobs.accepted());
  REQUIRE(alice.post("/v1/contacts", {{"email", "a@example.com"}}).status == 201);
  REQUIRE(bob.post("/v1/contacts", {{"email", "b@example.com"}}).status == 201);
  // Bob's first event is his own: Alice's, sent earlier, never reached him.
  CHECK(next_event(bobs)["data"]["email"] == "b@example.com");
}

TEST_CASE("keep-alive pings hold a live client and drop one that stopped answering") {
  server_process srv{server_env({{"SWITCHBOARD_WS_PING_INTERVAL_MS", "200"}})};
  api_client c{srv.port()};
  auto token = sign_up(c, "pings@example.com");
  ws_client live{"127.0.0.1", srv.port(), bearer(token)};
  ws_client gone{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(live.accepted());
  REQUIRE(gone.accepted());

  // `live` reads, so its client answers the server's pings; `gone` does not
  // read for five ping intervals.
  CHECK_FALSE(live.read_text(std::chrono::milliseconds(1000)));
  CHECK_FALSE(live.closed());
  CHECK_FALSE(gone.read_text(std::chrono::seconds(5)));
  CHECK(gone.closed());

  REQUIRE(c.post("/v1/videos", {{"title", "still here"}}).status == 201);
  CHECK(next_event(live)["data"]["title"] == "still here");
}

TEST_CASE("logging out closes the streams the token opened") {
  server_process srv{server_env()};
  api_client c{srv.port()};
  auto token = sign_up(c, "leaver@example.com");
  ws_client ws{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(ws.accepted());
  REQUIRE(c.post("/v1/auth/logout", json::object()).status == 204);
  CHECK_FALSE(ws.read_text(std::chrono::seconds(10)));
  CHECK(ws.close_code() == std::optional<uint16_t>{1008});
}

TEST_CASE("a client that does not read is closed with 1013 and others keep receiving") {
  server_process srv{server_env({{"SWITCHBOARD_WS_QUEUE_LIMIT", "8"}})};
  api_client c{srv.port()};
  auto token = sign_up(c, "slow@example.com");

  auto slow_options = bearer(token);
  slow_options.receive_buffer = 4096;
  ws_client slow{"127.0.0.1", srv.port(), slow_options};
  ws_client fast{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(slow.accepted());
  REQUIRE(fast.accepted());

  // Large events fill the socket buffers of the client that never reads.
  const std::string description(4900, 'd');
  const int events = 1000;
  for (int i = 0; i < events; ++i) {
    auto r =
        c.post("/v1/videos", {{"title", "v" + std::to_string(i)}, {"description", description}});
    REQUIRE(r.status == 201);
    auto e = next_event(fast);
    REQUIRE(e["data"]["title"] == "v" + std::to_string(i));
  }

  // The slow client finds the frames that made it out, then the close.
  while (slow.read_text(std::chrono::seconds(10))) {
  }
  REQUIRE(slow.closed());
  CHECK(slow.close_code() == std::optional<uint16_t>{1013});

  // Reconnecting works, and the stream carries on.
  ws_client again{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(again.accepted());
  REQUIRE(c.post("/v1/videos", {{"title", "after"}}).status == 201);
  CHECK(next_event(again)["data"]["title"] == "after");
  CHECK(next_event(fast)["data"]["title"] == "after");
}

TEST_CASE("stopping the server closes event streams with 1001") {
  server_process srv{server_env()};
  api_client c{srv.port()};
  auto token = sign_up(c, "bye@example.com");
  ws_client ws{"127.0.0.1", srv.port(), bearer(token)};
  REQUIRE(ws.accepted());
  // The client is reading when the server stops, as a live client would be.
  auto reading =
      std::async(std::launch::async, [&ws] { return ws.read_text(std::chrono::seconds(10)); });
  auto started = std::chrono::steady_clock::now();
  CHECK(srv.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  CHECK_FALSE(reading.get());
  CHECK(ws.closed());
  CHECK(ws.close_code() == std::optional<uint16_t>{1001});
}
