// End-to-end tests of the job queue: jobs stored in the database are run by
// job actors of the real server, and dead letters are shown and replayed
// through the ops endpoints.

#include "persistence/repositories/jobs.hpp"
#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

using namespace sb::testing;
using nlohmann::json;
namespace jobs = sb::persistence::jobs;

namespace {

constexpr const char* ops_token = "ops-token-for-tests-0123456789";

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Ids shaped like the product's: a prefix and 26 base-32 characters.
std::string job_id(int n) {
  auto digits = std::to_string(n);
  return "job_01" + std::string(24 - digits.size(), '0') + digits;
}

void enqueue(sb::persistence::connection& conn, const std::string& id, const std::string& kind,
             int64_t max_attempts = 10) {
  jobs::new_job j;
  j.id = id;
  j.kind = kind;
  j.payload = R"({"test":true})";
  j.max_attempts = max_attempts;
  require_ok(jobs::enqueue(conn, j, now_ms()));
}

// Polls /ops/jobs until `done(counts)` or the deadline.
json wait_for_counts(api_client& ops, const std::function<bool(const json&)>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto counts = ops.get("/ops/jobs").json();
  while (!done(counts) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    counts = ops.get("/ops/jobs").json();
  }
  return counts;
}

}  // namespace

TEST_CASE("job actors run queued jobs, and failures end in the dead-letter queue") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db},
                      {"SWITCHBOARD_DEBUG_ROUTES", "true"},
                      {"SWITCHBOARD_OPS_TOKEN", ops_token}}};
  api_client ops{srv.port()};
  CHECK(ops.get("/ops/jobs").status == 401);
  ops.token(ops_token);

  // Producers write jobs straight into the queue's tables.
  auto conn = connect(db);
  for (int i = 0; i < 20; ++i) {
    enqueue(*conn, job_id(i), "noop");
  }
  auto failing = job_id(100);
  enqueue(*conn, failing, "debug.fail", 1);

  auto counts = wait_for_counts(ops, [](const json& c) {
    return c["kinds"]["noop"].value("completed", 0) == 20 &&
           c["kinds"]["debug.fail"].value("dead", 0) == 1;
  });
  INFO(counts.dump());
  CHECK(counts["kinds"]["noop"]["completed"] == 20);
  CHECK(counts["kinds"]["debug.fail"]["dead"] == 1);

  // The same depths reach /metrics within a sampling period.
  auto deadline0 = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  auto scraped = ops.get("/metrics").body;
  while (scraped.find(R"(switchboard_jobs_queued{kind="noop",state="completed"} 20)") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    scraped = ops.get("/metrics").body;
  }
  CHECK_THAT(scraped,
             Catch::Contains(R"(switchboard_jobs_queued{kind="noop",state="completed"} 20)"));
  CHECK_THAT(scraped, Catch::Contains("switchboard_jobs_oldest_waiting_seconds"));
  CHECK_THAT(scraped, Catch::Contains(R"(switchboard_job_duration_seconds_count{kind="noop"} 20)"));

  // The dead letter keeps its payload, reason and error history.
  auto dead = ops.get("/ops/dlq?kind=debug.fail").json();
  REQUIRE(dead["items"].size() == 1);
  CHECK(dead["items"][0]["id"] == failing);
  CHECK(dead["items"][0]["dead_reason"] == "MaxAttemptsExceeded");
  auto detail = ops.get("/ops/dlq/" + failing).json();
  CHECK(detail["payload"]["test"] == true);
  REQUIRE(detail["errors"].size() == 1);
  CHECK(detail["errors"][0]["error"] == "this job kind always fails");

  // Replay runs it again (it fails again, one more error in its history).
  CHECK(ops.post("/ops/dlq/" + failing + "/replay", json::object()).status == 202);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ops.get("/ops/dlq/" + failing).json()["errors"].size() < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(ops.get("/ops/dlq/" + failing).json()["errors"].size() == 2);

  // A filter replays many at once.
  enqueue(*conn, job_id(101), "debug.fail", 1);
  enqueue(*conn, job_id(102), "debug.fail", 1);
  wait_for_counts(ops,
                  [](const json& c) { return c["kinds"]["debug.fail"].value("dead", 0) == 3; });
  auto all = ops.post("/ops/dlq/replay", {{"kind", "debug.fail"}});
  CHECK(all.status == 202);
  CHECK(all.json()["replayed"] == 3);
  CHECK(ops.post("/ops/dlq/replay", {{"kind", 5}}).status == 422);
  wait_for_counts(ops,
                  [](const json& c) { return c["kinds"]["debug.fail"].value("dead", 0) == 3; });

  CHECK(ops.del("/ops/dlq/" + failing).status == 204);
  CHECK(ops.get("/ops/dlq/" + failing).status == 404);
  CHECK(ops.get("/ops/dlq/" + job_id(1)).status == 404);  // Completed, not dead.

  // The dispatcher sits under the jobs supervisor.
  auto tree = ops.get("/ops/supervision").json()["tree"];
  bool found = false;
  for (const auto& sup : tree["children"]) {
    if (sup["name"] == "jobs") {
      for (const auto& child : sup["children"]) {
        found = found || child["kind"] == "job_dispatcher";
      }
    }
  }
  CHECK(found);
}

