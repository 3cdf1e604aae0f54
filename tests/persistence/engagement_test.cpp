// Engagement data on both databases: viewing events stored once per id,
// batches stored all or nothing, the report aggregates on known data, and
// the chunks a report is stored in.

#include "persistence/repositories/engagement.hpp"

#include "persistence/migrations.hpp"
#include "persistence/repositories/jobs.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace sb::persistence;
using namespace sb::persistence::engagement;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

constexpr int64_t t0 = 1'700'000'000'000;  // Unix ms.

// A fresh, migrated database with two workspaces in it.
struct engagement_db : sb::testing::migrated_database {
  explicit engagement_db(database_kind kind) : migrated_database(kind) {
    add_workspace("ws_a", "ws_a", t0);
    add_workspace("ws_b", "ws_b", t0);
  }

  void exec(const std::string& sql, const std::vector<param>& params) {
    require_ok(conn->execute(sql, params));
  }

  void video(const std::string& ws, const std::string& id, std::optional<int64_t> duration) {
    exec(
        "INSERT INTO videos (id, workspace_id, title, status, version, created_at, updated_at, "
        "duration_seconds) VALUES (?, ?, ?, 'ready', 1, ?, ?, ?)",
        {id, ws, "Title of " + id, t0, t0, duration ? param{*duration} : param{}});
  }

  void contact(const std::string& id) {
    exec(
        "INSERT INTO contacts (id, workspace_id, email, email_lc, version, created_at, "
        "updated_at) VALUES (?, 'ws_a', ?, ?, 1, ?, ?)",
        {id, id + "@example.com", id + "@example.com", t0, t0});
  }

  void deal(const std::string& id, const std::string& stage, std::optional<int64_t> amount,
            const std::vector<std::string>& contacts) {
    exec(
        "INSERT INTO deals (id, workspace_id, name, stage, amount_minor, version, created_at, "
        "updated_at) VALUES (?, 'ws_a', ?, ?, ?, 1, ?, ?)",
        {id, id, stage, amount ? param{*amount} : param{}, t0, t0});
    int64_t position = 0;
    for (const auto& c : contacts) {
      exec("INSERT INTO deal_contacts (deal_id, contact_id, position) VALUES (?, ?, ?)",
           {id, c, position++});
    }
  }

  int64_t count_views() {
    auto rows = require_ok(conn->query("SELECT COUNT(*) FROM video_views"));
    return rows.front().int64(0);
  }
};

video_view_record view(const std::string& id, const std::string& video, opt_text contact,
                       const std::string& event, double seconds, int64_t at,
                       const std::string& ws = "ws_a") {
  return {ws, id, video, std::move(contact), event, seconds, at, t0};
}

template <class Row, class Each>
std::vector<Row> read_report(connection& conn, Each each, const report_range& range, size_t batch) {
  std::vector<Row> out;
  int batches = 0;
  require_ok(in_transaction(conn, [&](connection& c) {
    out.clear();
    batches = 0;
    return each(c, range, batch, [&](const std::vector<Row>& rows) {
      CHECK(rows.size() <= batch);
      ++batches;
      out.insert(out.end(), rows.begin(), rows.end());
      return true;
    });
  }));
  return out;
}

}  // namespace

TEST_CASE("a viewing event is stored once, whatever its replays say") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);
  db.video("ws_b", "vid_2", 100);

  CHECK(require_ok(record_view(*db.conn, view("ev_1", "vid_1", "ct_1", "play", 0, t0))));
  CHECK_FALSE(require_ok(record_view(*db.conn, view("ev_1", "vid_1", "ct_1", "complete", 9, t0))));
  // Ids are unique per workspace: another workspace may use the same one.
  CHECK(require_ok(
      record_view(*db.conn, view("ev_1", "vid_2", std::nullopt, "play", 0, t0, "ws_b"))));
  CHECK(db.count_views() == 2);

  auto stored = require_ok(
      db.conn->query("SELECT event, seconds_watched FROM video_views WHERE workspace_id = 'ws_a'"));
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].text(0) == "play");
}

