// The import job run directly on both databases: it merges an upload and
// completes in one transaction, and a job whose lease is gone imports
// nothing and keeps the upload for the attempt that owns it.

#include "actors/import/import_job.hpp"

#include "persistence/migrations.hpp"
#include "persistence/repositories/contacts.hpp"
#include "persistence/repositories/jobs.hpp"
#include "persistence/repositories/uploads.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <nlohmann/json.hpp>

using namespace sb::persistence;
using sb::actors::job_context;
using sb::actors::imports::import_job_kind;
using sb::actors::imports::import_payload;
using sb::actors::imports::run_import;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

int64_t now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A migrated database holding one complete upload of `csv` (in two chunks,
// split inside a quoted field) and its claimed import job.
struct import_fixture : sb::testing::migrated_database {
  explicit import_fixture(database_kind kind, const std::string& csv) : migrated_database(kind) {
    add_workspace("ws_1");
    add_user("us_1");
    uploads::upload_record u;
    u.id = "up_1";
    u.workspace_id = "ws_1";
    u.user_id = "us_1";
    u.created_at = u.updated_at = now();
    require_ok(uploads::create(*conn, u));
    auto half = csv.find("Lovelace") + 3;
    require_ok(uploads::add_chunk(*conn, "up_1", 0, csv.substr(0, half)));
    require_ok(uploads::add_chunk(*conn, "up_1", 1, csv.substr(half)));
    REQUIRE(
        require_ok(uploads::complete(*conn, "up_1", static_cast<int64_t>(csv.size()), 2, now())));

    jobs::new_job j;
    j.id = "job_1";
    j.workspace_id = "ws_1";
    j.kind = std::string{import_job_kind};
    j.payload = import_payload("up_1");
    require_ok(jobs::enqueue(*conn, j, now()));
    auto claimed =
        require_ok(jobs::claim(*conn, "worker-a", {std::string{import_job_kind}}, 1, 60000, now()));
    REQUIRE(claimed.size() == 1);
    job = claimed[0];
  }

  // Runs the job's handler as `job` describes it, recording progress.
  sb::actors::job_result run() {
    job_context ctx{job, *conn,
                    [this](int64_t done, int64_t total) {
                      last_done = done;
                      last_total = total;
                    },
                    nullptr};
    return run_import(ctx);
  }

  jobs::job_record job;
  int64_t last_done = 0;
  int64_t last_total = 0;
};

const std::string csv =
    "Email,First Name,Last Name\r\n"
    "ada@example.com,Ada,\"Lovelace, Countess\"\r\n"
    "nobody,No,Body\r\n"
    "grace@example.com,Grace,Hopper\r\n";

}  // namespace

TEST_CASE("import job merges its upload, completes with the counts and removes the upload") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_fixture f{kind, csv};

  auto out = f.run();
  REQUIRE(out.error.empty());
  auto result = nlohmann::json::parse(out.result);
  CHECK(result["inserted"] == 2);
  CHECK(result["rejected_count"] == 1);
  CHECK(result["rejected"][0]["line"] == 3);
  CHECK(f.last_done == static_cast<int64_t>(csv.size()));
  CHECK(f.last_total == static_cast<int64_t>(csv.size()));

  auto stored = require_ok(contacts::list(*f.conn, "ws_1", page{10, {}}, "ada"));
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].last_name == "Lovelace, Countess");
  auto job = require_ok(jobs::get(*f.conn, "job_1"));
  REQUIRE(job);
  CHECK(job->job.state == jobs::job_state::completed);
  CHECK(job->job.result == out.result);
  CHECK_FALSE(require_ok(uploads::find(*f.conn, "up_1")));
}

TEST_CASE("import job without its lease imports nothing and keeps the upload") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_fixture f{kind, csv};
  // The job was cancelled while this attempt ran.
  REQUIRE(require_ok(jobs::cancel(*f.conn, "job_1", now())));

  auto out = f.run();
  CHECK_THAT(out.error, Catch::Contains("nothing was imported"));
  CHECK(require_ok(contacts::list(*f.conn, "ws_1", page{10, {}}, "")).empty());
  CHECK(require_ok(uploads::find(*f.conn, "up_1")));
  CHECK(require_ok(jobs::get(*f.conn, "job_1"))->job.state == jobs::job_state::cancelled);
}

TEST_CASE("import job refuses an upload of another workspace") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_fixture f{kind, csv};
  f.job.workspace_id = "ws_2";
  CHECK_THAT(f.run().error, Catch::Contains("not a complete upload of this workspace"));
  CHECK(require_ok(contacts::list(*f.conn, "ws_1", page{10, {}}, "")).empty());
}
