// End-to-end tests of engagement data and reports: viewing events recorded
// once, batches validated as a whole, report jobs run by the real server,
// their results downloaded, cancelled and kept to their workspace.

#include "persistence/repositories/jobs.hpp"
#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>

using namespace sb::testing;
using nlohmann::json;
namespace jobs = sb::persistence::jobs;

namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Signs up a member of a new workspace; returns the client and workspace id.
std::pair<api_client, std::string> sign_up(uint16_t port, const std::string& email) {
  api_client c{port};
  auto r = c.post(
      "/v1/auth/signup",
      {{"email", email}, {"password", "a long password"}, {"name", "Rep"}, {"workspace", email}});
  REQUIRE(r.status == 201);
  c.token(r.json()["token"].get<std::string>());
  return {c, r.json()["workspace"]["id"].get<std::string>()};
}

std::string new_video(api_client& c, const std::string& title) {
  auto r = c.post("/v1/videos", {{"title", title}});
  REQUIRE(r.status == 201);
  return r.json()["id"].get<std::string>();
}

json event(const std::string& id, const std::string& video, const json& contact,
           const std::string& kind, double seconds, const json& at) {
  json e = {{"id", id},
            {"event", kind},
            {"seconds_watched", seconds},
            {"occurred_at", at},
            {"contact_id", contact}};
  if (!video.empty()) {
    e["video_id"] = video;
  }
  return e;
}

// Polls GET /v1/reports/{id} until its status is `status` or the deadline.
json wait_for_status(api_client& c, const std::string& id, const std::string& status) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto view = c.get("/v1/reports/" + id).json();
  while (view["status"] != status && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    view = c.get("/v1/reports/" + id).json();
  }
  return view;
}

}  // namespace

TEST_CASE("viewing events are recorded once, and batches are checked as a whole") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, alice_ws] = sign_up(srv.port(), "alice@example.com");
  auto [bob, bob_ws] = sign_up(srv.port(), "bob@example.com");
  auto video = new_video(alice, "Intro");
  auto views = "/v1/videos/" + video + "/views";

  auto first = alice.post(views, event("e1", "", "ct_a", "play", 0, "2026-01-05T10:00:00Z"));
  CHECK(first.status == 201);
  CHECK(first.json()["duplicate"] == false);
  CHECK(first.json()["occurred_at"] == "2026-01-05T10:00:00.000Z");
  auto again = alice.post(views, event("e1", "", "ct_a", "complete", 9, 1767607200000));
  CHECK(again.status == 200);
  CHECK(again.json()["duplicate"] == true);

  // Bad fields, another workspace's video, an unknown one.
  auto bad = alice.post(views, event("", "", 5, "pause", -1, "yesterday"));
  CHECK(bad.status == 422);
  CHECK(bad.json()["errors"].size() == 5);
  CHECK(bob.post(views, event("e2", "", nullptr, "play", 0, 1767607200000)).status == 404);
  CHECK(alice
            .post("/v1/videos/vid_01ZZZZZZZZZZZZZZZZZZZZZZZZ/views",
                  event("e2", "", nullptr, "play", 0, 1767607200000))
            .status == 404);

  // One bad event (and one naming bob's world) refuses the whole batch.
  json batch = {{"events", json::array()}};
  for (int i = 0; i < 5; ++i) {
    batch["events"].push_back(
        event("b" + std::to_string(i), video, "ct_b", "progress", i, 1767607200000 + i));
  }
  batch["events"][1]["event"] = "rewind";
  batch["events"][3]["video_id"] = "vid_01ZZZZZZZZZZZZZZZZZZZZZZZZ";
  auto refused = alice.post("/v1/activity/batch", batch);
  REQUIRE(refused.status == 422);
  auto errors = refused.json()["errors"];
  REQUIRE(errors.size() == 2);
  CHECK(errors[0]["field"] == "events[1].event");
  CHECK(errors[1]["field"] == "events[3].video_id");

  // Fixed, it goes through, with the single event's id as a duplicate.
  batch["events"][1]["event"] = "play";
  batch["events"][3]["video_id"] = video;
  batch["events"].push_back(event("e1", video, "ct_a", "play", 0, 1767607200000));
  auto accepted = alice.post("/v1/activity/batch", batch);
  REQUIRE(accepted.status == 200);
  CHECK(accepted.json()["accepted"] == 5);
  CHECK(accepted.json()["duplicates"] == 1);
  auto replayed = alice.post("/v1/activity/batch", batch);
  CHECK(replayed.json()["accepted"] == 0);
  CHECK(replayed.json()["duplicates"] == 6);

  json too_many = {{"events", json::array()}};
  for (int i = 0; i < 10001; ++i) {
    too_many["events"].push_back(json::object());
  }
  CHECK(alice.post("/v1/activity/batch", too_many).status == 422);
}