TEST_CASE("a batch stores only new ids, counting repeats inside it as known") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);
  require_ok(record_view(*db.conn, view("ev_0", "vid_1", std::nullopt, "play", 0, t0)));

  // 1200 events cross the 500-row statements; ev_0 is known, ev_7 repeats.
  std::vector<video_view_record> batch;
  for (int i = 0; i < 1200; ++i) {
    batch.push_back(view("ev_" + std::to_string(i), "vid_1", "ct_1", "progress", i, t0 + i));
  }
  batch.push_back(view("ev_7", "vid_1", "ct_1", "complete", 1, t0));
  CHECK(require_ok(record_views(*db.conn, batch)) == 1199);
  CHECK(db.count_views() == 1200);
  CHECK(require_ok(record_views(*db.conn, batch)) == 0);
}

TEST_CASE("a batch with a failing row stores nothing") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);

  // The bad row comes after a first statement of 500 rows went through.
  std::vector<video_view_record> batch;
  for (int i = 0; i < 700; ++i) {
    batch.push_back(view("ev_" + std::to_string(i), "vid_1", std::nullopt, "play", 0, t0));
  }
  batch[650].video_id = "vid_missing";
  auto res = record_views(*db.conn, batch);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::conflict);
  CHECK(db.count_views() == 0);
  CHECK_FALSE(db.conn->in_transaction());
}

TEST_CASE("video lookups find only the workspace's own videos") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);
  db.video("ws_b", "vid_2", 100);
  auto found = require_ok(existing_videos(*db.conn, "ws_a", {"vid_1", "vid_2", "vid_3"}));
  CHECK(found == std::set<std::string>{"vid_1"});
}

TEST_CASE("the engagement report counts plays, completions, viewers and share watched") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);
  db.video("ws_a", "vid_2", std::nullopt);  // Length unknown.
  db.video("ws_a", "vid_3", 60);            // Never watched.
  db.video("ws_b", "vid_9", 100);           // Another workspace's.
  const int64_t from = t0, to = t0 + 1000;

  std::vector<video_view_record> views = {
      // ct_1 watched vid_1 twice and went past its end: share 1.
      view("e1", "vid_1", "ct_1", "play", 0, from),
      view("e2", "vid_1", "ct_1", "progress", 40, from + 10),
      view("e3", "vid_1", "ct_1", "play", 0, from + 20),
      view("e4", "vid_1", "ct_1", "progress", 120, from + 30),
      view("e5", "vid_1", "ct_1", "complete", 100, from + 40),
      // ct_2 stopped at 30 of 100 seconds: share 0.3.
      view("e6", "vid_1", "ct_2", "play", 0, from + 50),
      view("e7", "vid_1", "ct_2", "progress", 30, from + 60),
      // Anonymous: counted as a play and a completion, not as a viewer.
      view("e8", "vid_1", std::nullopt, "play", 0, from + 70),
      view("e9", "vid_1", std::nullopt, "complete", 100, from + 80),
      // Out of range: `to` is exclusive, `from` inclusive.
      view("e10", "vid_1", "ct_3", "play", 0, to),
      view("e11", "vid_1", "ct_3", "play", 0, from - 1),
      view("e12", "vid_2", "ct_1", "play", 0, to - 1),
      view("e13", "vid_9", "ct_1", "play", 0, from, "ws_b"),
  };
  require_ok(record_views(*db.conn, views));
  CHECK(require_ok(count_videos(*db.conn, "ws_a")) == 3);

  // Batches of one and of many give the same rows.
  for (size_t batch : {size_t{1}, size_t{2}, size_t{500}}) {
    CAPTURE(batch);
    auto rows = read_report<engagement_row>(*db.conn, each_engagement, {"ws_a", from, to}, batch);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].video_id == "vid_1");
    CHECK(rows[0].title == "Title of vid_1");
    CHECK(rows[0].duration_seconds == 100);
    CHECK(rows[0].plays == 4);
    CHECK(rows[0].completions == 2);
    CHECK(rows[0].unique_contacts == 2);
    REQUIRE(rows[0].mean_share_watched);
    CHECK(*rows[0].mean_share_watched == Approx(0.65));

    CHECK(rows[1].video_id == "vid_2");
    CHECK_FALSE(rows[1].duration_seconds);
    CHECK(rows[1].plays == 1);
    CHECK(rows[1].completions == 0);
    CHECK(rows[1].unique_contacts == 1);
    CHECK_FALSE(rows[1].mean_share_watched);

    CHECK(rows[2].video_id == "vid_3");
    CHECK(rows[2].plays == 0);
    CHECK(rows[2].unique_contacts == 0);
    CHECK_FALSE(rows[2].mean_share_watched);
  }
}