TEST_CASE("jobs killed with their server mid-run all complete after a restart, each once") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  std::map<std::string, std::string> env = {{"SWITCHBOARD_DATABASE", db.connection_string()},
                                            {"SWITCHBOARD_DEBUG_ROUTES", "true"},
                                            {"SWITCHBOARD_OPS_TOKEN", ops_token},
                                            {"SWITCHBOARD_JOB_LEASE_MS", "1000"},
                                            {"SWITCHBOARD_JOB_CONCURRENCY", "8"}};
  auto first = std::make_unique<server_process>(env);

  // 1000 jobs whose effect is a row written with their completion.
  auto conn = connect(db.connection_string());
  require_ok(conn->begin());
  for (int i = 0; i < 1000; ++i) {
    enqueue(*conn, job_id(i), "debug.effect");
  }
  require_ok(conn->commit());

  // SIGKILL while jobs are running.
  api_client ops{first->port()};
  ops.token(ops_token);
  wait_for_counts(
      ops, [](const json& c) { return c["kinds"]["debug.effect"].value("completed", 0) >= 50; });
  first->kill();
  first.reset();

  // A new process takes over, rescuing what the dead one held.
  server_process second{env};
  api_client ops2{second.port()};
  ops2.token(ops_token);
  auto counts = wait_for_counts(
      ops2, [](const json& c) { return c["kinds"]["debug.effect"].value("completed", 0) == 1000; });
  INFO(counts.dump());
  CHECK(counts["kinds"]["debug.effect"]["completed"] == 1000);
  CHECK(counts["kinds"]["debug.effect"].value("dead", 0) == 0);

  auto effects =
      require_ok(conn->query("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM debug_job_effects"));
  CHECK(effects.at(0).int64(0) == 1000);
  CHECK(effects.at(0).int64(1) == 1000);
}

TEST_CASE("members see their workspace's jobs and no one else's") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto sign_up = [&](const std::string& email) {
    api_client c{srv.port()};
    auto r = c.post("/v1/auth/signup", {{"email", email},
                                        {"password", "a long password"},
                                        {"name", "Jobs"},
                                        {"workspace", email}});
    REQUIRE(r.status == 201);
    c.token(r.json()["token"].get<std::string>());
    return std::make_pair(c, r.json()["workspace"]["id"].get<std::string>());
  };
  auto [alice, alice_ws] = sign_up("alice@example.com");
  auto [bob, bob_ws] = sign_up("bob@example.com");

  auto conn = connect(db);
  jobs::new_job j;
  j.id = job_id(7);
  j.kind = "noop";
  j.payload = "{}";
  j.workspace_id = alice_ws;
  require_ok(jobs::enqueue(*conn, j, now_ms()));

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto got = alice.get("/v1/jobs/" + j.id);
  while (got.json()["status"] != "succeeded" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = alice.get("/v1/jobs/" + j.id);
  }
  CHECK(got.status == 200);
  CHECK(got.json()["status"] == "succeeded");
  CHECK(got.json()["attempts"] == 1);
  CHECK(bob.get("/v1/jobs/" + j.id).status == 404);
  CHECK(alice.get("/v1/jobs/" + job_id(8)).status == 404);
}