TEST_CASE("a report job aggregates the workspace's events and its result downloads") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  server_process srv{
      {{"SWITCHBOARD_DATABASE", db.connection_string()}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, alice_ws] = sign_up(srv.port(), "alice@example.com");
  auto [bob, bob_ws] = sign_up(srv.port(), "bob@example.com");
  auto intro = new_video(alice, "Intro, part 1");
  auto outro = new_video(alice, "Outro");
  auto timed = alice.patch("/v1/videos/" + intro, {{"duration_seconds", 100}});
  REQUIRE(timed.status == 200);
  CHECK(timed.json()["duration_seconds"] == 100);
  CHECK(alice.patch("/v1/videos/" + outro, {{"duration_seconds", -5}}).status == 422);

  // January 2026: ct_a finished the intro, ct_b watched half, one anonymous play.
  auto ok = alice.post("/v1/activity/batch",
                       {{"events",
                         {event("e1", intro, "ct_a", "play", 0, "2026-01-03T09:00:00Z"),
                          event("e2", intro, "ct_a", "complete", 100, "2026-01-03T09:02:00Z"),
                          event("e3", intro, "ct_b", "play", 0, "2026-01-04T09:00:00+02:00"),
                          event("e4", intro, "ct_b", "progress", 50, "2026-01-04T09:01:00Z"),
                          event("e5", intro, nullptr, "play", 0, "2026-01-31T23:59:59.999Z"),
                          event("e6", intro, "ct_c", "play", 0, "2026-02-01T00:00:00Z")}}});
  REQUIRE(ok.status == 200);
  CHECK(ok.json()["accepted"] == 6);

  // Requests that cannot be reports.
  CHECK(alice.post("/v1/reports", {{"kind", "sales"}, {"from", "2026-01-01"}, {"to", "2026-02-01"}})
            .status == 422);
  CHECK(alice
            .post("/v1/reports", {{"kind", "engagement"},
                                  {"format", "xml"},
                                  {"from", "2026-01-01"},
                                  {"to", "2026-02-01"}})
            .status == 422);
  CHECK(alice
            .post("/v1/reports",
                  {{"kind", "engagement"}, {"from", "2026-02-01"}, {"to", "2026-01-01"}})
            .status == 422);
  CHECK(alice
            .post("/v1/reports",
                  {{"kind", "engagement"}, {"from", "2024-01-01"}, {"to", "2026-01-01"}})
            .status == 422);

  // CSV: the intro's numbers, and the outro that nobody watched.
  auto created = alice.post("/v1/reports", {{"kind", "engagement"},
                                            {"format", "csv"},
                                            {"from", "2026-01-01"},
                                            {"to", "2026-02-01T00:00:00Z"}});
  REQUIRE(created.status == 202);
  auto id = created.json()["id"].get<std::string>();
  CHECK(created.json()["status"] == "queued");
  CHECK(created.header("location") == "/v1/reports/" + id);
  auto view = wait_for_status(alice, id, "succeeded");
  REQUIRE(view["status"] == "succeeded");
  CHECK(view["kind"] == "engagement");
  CHECK(view["format"] == "csv");
  CHECK(view["rows"] == 2);
  CHECK(view["progress"]["done"] == 2);
  const std::string expected =
      "video_id,title,duration_seconds,plays,completions,unique_contacts,mean_share_watched\r\n" +
      intro + ",\"Intro, part 1\",100,3,1,2,0.75\r\n" + outro + ",Outro,,0,0,0,\r\n";
  CHECK(view["size"] == expected.size());

  auto download = alice.get("/v1/reports/" + id + "/download");
  CHECK(download.status == 200);
  CHECK(download.header("content-type") == "text/csv; charset=utf-8");
  CHECK(download.body == expected);

  // JSON of the same range, and the pipeline report.
  auto as_json = alice.post(
      "/v1/reports",
      {{"kind", "engagement"}, {"format", "json"}, {"from", 1767225600000}, {"to", 1769904000000}});
  REQUIRE(as_json.status == 202);
  auto json_id = as_json.json()["id"].get<std::string>();
  REQUIRE(wait_for_status(alice, json_id, "succeeded")["status"] == "succeeded");
  auto doc = json::parse(alice.get("/v1/reports/" + json_id + "/download").body, nullptr, false);
  REQUIRE(doc.is_object());
  REQUIRE(doc["rows"].size() == 2);
  CHECK(doc["rows"][0]["plays"] == 3);
  CHECK(doc["rows"][0]["unique_contacts"] == 2);
  CHECK(doc["rows"][0]["mean_share_watched"] == 0.75);
  CHECK(doc["rows"][1]["mean_share_watched"] == nullptr);

  // Another workspace sees none of it.
  CHECK(bob.get("/v1/reports/" + id).status == 404);
  CHECK(bob.get("/v1/reports/" + id + "/download").status == 404);
  CHECK(bob.del("/v1/reports/" + id).status == 404);
  CHECK(bob.get("/v1/reports").json()["items"].empty());

  // The list, newest first; a finished report cannot be cancelled.
  auto list = alice.get("/v1/reports?limit=1");
  REQUIRE(list.json()["items"].size() == 1);
  CHECK(list.json()["items"][0]["id"] == json_id);
  CHECK(list.json()["next_cursor"].is_string());
  CHECK(alice.del("/v1/reports/" + id).status == 409);
}

