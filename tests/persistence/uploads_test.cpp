// Stored uploads on both databases: chunks keep every byte, an upload is
// completed once, and removing one (or an abandoned one) takes its chunks.

#include "persistence/repositories/uploads.hpp"

#include "persistence/migrations.hpp"
#include "persistence/repositories/jobs.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace sb::persistence;
using namespace sb::persistence::uploads;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

constexpr int64_t t0 = 1'700'000'000'000;  // Unix ms.

// A fresh, migrated database with one workspace and one user.
struct upload_db : sb::testing::migrated_database {
  explicit upload_db(database_kind kind) : migrated_database(kind) {
    add_workspace("ws_1");
    add_user("us_1");
  }
};

upload_record make_upload(const std::string& id, int64_t at = t0) {
  upload_record u;
  u.id = id;
  u.workspace_id = "ws_1";
  u.user_id = "us_1";
  u.created_at = u.updated_at = at;
  return u;
}

// Every byte value, NUL and invalid UTF-8 among them, and lengths that end
// the base64 text with 0, 1 and 2 padding characters.
std::string all_bytes(size_t extra) {
  std::string s;
  for (int i = 0; i < 256; ++i) {
    s += static_cast<char>(i);
  }
  return s + std::string(extra, '\xff');
}

}  // namespace

TEST_CASE("uploads keep every byte of their chunks, in order") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  auto& c = *t.conn;

  require_ok(create(c, make_upload("up_1")));
  std::vector<std::string> chunks = {all_bytes(0), all_bytes(1), all_bytes(2), "a,b\r\n",
                                     std::string(300 * 1024, 'x')};
  for (size_t i = 0; i < chunks.size(); ++i) {
    require_ok(add_chunk(c, "up_1", static_cast<int64_t>(i), chunks[i]));
  }

  auto u = require_ok(find(c, "up_1"));
  REQUIRE(u);
  CHECK(u->state == upload_state::receiving);
  CHECK(u->workspace_id == "ws_1");
  CHECK(u->user_id == "us_1");
  for (size_t i = 0; i < chunks.size(); ++i) {
    CAPTURE(i);
    auto got = require_ok(chunk(c, "up_1", static_cast<int64_t>(i)));
    REQUIRE(got);
    CHECK(*got == chunks[i]);
  }
  CHECK_FALSE(require_ok(chunk(c, "up_1", 5)));
  CHECK_FALSE(require_ok(find(c, "up_2")));
}

TEST_CASE("an upload chunk number is stored once") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  require_ok(create(*t.conn, make_upload("up_1")));
  require_ok(add_chunk(*t.conn, "up_1", 0, "first"));
  auto again = add_chunk(*t.conn, "up_1", 0, "second");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == db_errc::conflict);
  CHECK(*require_ok(chunk(*t.conn, "up_1", 0)) == "first");
}

TEST_CASE("an upload is completed once, with its final size") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  auto& c = *t.conn;
  require_ok(create(c, make_upload("up_1")));
  require_ok(add_chunk(c, "up_1", 0, "abc"));

  CHECK(require_ok(complete(c, "up_1", 3, 1, t0 + 5)));
  CHECK_FALSE(require_ok(complete(c, "up_1", 3, 1, t0 + 6)));
  CHECK_FALSE(require_ok(complete(c, "up_9", 3, 1, t0 + 6)));
  auto u = require_ok(find(c, "up_1"));
  REQUIRE(u);
  CHECK(u->state == upload_state::complete);
  CHECK(u->bytes == 3);
  CHECK(u->chunks == 1);
  CHECK(u->updated_at == t0 + 5);
}

TEST_CASE("removing an upload takes its chunks, and a rolled-back removal keeps them") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  auto& c = *t.conn;
  require_ok(create(c, make_upload("up_1")));
  require_ok(add_chunk(c, "up_1", 0, "abc"));
  require_ok(add_chunk(c, "up_1", 1, "def"));

  require_ok(c.begin());
  CHECK(require_ok(remove(c, "up_1")));
  c.rollback();
  CHECK(require_ok(find(c, "up_1")));
  CHECK(*require_ok(chunk(c, "up_1", 1)) == "def");

  CHECK(require_ok(remove(c, "up_1")));
  CHECK_FALSE(require_ok(find(c, "up_1")));
  CHECK(require_ok(c.query("SELECT COUNT(*) FROM upload_chunks")).front().int64(0) == 0);
  CHECK_FALSE(require_ok(remove(c, "up_1")));
}

TEST_CASE("abandoned uploads are those still receiving past the cut-off") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  auto& c = *t.conn;
  require_ok(create(c, make_upload("up_old", t0)));
  require_ok(add_chunk(c, "up_old", 0, "abc"));
  require_ok(create(c, make_upload("up_done", t0)));
  require_ok(complete(c, "up_done", 0, 0, t0));
  require_ok(create(c, make_upload("up_new", t0 + 1000)));

  CHECK(require_ok(remove_abandoned(c, t0 + 500)) == 1);
  CHECK_FALSE(require_ok(find(c, "up_old")));
  CHECK(require_ok(find(c, "up_done")));
  CHECK(require_ok(find(c, "up_new")));
  CHECK(require_ok(c.query("SELECT COUNT(*) FROM upload_chunks")).front().int64(0) == 0);
}

TEST_CASE("complete uploads that no queued, running or dead job names are unclaimed") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  upload_db t{kind};
  auto& c = *t.conn;
  // One complete upload per job state, one with no job, one still receiving.
  const std::vector<std::pair<std::string, std::string>> jobs_by_upload = {
      {"up_available", "available"}, {"up_running", "running"},     {"up_dead", "dead"},
      {"up_cancelled", "cancelled"}, {"up_completed", "completed"}, {"up_nojob", ""}};
  for (const auto& [id, state] : jobs_by_upload) {
    require_ok(create(c, make_upload(id)));
    require_ok(add_chunk(c, id, 0, "email\n"));
    require_ok(complete(c, id, 6, 1, t0));
    if (state.empty()) {
      continue;
    }
    jobs::new_job j;
    j.id = "job_" + id;
    j.kind = "contacts.import";
    j.payload = R"({"upload_id":")" + id + R"("})";
    require_ok(jobs::enqueue(c, j, t0));
    require_ok(c.execute("UPDATE jobs SET state = ? WHERE id = ?", {state, j.id}));
  }
  require_ok(create(c, make_upload("up_receiving")));
  // A job of another kind naming an upload does not keep it.
  jobs::new_job other;
  other.id = "job_other";
  other.kind = "report";
  other.payload = R"({"upload_id":"up_nojob"})";
  require_ok(jobs::enqueue(c, other, t0));

  CHECK(require_ok(remove_unclaimed(c, "contacts.import")) == 3);
  for (const auto* gone : {"up_cancelled", "up_completed", "up_nojob"}) {
    CAPTURE(gone);
    CHECK_FALSE(require_ok(find(c, gone)));
  }
  for (const auto* kept : {"up_available", "up_running", "up_dead", "up_receiving"}) {
    CAPTURE(kept);
    CHECK(require_ok(find(c, kept)));
  }
  CHECK(require_ok(c.query("SELECT COUNT(*) FROM upload_chunks")).front().int64(0) == 3);
  CHECK(require_ok(remove_unclaimed(c, "contacts.import")) == 0);
}