namespace {

// Signs up a member of a new workspace; returns the client and workspace id.
std::pair<api_client, std::string> sign_up(uint16_t port, const std::string& email) {
  api_client c{port};
  auto r = c.post(
      "/v1/auth/signup",
      {{"email", email}, {"password", "a long password"}, {"name", "Jobs"}, {"workspace", email}});
  REQUIRE(r.status == 201);
  c.token(r.json()["token"].get<std::string>());
  return {c, r.json()["workspace"]["id"].get<std::string>()};
}

void enqueue_slow(sb::persistence::connection& conn, const std::string& id,
                  const std::string& workspace, int steps, int step_ms, int64_t run_at = 0) {
  jobs::new_job j;
  j.id = id;
  j.kind = "debug.slow";
  j.workspace_id = workspace;
  j.payload = json{{"steps", steps}, {"step_ms", step_ms}}.dump();
  j.run_at = run_at;
  require_ok(jobs::enqueue(conn, j, now_ms()));
}

// Polls GET /v1/jobs/{id} until `done(view)` or the deadline.
json wait_for_job(api_client& c, const std::string& id,
                  const std::function<bool(const json&)>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto view = c.get("/v1/jobs/" + id).json();
  while (!done(view) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    view = c.get("/v1/jobs/" + id).json();
  }
  return view;
}

// The value of a counter sample in the Prometheus text, 0 when absent.
double metric(api_client& c, const std::string& sample) {
  auto text = c.get("/metrics").body;
  auto at = text.find(sample + " ");
  return at == std::string::npos ? 0.0 : std::stod(text.substr(at + sample.size() + 1));
}

}  // namespace