TEST_CASE("a queued report is cancelled and never downloads") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, alice_ws] = sign_up(srv.port(), "alice@example.com");

  // Scheduled an hour ahead, so it is certainly still queued.
  auto conn = connect(db);
  jobs::new_job j;
  j.id = "job_01AAAAAAAAAAAAAAAAAAAAAAAA";
  j.kind = "report";
  j.workspace_id = alice_ws;
  j.payload = R"({"kind":"pipeline","format":"csv","from":0,"to":1000})";
  j.run_at = now_ms() + 3'600'000;
  require_ok(jobs::enqueue(*conn, j, now_ms()));

  CHECK(alice.get("/v1/reports/" + j.id + "/download").status == 409);
  auto cancelled = alice.del("/v1/reports/" + j.id);
  CHECK(cancelled.status == 200);
  CHECK(cancelled.json()["status"] == "cancelled");
  CHECK(alice.del("/v1/reports/" + j.id).status == 409);
  CHECK(alice.get("/v1/reports/" + j.id + "/download").status == 409);
}

TEST_CASE("a report of several chunks downloads whole, with its Content-Length") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, alice_ws] = sign_up(srv.port(), "alice@example.com");

  // 400 videos with 300-character titles: about 125 KiB of CSV, two chunks.
  auto conn = connect(db);
  for (int i = 0; i < 400; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "vid_01%024d", i);
    require_ok(conn->execute(
        "INSERT INTO videos (id, workspace_id, title, status, version, created_at, updated_at) "
        "VALUES (?, ?, ?, 'ready', 1, 0, 0)",
        {std::string{id}, alice_ws, std::string(300, 'a' + i % 26)}));
  }

  auto created = alice.post(
      "/v1/reports",
      {{"kind", "engagement"}, {"format", "csv"}, {"from", "2026-01-01"}, {"to", "2026-02-01"}});
  REQUIRE(created.status == 202);
  auto id = created.json()["id"].get<std::string>();
  auto view = wait_for_status(alice, id, "succeeded");
  REQUIRE(view["status"] == "succeeded");
  auto size = view["size"].get<size_t>();
  CHECK(size > 64 * 1024);

  auto download = alice.get("/v1/reports/" + id + "/download");
  REQUIRE(download.status == 200);
  CHECK(download.header("content-length") == std::to_string(size));
  CHECK(download.body.size() == size);
  CHECK(std::count(download.body.begin(), download.body.end(), '\n') == 401);
  CHECK(download.body.rfind("video_id,title,", 0) == 0);
  CHECK(download.body.find("vid_01" + std::string(21, '0') + "399," + std::string(300, 'j')) !=
        std::string::npos);
}

TEST_CASE("the workspace hears over its WebSocket when a report completes") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, alice_ws] = sign_up(srv.port(), "alice@example.com");
  auto login = alice.post("/v1/auth/login",
                          {{"email", "alice@example.com"}, {"password", "a long password"}});
  REQUIRE(login.status == 200);
  ws_options options;
  options.headers["Authorization"] = "Bearer " + login.json()["token"].get<std::string>();
  ws_client ws{"127.0.0.1", srv.port(), options};
  REQUIRE(ws.accepted());

  auto created = alice.post(
      "/v1/reports",
      {{"kind", "pipeline"}, {"format", "json"}, {"from", "2026-01-01"}, {"to", "2026-02-01"}});
  REQUIRE(created.status == 202);
  auto id = created.json()["id"].get<std::string>();

  // Progress may come first; the completion names the report and its size.
  json completed;
  for (int i = 0; i < 10 && completed.is_null(); ++i) {
    auto text = ws.read_text(std::chrono::seconds(10));
    REQUIRE(text);
    auto e = json::parse(*text, nullptr, false);
    REQUIRE(e.is_object());
    CHECK(e["type"] != "report.failed");
    if (e["type"] == "report.completed") {
      completed = e;
    }
  }
  REQUIRE(completed.is_object());
  CHECK(completed["id"] == id);
  CHECK(completed["workspace_id"] == alice_ws);
  CHECK(completed["data"]["status"] == "succeeded");
  CHECK(completed["data"]["result"]["format"] == "json");
}
