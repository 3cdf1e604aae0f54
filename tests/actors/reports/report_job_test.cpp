// The report job on both databases: a report larger than one chunk is stored
// in pieces that add up to the whole, a retry replaces an earlier attempt's
// chunks, and a cancelled or fenced-out attempt stores nothing.

#include "actors/reports/report_job.hpp"

#include "persistence/migrations.hpp"
#include "persistence/repositories/engagement.hpp"
#include "persistence/repositories/jobs.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

using namespace sb::actors;
using namespace sb::persistence;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

constexpr int64_t t0 = 1'700'000'000'000;
constexpr const char* owner = "node-1/worker-1";

// A migrated database with a workspace of `n` videos whose titles are 300
// characters long, so that a CSV report outgrows a 64 KiB chunk.
struct report_db : sb::testing::migrated_database {
  report_db(database_kind kind, int n) : migrated_database(kind) {
    add_workspace("ws_a", "A", t0);
    for (int i = 0; i < n; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "vid_%04d", i);
      require_ok(conn->execute(
          "INSERT INTO videos (id, workspace_id, title, status, version, created_at, updated_at) "
          "VALUES (?, 'ws_a', ?, 'ready', 1, ?, ?)",
          {std::string{id}, std::string(300, 'a' + i % 26), t0, t0}));
    }
  }

  // Queues a report job and claims it, as the dispatcher would.
  jobs::job_record claimed(const std::string& format = "csv") {
    jobs::new_job j;
    j.id = "job_1";
    j.workspace_id = "ws_a";
    j.kind = reports::job_kind;
    j.payload = reports::to_payload({"engagement", format, t0, t0 + 1000});
    require_ok(jobs::enqueue(*conn, j, t0));
    auto got = require_ok(jobs::claim(*conn, owner, {reports::job_kind}, 1, 60'000, t0));
    REQUIRE(got.size() == 1);
    return got.front();
  }

  // Every stored chunk of job_1, joined.
  std::string stored(int64_t& chunks) {
    std::string all;
    for (chunks = 0;; ++chunks) {
      auto piece = require_ok(engagement::chunk(*conn, "job_1", chunks));
      if (!piece) {
        return all;
      }
      all += *piece;
    }
  }
};

job_result run(report_db& db, const jobs::job_record& job, bool stop = false) {
  auto flag = std::make_shared<std::atomic<bool>>(stop);
  job_context ctx{job, *db.conn, [](int64_t, int64_t) {}, flag};
  return reports::run_report(ctx);
}

}  // namespace

TEST_CASE("a report larger than a chunk is stored in pieces that make up the whole") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  report_db db{kind, 300};
  auto job = db.claimed();

  // An earlier attempt's leftovers go.
  require_ok(engagement::put_chunk(*db.conn, "job_1", 7, "stale"));

  auto out = run(db, job);
  REQUIRE(out.error.empty());
  auto result = reports::read_output(out.result);
  REQUIRE(result);
  CHECK(result->rows == 300);
  CHECK(result->format == "csv");
  CHECK(result->content_type == "text/csv; charset=utf-8");

  int64_t chunks = 0;
  auto all = db.stored(chunks);
  CHECK(chunks == result->chunks);
  CHECK(chunks >= 2);
  CHECK(static_cast<int64_t>(all.size()) == result->bytes);
  CHECK(all.find("stale") == std::string::npos);
  CHECK(all.rfind("video_id,title,", 0) == 0);
  CHECK(all.find("vid_0299," + std::string(300, 'a' + 299 % 26) + ",,0,0,0,\r\n") !=
        std::string::npos);

  // The job completed in the same transaction, with its result and progress.
  auto stored = require_ok(jobs::get(*db.conn, "job_1"));
  REQUIRE(stored);
  CHECK(stored->job.state == jobs::job_state::completed);
  CHECK(stored->job.result == out.result);
  CHECK(stored->job.progress_done == 300);
}

TEST_CASE("a JSON report is one document with its rows") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  report_db db{kind, 3};
  auto out = run(db, db.claimed("json"));
  REQUIRE(out.error.empty());
  int64_t chunks = 0;
  auto doc = nlohmann::json::parse(db.stored(chunks), nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc["kind"] == "engagement");
  CHECK(doc["from"] == "2023-11-14T22:13:20.000Z");
  REQUIRE(doc["rows"].size() == 3);
  CHECK(doc["rows"][2]["video_id"] == "vid_0002");
  CHECK(doc["rows"][2]["mean_share_watched"] == nullptr);
}

TEST_CASE("a stopped or fenced-out report attempt stores nothing") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  report_db db{kind, 300};
  auto job = db.claimed();
  int64_t chunks = 0;

  SECTION("stopping") {
    auto out = run(db, job, true);
    CHECK(out.error == "stopped: the report was cancelled");
    db.stored(chunks);
    CHECK(chunks == 0);
    CHECK(require_ok(jobs::get(*db.conn, "job_1"))->job.state == jobs::job_state::running);
  }
  SECTION("cancelled meanwhile") {
    REQUIRE(require_ok(jobs::cancel(*db.conn, "job_1", t0 + 1)));
    auto out = run(db, job);
    CHECK(out.error == "the lease was lost before the report was stored");
    db.stored(chunks);
    CHECK(chunks == 0);
    CHECK(require_ok(jobs::get(*db.conn, "job_1"))->job.state == jobs::job_state::cancelled);
  }
}

TEST_CASE("a report job with a payload that is not a report fails") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  report_db db{kind, 0};
  auto job = db.claimed();
  job.payload = R"({"kind":"sales","format":"csv","from":0,"to":1})";
  CHECK_FALSE(run(db, job).error.empty());
}