TEST_CASE("a member sees a job's progress and result, and cancels queued and running jobs") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db},
                      {"SWITCHBOARD_DEBUG_ROUTES", "true"},
                      {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto [alice, ws] = sign_up(srv.port(), "alice@example.com");
  auto [bob, bob_ws] = sign_up(srv.port(), "bob@example.com");
  auto conn = connect(db);

  // A short job finishes with its result and full progress.
  enqueue_slow(*conn, job_id(1), ws, 3, 10);
  auto done =
      wait_for_job(alice, job_id(1), [](const json& v) { return v["status"] == "succeeded"; });
  INFO(done.dump());
  CHECK(done["status"] == "succeeded");
  CHECK(done["result"]["steps"] == 3);
  CHECK(done["progress"]["done"] == 3);
  CHECK(done["progress"]["total"] == 3);
  CHECK(done["finished_at"].is_string());
  CHECK(alice.del("/v1/jobs/" + job_id(1)).status == 409);

  // A running job shows progress, then stops soon after its cancellation.
  enqueue_slow(*conn, job_id(2), ws, 400, 50);
  auto running = wait_for_job(alice, job_id(2), [](const json& v) {
    return v["progress"].is_object() && v["progress"]["done"].get<int>() >= 2;
  });
  INFO(running.dump());
  CHECK(running["status"] == "running");
  CHECK(running["progress"]["total"] == 400);
  CHECK(bob.del("/v1/jobs/" + job_id(2)).status == 404);
  auto cancelled = alice.del("/v1/jobs/" + job_id(2));
  CHECK(cancelled.status == 200);
  CHECK(cancelled.json()["status"] == "cancelled");
  api_client probe{srv.port()};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (metric(probe, R"(switchboard_jobs_total{kind="debug.slow",outcome="lease_lost"})") < 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(metric(probe, R"(switchboard_jobs_total{kind="debug.slow",outcome="lease_lost"})") == 1);
  auto after = alice.get("/v1/jobs/" + job_id(2)).json();
  CHECK(after["status"] == "cancelled");
  CHECK(after["progress"]["done"].get<int>() < 400);

  // A queued job is cancelled before it ever runs.
  enqueue_slow(*conn, job_id(3), ws, 1, 1, now_ms() + 3'600'000);
  CHECK(alice.del("/v1/jobs/" + job_id(3)).json()["status"] == "cancelled");
  CHECK(alice.get("/v1/jobs/" + job_id(3)).json()["attempts"] == 0);
}

TEST_CASE("a kind's concurrency limit holds: one debug.slow job runs at a time") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db},
                      {"SWITCHBOARD_DEBUG_ROUTES", "true"},
                      {"SWITCHBOARD_OPS_TOKEN", ops_token},
                      {"SWITCHBOARD_JOB_CONCURRENCY", "8"}}};
  api_client ops{srv.port()};
  ops.token(ops_token);
  auto conn = connect(db);
  for (int i = 0; i < 4; ++i) {
    enqueue_slow(*conn, job_id(i), "", 4, 50);
  }
  // noop jobs share the process-wide room and are not held back.
  for (int i = 10; i < 30; ++i) {
    enqueue(*conn, job_id(i), "noop");
  }
  int most_running = 0;
  auto counts = wait_for_counts(ops, [&](const json& c) {
    most_running = std::max(most_running, c["kinds"]["debug.slow"].value("running", 0));
    return c["kinds"]["debug.slow"].value("completed", 0) == 4;
  });
  INFO(counts.dump());
  CHECK(counts["kinds"]["debug.slow"]["completed"] == 4);
  CHECK(counts["kinds"]["noop"]["completed"] == 20);
  CHECK(most_running == 1);
}

TEST_CASE("two server processes on one PostgreSQL share the queue and never run a job twice") {
  test_database db{database_kind::postgresql};
  std::map<std::string, std::string> env = {{"SWITCHBOARD_DATABASE", db.connection_string()},
                                            {"SWITCHBOARD_DEBUG_ROUTES", "true"},
                                            {"SWITCHBOARD_OPS_TOKEN", ops_token},
                                            {"SWITCHBOARD_JOB_CONCURRENCY", "8"}};
  server_process a{env};
  server_process b{env};
  auto conn = connect(db.connection_string());
  require_ok(conn->begin());
  for (int i = 0; i < 1000; ++i) {
    enqueue(*conn, job_id(i), "debug.effect");
  }
  require_ok(conn->commit());

  api_client ops{a.port()};
  ops.token(ops_token);
  auto counts = wait_for_counts(
      ops, [](const json& c) { return c["kinds"]["debug.effect"].value("completed", 0) == 1000; });
  INFO(counts.dump());
  CHECK(counts["kinds"]["debug.effect"]["completed"] == 1000);

  // Each job was claimed once (a second claim would add an attempt), and
  // each effect was applied once.
  auto attempts = require_ok(conn->query(
      "SELECT MIN(attempt), MAX(attempt) FROM jobs WHERE kind = ?", {std::string{"debug.effect"}}));
  CHECK(attempts.at(0).int64(0) == 1);
  CHECK(attempts.at(0).int64(1) == 1);
  auto effects = require_ok(conn->query("SELECT COUNT(*) FROM debug_job_effects"));
  CHECK(effects.at(0).int64(0) == 1000);

  // Both processes took part.
  api_client pa{a.port()}, pb{b.port()};
  auto done_a = metric(pa, R"(switchboard_jobs_total{kind="debug.effect",outcome="completed"})");
  auto done_b = metric(pb, R"(switchboard_jobs_total{kind="debug.effect",outcome="completed"})");
  CHECK(done_a > 0);
  CHECK(done_b > 0);
  CHECK(done_a + done_b == 1000);
}