TEST_CASE("the pipeline report sums deals by stage with their contacts' engagement") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  db.video("ws_a", "vid_1", 100);
  for (const char* c : {"ct_1", "ct_2", "ct_3"}) {
    db.contact(c);
  }
  db.deal("deal_1", "qualified", 1000, {"ct_1", "ct_2"});
  db.deal("deal_2", "qualified", std::nullopt, {"ct_1"});
  db.deal("deal_3", "won", 5000, {"ct_3"});
  db.deal("deal_4", "lost", 200, {});
  const int64_t from = t0, to = t0 + 1000;
  require_ok(record_views(*db.conn, {
                                        view("e1", "vid_1", "ct_1", "play", 0, from),
                                        view("e2", "vid_1", "ct_1", "play", 0, from + 1),
                                        view("e3", "vid_1", "ct_1", "complete", 100, from + 2),
                                        view("e4", "vid_1", "ct_2", "play", 0, from + 3),
                                        view("e5", "vid_1", "ct_3", "play", 0, to),
                                        view("e6", "vid_1", std::nullopt, "play", 0, from),
                                    }));

  auto rows = read_report<pipeline_row>(*db.conn, each_pipeline, {"ws_a", from, to}, 2);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].stage == "lost");
  CHECK(rows[0].deals == 1);
  CHECK(rows[0].amount_minor == 200);
  CHECK(rows[0].contacts == 0);
  CHECK(rows[0].plays == 0);

  CHECK(rows[1].stage == "qualified");
  CHECK(rows[1].deals == 2);
  CHECK(rows[1].amount_minor == 1000);
  CHECK(rows[1].contacts == 2);  // ct_1 is on both deals, counted once.
  CHECK(rows[1].plays == 3);
  CHECK(rows[1].completions == 1);

  CHECK(rows[2].stage == "won");
  CHECK(rows[2].deals == 1);
  CHECK(rows[2].amount_minor == 5000);
  CHECK(rows[2].contacts == 1);
  CHECK(rows[2].plays == 0);  // ct_3's only play is out of range.
}

TEST_CASE("a report read stops when its receiver says so, and needs a transaction") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  for (int i = 0; i < 5; ++i) {
    db.video("ws_a", "vid_" + std::to_string(i), 10);
  }
  int calls = 0;
  require_ok(in_transaction(*db.conn, [&](connection& c) {
    calls = 0;
    return each_engagement(c, {"ws_a", t0, t0 + 1}, 2, [&](const std::vector<engagement_row>&) {
      ++calls;
      return false;
    });
  }));
  CHECK(calls == 1);

  auto outside = each_engagement(*db.conn, {"ws_a", t0, t0 + 1}, 2,
                                 [](const std::vector<engagement_row>&) { return true; });
  REQUIRE_FALSE(outside);
  CHECK(outside.error().code == db_errc::invalid);
}

TEST_CASE("report chunks are stored in order and deleted together") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  engagement_db db{kind};
  jobs::new_job job;
  job.id = "job_1";
  job.kind = "report";
  job.payload = "{}";
  require_ok(jobs::enqueue(*db.conn, job, t0));

  std::string big(70 * 1024, 'x');
  big += "\xc3\xa9,\"quoted\"\n";
  require_ok(put_chunk(*db.conn, "job_1", 0, "video_id,plays\n"));
  require_ok(put_chunk(*db.conn, "job_1", 1, big));
  CHECK(require_ok(chunk(*db.conn, "job_1", 0)) == std::optional<std::string>{"video_id,plays\n"});
  CHECK(require_ok(chunk(*db.conn, "job_1", 1)) == std::optional<std::string>{big});
  CHECK_FALSE(require_ok(chunk(*db.conn, "job_1", 2)));
  CHECK_FALSE(put_chunk(*db.conn, "job_1", 1, "again"));

  require_ok(delete_chunks(*db.conn, "job_1"));
  CHECK_FALSE(require_ok(chunk(*db.conn, "job_1", 0)));
}
