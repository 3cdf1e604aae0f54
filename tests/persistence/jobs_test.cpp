// The job queue's storage on both databases: state transitions, retries and
// dead-lettering, leases and fencing, idempotency, scheduling, ordering,
// transactional enqueue and concurrent claims. Time is passed in as `now`,
// so no test waits for a clock.

#include "persistence/repositories/jobs.hpp"

#include "persistence/migrations.hpp"
#include "tests/persistence/rendezvous.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace sb::persistence;
using namespace sb::persistence::jobs;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

constexpr int64_t t0 = 1'700'000'000'000;  // Unix ms.
constexpr int64_t lease = 60'000;

// A fresh, migrated database of one kind and a connection to it.
using queue_db = sb::testing::migrated_database;

// Ids ordered like the product's: fixed width, so text order is number order.
std::string job_id(int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "job-%06d", n);
  return buf;
}

new_job make_job(const std::string& id, const std::string& kind = "email") {
  new_job j;
  j.id = id;
  j.kind = kind;
  j.payload = R"({"to":"ada@example.com"})";
  return j;
}

job_details must_get(connection& c, const std::string& id) {
  auto found = require_ok(get(c, id));
  REQUIRE(found.has_value());
  return *found;
}

std::vector<std::string> ids_of(const std::vector<job_record>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) {
    out.push_back(j.id);
  }
  return out;
}

int64_t count_in(const queue_counts& c, const std::string& kind, const std::string& state) {
  for (const auto& x : c.by_kind_state) {
    if (x.kind == kind && x.state == state) {
      return x.count;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("backoff follows Oban's formula, capped, with at most 10% jitter") {
  struct row {
    int64_t attempt;
    double u;
    int64_t cap;
    int64_t expected;
  };
  const std::vector<row> table = {
      {1, 0.0, default_backoff_cap_ms, 17'000},      // 15 s + 2 s
      {2, 0.0, default_backoff_cap_ms, 19'000},      // 15 s + 4 s
      {5, 0.0, default_backoff_cap_ms, 47'000},      // 15 s + 32 s
      {10, 0.0, default_backoff_cap_ms, 1'039'000},  // 15 s + 1024 s
      {1, 0.5, default_backoff_cap_ms, 17'850},      // * 1.05
      {1, 1.0, default_backoff_cap_ms, 18'700},      // * 1.1, the most jitter adds
      {12, 0.0, default_backoff_cap_ms, 3'600'000},  // 4111 s capped at 1 h
      {12, 1.0, default_backoff_cap_ms, 3'960'000},  // jitter applies after the cap
      {3, 0.0, 20'000, 20'000},                      // 23 s capped at 20 s
      {1'000, 0.0, 60'000, 60'000},                  // huge attempts do not overflow
      {0, 0.0, default_backoff_cap_ms, 16'000},      // 15 s + 1 s
  };
  for (const auto& r : table) {
    CAPTURE(r.attempt, r.u, r.cap);
    CHECK(backoff_ms(r.attempt, r.u, r.cap) == r.expected);
  }
}

TEST_CASE("a job goes from available to running to completed for its owner") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  auto j = make_job(job_id(1));
  j.workspace_id = "ws-1";
  j.priority = 3;
  CHECK(require_ok(enqueue(c, j, t0)) == j.id);
  auto stored = must_get(c, j.id).job;
  CHECK(stored.state == job_state::available);
  CHECK(stored.workspace_id == opt_text{"ws-1"});
  CHECK(stored.kind == "email");
  CHECK(stored.payload == j.payload);
  CHECK(stored.priority == 3);
  CHECK(stored.run_at == t0);  // run_at 0 means now.
  CHECK(stored.attempt == 0);
  CHECK(stored.max_attempts == default_max_attempts);
  CHECK(stored.created_at == t0);
  CHECK_FALSE(stored.lease_owner.has_value());

  auto claimed = require_ok(claim(c, "node-a/w1", {"email"}, 10, lease, t0 + 5));
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].id == j.id);
  CHECK(claimed[0].state == job_state::running);
  CHECK(claimed[0].attempt == 1);
  CHECK(claimed[0].lease_owner == opt_text{"node-a/w1"});
  CHECK(claimed[0].lease_expires_at == t0 + 5 + lease);
  // A running job is not claimed twice.
  CHECK(require_ok(claim(c, "node-b/w1", {"email"}, 10, lease, t0 + 6)).empty());

  CHECK(require_ok(renew(c, j.id, "node-a/w1", lease, t0 + 100)));
  CHECK(must_get(c, j.id).job.lease_expires_at == t0 + 100 + lease);

  CHECK(require_ok(complete(c, j.id, "node-a/w1", t0 + 200)));
  auto done = must_get(c, j.id).job;
  CHECK(done.state == job_state::completed);
  CHECK(done.completed_at == t0 + 200);
  CHECK_FALSE(done.lease_expires_at.has_value());
  // Settled once: a second completion or a cancel finds nothing to do.
  CHECK_FALSE(require_ok(complete(c, j.id, "node-a/w1", t0 + 300)));
  CHECK_FALSE(require_ok(cancel(c, j.id, t0 + 300)));

  auto n = require_ok(counts(c, t0 + 300));
  CHECK(count_in(n, "email", "completed") == 1);
  CHECK(n.oldest_waiting_age_ms == 0);
}

TEST_CASE("a failing job retries after its backoff, then is dead with its history") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  auto j = make_job(job_id(1));
  j.max_attempts = 3;
  require_ok(enqueue(c, j, t0));

  int64_t now = t0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    CAPTURE(attempt);
    auto claimed = require_ok(claim(c, "w", {"email"}, 1, lease, now));
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].attempt == attempt);
    auto outcome = require_ok(fail(c, j.id, "w", "boom " + std::to_string(attempt), now, 0.5));
    auto after = must_get(c, j.id).job;
    CHECK(after.last_error == opt_text{"boom " + std::to_string(attempt)});
    if (attempt < 3) {
      CHECK(outcome == fail_outcome::retrying);
      CHECK(after.state == job_state::available);
      CHECK(after.run_at == now + backoff_ms(attempt, 0.5));
      // Not due before its backoff ends, due right at it.
      CHECK(require_ok(claim(c, "w", {"email"}, 1, lease, after.run_at - 1)).empty());
      now = after.run_at;
    } else {
      CHECK(outcome == fail_outcome::dead);
      CHECK(after.state == job_state::dead);
      CHECK(after.dead_reason == opt_text{std::string{max_attempts_exceeded}});
      CHECK(after.attempt == 3);
    }
  }

  // Dead jobs are never claimed again, and every failure is on record.
  CHECK(require_ok(claim(c, "w", {"email"}, 1, lease, now + 86'400'000)).empty());
  auto d = must_get(c, j.id);
  REQUIRE(d.errors.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(d.errors[i].attempt == i + 1);
    CHECK(d.errors[i].error == "boom " + std::to_string(i + 1));
  }
  CHECK(d.errors[2].at == now);
  CHECK(count_in(require_ok(counts(c, now)), "email", "dead") == 1);
}

TEST_CASE("a failure the handler calls final is dead at once, with its own reason") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  require_ok(enqueue(c, make_job(job_id(1)), t0));
  REQUIRE(require_ok(claim(c, "w", {"email"}, 1, lease, t0)).size() == 1);
  CHECK(require_ok(fail(c, job_id(1), "w", "bad input", t0 + 1, 0.5, default_backoff_cap_ms,
                        true)) == fail_outcome::dead);
  auto d = must_get(c, job_id(1));
  CHECK(d.job.state == job_state::dead);
  CHECK(d.job.attempt == 1);
  CHECK(d.job.dead_reason == std::optional<std::string>{std::string{handler_gave_up}});
  CHECK(d.job.last_error == std::optional<std::string>{"bad input"});
}

TEST_CASE("a dead job is listed, replayed with fresh attempts, and can be removed") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  // Three dead jobs of two kinds, one live job.
  for (int n = 1; n <= 3; ++n) {
    auto j = make_job(job_id(n), n == 2 ? "sms" : "email");
    j.max_attempts = 1;
    require_ok(enqueue(c, j, t0));
    REQUIRE(require_ok(claim(c, "w", {j.kind}, 1, lease, t0)).size() == 1);
    REQUIRE(require_ok(fail(c, j.id, "w", "bad payload", t0, 0.0)) == fail_outcome::dead);
  }
  require_ok(enqueue(c, make_job(job_id(4)), t0));

  CHECK(ids_of(require_ok(list_dead(c, "", page{}))) ==
        std::vector<std::string>{job_id(3), job_id(2), job_id(1)});
  CHECK(ids_of(require_ok(list_dead(c, "email", page{}))) ==
        std::vector<std::string>{job_id(3), job_id(1)});
  CHECK(ids_of(require_ok(list_dead(c, "email", page{1, job_id(3)}))) ==
        std::vector<std::string>{job_id(1)});

  // Replay: available now, attempts reset, a new budget, history kept.
  CHECK(require_ok(replay(c, job_id(1), t0 + 1'000, 5)));
  auto replayed = must_get(c, job_id(1));
  CHECK(replayed.job.state == job_state::available);
  CHECK(replayed.job.attempt == 0);
  CHECK(replayed.job.max_attempts == 5);
  CHECK(replayed.job.run_at == t0 + 1'000);
  CHECK_FALSE(replayed.job.dead_reason.has_value());
  CHECK(replayed.errors.size() == 1);
  CHECK_FALSE(require_ok(replay(c, job_id(1), t0 + 1'000)));  // No longer dead.
  CHECK_FALSE(require_ok(replay(c, job_id(4), t0 + 1'000)));  // Never was.

  auto again = require_ok(claim(c, "w", {"email"}, 10, lease, t0 + 1'000));
  // Job 4 has waited since t0, the replayed job only since its replay.
  REQUIRE(ids_of(again) == std::vector<std::string>{job_id(4), job_id(1)});
  CHECK(again[1].attempt == 1);

  // Removal: only dead jobs, and their history goes with them.
  CHECK_FALSE(require_ok(remove_dead(c, job_id(1))));
  CHECK(require_ok(remove_dead(c, job_id(2))));
  CHECK_FALSE(require_ok(get(c, job_id(2))).has_value());
  CHECK(
      require_ok(c.query("SELECT COUNT(*) FROM job_errors WHERE job_id = ?", {job_id(2)}))[0].int64(
          0) == 0);
  CHECK(ids_of(require_ok(list_dead(c, "", page{}))) == std::vector<std::string>{job_id(3)});
}

TEST_CASE("an expired lease is rescued: the job is available again and the attempt counted") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  auto j = make_job(job_id(1));
  j.max_attempts = 2;
  require_ok(enqueue(c, j, t0));
  require_ok(enqueue(c, make_job(job_id(2)), t0));
  REQUIRE(require_ok(claim(c, "a", {"email"}, 1, lease, t0)).size() == 1);
  REQUIRE(require_ok(claim(c, "b", {"email"}, 1, 10 * lease, t0)).size() == 1);

  // Before the deadline nothing is rescued; at it, only the short lease is.
  CHECK(require_ok(rescue_expired(c, t0 + lease - 1)) == 0);
  CHECK(require_ok(rescue_expired(c, t0 + lease)) == 1);
  auto first = must_get(c, job_id(1));
  CHECK(first.job.state == job_state::available);
  CHECK(first.job.attempt == 1);
  CHECK(first.job.run_at == t0 + lease);
  REQUIRE(first.errors.size() == 1);
  CHECK(first.errors[0].attempt == 1);
  CHECK(first.errors[0].error.find("expired") != std::string::npos);
  CHECK(must_get(c, job_id(2)).job.state == job_state::running);

  // The second attempt also times out: out of attempts, so dead.
  auto reclaimed = require_ok(claim(c, "c", {"email"}, 1, lease, t0 + lease));
  REQUIRE(reclaimed.size() == 1);
  CHECK(reclaimed[0].attempt == 2);
  CHECK(require_ok(rescue_expired(c, t0 + 2 * lease)) == 1);
  auto dead = must_get(c, job_id(1));
  CHECK(dead.job.state == job_state::dead);
  CHECK(dead.job.dead_reason == opt_text{std::string{lease_expired_exhausted}});
  CHECK(dead.errors.size() == 2);
}

TEST_CASE("a stale owner cannot complete, renew or fail after a rescue or a cancel") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  SECTION("after a rescue and a new claim") {
    require_ok(enqueue(c, make_job(job_id(1)), t0));
    REQUIRE(require_ok(claim(c, "old", {"email"}, 1, lease, t0)).size() == 1);
    REQUIRE(require_ok(rescue_expired(c, t0 + lease)) == 1);

    // Rescued but not yet reclaimed: the old owner has already lost it.
    CHECK_FALSE(require_ok(renew(c, job_id(1), "old", lease, t0 + lease)));
    CHECK_FALSE(require_ok(complete(c, job_id(1), "old", t0 + lease)));

    REQUIRE(require_ok(claim(c, "new", {"email"}, 1, lease, t0 + lease)).size() == 1);
    CHECK_FALSE(require_ok(renew(c, job_id(1), "old", lease, t0 + lease + 1)));
    CHECK_FALSE(require_ok(complete(c, job_id(1), "old", t0 + lease + 1)));
    CHECK(require_ok(fail(c, job_id(1), "old", "late", t0 + lease + 1, 0.0)) ==
          fail_outcome::lease_lost);
    auto mid = must_get(c, job_id(1));
    CHECK(mid.job.state == job_state::running);
    CHECK(mid.job.lease_owner == opt_text{"new"});
    CHECK(mid.errors.size() == 1);  // Only the rescue's; the stale fail left none.

    CHECK(require_ok(complete(c, job_id(1), "new", t0 + lease + 2)));
    CHECK(must_get(c, job_id(1)).job.state == job_state::completed);
  }

  SECTION("after a cancel of the running job") {
    require_ok(enqueue(c, make_job(job_id(1)), t0));
    REQUIRE(require_ok(claim(c, "owner", {"email"}, 1, lease, t0)).size() == 1);
    CHECK(require_ok(cancel(c, job_id(1), t0 + 1)));
    CHECK_FALSE(require_ok(renew(c, job_id(1), "owner", lease, t0 + 2)));
    CHECK_FALSE(require_ok(complete(c, job_id(1), "owner", t0 + 2)));
    CHECK(require_ok(fail(c, job_id(1), "owner", "x", t0 + 2, 0.0)) == fail_outcome::lease_lost);
    CHECK(must_get(c, job_id(1)).job.state == job_state::cancelled);
    CHECK(require_ok(rescue_expired(c, t0 + 10 * lease)) == 0);
  }

  SECTION("a queued job is cancelled before it is ever claimed") {
    auto j = make_job(job_id(1));
    j.run_at = t0 + 1'000;
    require_ok(enqueue(c, j, t0));
    CHECK(require_ok(cancel(c, job_id(1), t0)));
    CHECK(require_ok(claim(c, "w", {"email"}, 1, lease, t0 + 2'000)).empty());
    CHECK(count_in(require_ok(counts(c, t0)), "email", "cancelled") == 1);
  }
}

TEST_CASE("a running job's owner records progress and a result; others and late calls cannot") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  require_ok(enqueue(c, make_job(job_id(1)), t0));
  REQUIRE(require_ok(claim(c, "owner", {"email"}, 1, lease, t0)).size() == 1);

  CHECK(require_ok(set_progress(c, job_id(1), "owner", 40, 100, t0 + 1)));
  CHECK_FALSE(require_ok(set_progress(c, job_id(1), "intruder", 99, 100, t0 + 1)));
  auto mid = must_get(c, job_id(1)).job;
  CHECK(mid.progress_done == std::optional<int64_t>{40});
  CHECK(mid.progress_total == std::optional<int64_t>{100});
  CHECK(public_status(mid.state) == std::string{"running"});

  CHECK(require_ok(complete(c, job_id(1), "owner", t0 + 2, R"({"rows":7})")));
  auto done = must_get(c, job_id(1)).job;
  CHECK(done.result == opt_text{R"({"rows":7})"});
  CHECK(done.completed_at == std::optional<int64_t>{t0 + 2});
  CHECK(public_status(done.state) == std::string{"succeeded"});
  CHECK_FALSE(require_ok(set_progress(c, job_id(1), "owner", 100, 100, t0 + 3)));
}

TEST_CASE("a workspace lists its own jobs of a kind, newest first, page by page") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  require_ok(c.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                       {std::string{"ws-a"}, std::string{"A"}, t0}));
  require_ok(c.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                       {std::string{"ws-b"}, std::string{"B"}, t0}));
  for (int i = 1; i <= 5; ++i) {
    auto j = make_job(job_id(i), i == 5 ? "other" : "report");
    j.workspace_id = i == 4 ? "ws-b" : "ws-a";
    require_ok(enqueue(c, j, t0));
  }
  auto first = require_ok(list_for_workspace(c, "ws-a", "report", {2, ""}));
  CHECK(ids_of(first) == std::vector<std::string>{job_id(3), job_id(2)});
  auto rest = require_ok(list_for_workspace(c, "ws-a", "report", {2, job_id(2)}));
  CHECK(ids_of(rest) == std::vector<std::string>{job_id(1)});
  auto any = require_ok(list_for_workspace(c, "ws-a", "", {10, ""}));
  CHECK(any.size() == 4);
}

TEST_CASE("a dead or cancelled job records when it finished; a replay clears it") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  auto j = make_job(job_id(1));
  j.max_attempts = 1;
  require_ok(enqueue(c, j, t0));
  REQUIRE(require_ok(claim(c, "w", {"email"}, 1, lease, t0)).size() == 1);
  REQUIRE(require_ok(fail(c, job_id(1), "w", "boom", t0 + 5, 0.0)) == fail_outcome::dead);
  CHECK(must_get(c, job_id(1)).job.completed_at == std::optional<int64_t>{t0 + 5});
  CHECK(public_status(job_state::dead) == std::string{"failed"});
  REQUIRE(require_ok(replay(c, job_id(1), t0 + 6)));
  CHECK_FALSE(must_get(c, job_id(1)).job.completed_at.has_value());
  CHECK(public_status(job_state::available) == std::string{"queued"});

  require_ok(enqueue(c, make_job(job_id(2)), t0));
  REQUIRE(require_ok(cancel(c, job_id(2), t0 + 7)));
  CHECK(must_get(c, job_id(2)).job.completed_at == std::optional<int64_t>{t0 + 7});
}

TEST_CASE("finished jobs past retention are purged oldest first; dead and live ones stay") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  // 1-3 completed at t0+1..3 (1 with an error in its history), 4 cancelled at
  // t0+4, 5 dead, 6 running, 7 cancelled at t0+100.
  for (int i = 1; i <= 7; ++i) {
    auto j = make_job(job_id(i));
    j.max_attempts = i == 1 ? 2 : 1;
    require_ok(enqueue(c, j, t0));
  }
  REQUIRE(require_ok(claim(c, "w", {"email"}, 1, lease, t0)).size() == 1);
  REQUIRE(require_ok(fail(c, job_id(1), "w", "flaky", t0, 0.0)) == fail_outcome::retrying);
  auto running = require_ok(claim(c, "w", {"email"}, 7, lease, t0 + 600'000));
  REQUIRE(running.size() == 7);
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(require_ok(complete(c, job_id(i), "w", t0 + i, "")));
  }
  REQUIRE(require_ok(cancel(c, job_id(4), t0 + 4)));
  REQUIRE(require_ok(fail(c, job_id(5), "w", "boom", t0 + 1, 0.0)) == fail_outcome::dead);
  require_ok(cancel(c, job_id(7), t0 + 100));  // Cancelled late: within retention.

  // Two at a time, oldest first; the cutoff is exclusive.
  CHECK(require_ok(purge_finished(c, t0 + 4, 2)) == 2);
  CHECK_FALSE(require_ok(get(c, job_id(1))).has_value());
  CHECK_FALSE(require_ok(get(c, job_id(2))).has_value());
  CHECK(require_ok(get(c, job_id(3))).has_value());
  CHECK(require_ok(purge_finished(c, t0 + 4, 2)) == 1);
  CHECK(require_ok(get(c, job_id(4))).has_value());
  CHECK(require_ok(purge_finished(c, t0 + 5, 100)) == 1);
  CHECK_FALSE(require_ok(get(c, job_id(4))).has_value());
  CHECK(require_ok(purge_finished(c, t0 + 5, 100)) == 0);

  // The errors of a purged job went with it; the dead, running and recently
  // cancelled jobs are untouched.
  auto errors =
      require_ok(c.query("SELECT COUNT(*) FROM job_errors WHERE job_id = ?", {job_id(1)}));
  CHECK(errors.at(0).int64(0) == 0);
  CHECK(must_get(c, job_id(5)).job.state == job_state::dead);
  CHECK(must_get(c, job_id(6)).job.state == job_state::running);
  CHECK(must_get(c, job_id(7)).job.state == job_state::cancelled);
}

TEST_CASE("a job enqueued in a transaction exists only if the transaction commits") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  auto workspaces = [&c] {
    return require_ok(c.query("SELECT COUNT(*) FROM workspaces"))[0].int64(0);
  };

  // Rolled back: neither the caller's row nor the job exists.
  require_ok(c.begin());
  require_ok(c.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                       {std::string{"ws-1"}, std::string{"Acme"}, t0}));
  CHECK(require_ok(enqueue(c, make_job(job_id(1)), t0)) == job_id(1));
  c.rollback();
  CHECK(workspaces() == 0);
  CHECK_FALSE(require_ok(get(c, job_id(1))).has_value());
  CHECK(require_ok(claim(c, "w", {"email"}, 10, lease, t0)).empty());

  // Committed: both exist, and the job can be claimed.
  require_ok(c.begin());
  require_ok(c.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                       {std::string{"ws-2"}, std::string{"Acme"}, t0}));
  require_ok(enqueue(c, make_job(job_id(2)), t0));
  require_ok(c.commit());
  CHECK(workspaces() == 1);
  CHECK(ids_of(require_ok(claim(c, "w", {"email"}, 10, lease, t0))) ==
        std::vector<std::string>{job_id(2)});
}

TEST_CASE("claim refuses to run inside the caller's transaction") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  require_ok(c.begin());
  auto res = claim(c, "w", {"email"}, 1, lease, t0);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::invalid);
  c.rollback();
}

TEST_CASE("a duplicate idempotency key returns the existing job and inserts nothing") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;
  auto jobs_stored = [&c] { return require_ok(c.query("SELECT COUNT(*) FROM jobs"))[0].int64(0); };

  auto first = make_job(job_id(1));
  first.idempotency_key = "order-42";
  CHECK(require_ok(enqueue(c, first, t0)) == job_id(1));

  auto dup = make_job(job_id(2));
  dup.idempotency_key = "order-42";
  CHECK(require_ok(enqueue(c, dup, t0)) == job_id(1));
  CHECK(jobs_stored() == 1);

  // Inside a transaction too, and the transaction stays usable.
  require_ok(c.begin());
  CHECK(require_ok(enqueue(c, dup, t0)) == job_id(1));
  CHECK(require_ok(enqueue(c, make_job(job_id(3)), t0)) == job_id(3));
  require_ok(c.commit());
  CHECK(jobs_stored() == 2);

  // The key is per kind.
  auto other_kind = make_job(job_id(4), "sms");
  other_kind.idempotency_key = "order-42";
  CHECK(require_ok(enqueue(c, other_kind, t0)) == job_id(4));

  // A running or completed job still holds its key...
  REQUIRE(require_ok(claim(c, "w", {"email"}, 10, lease, t0)).size() == 2);
  CHECK(require_ok(enqueue(c, dup, t0)) == job_id(1));
  REQUIRE(require_ok(complete(c, job_id(1), "w", t0)));
  CHECK(require_ok(enqueue(c, dup, t0)) == job_id(1));

  // ...a cancelled one gives it up.
  auto sms_dup = make_job(job_id(5), "sms");
  sms_dup.idempotency_key = "order-42";
  REQUIRE(require_ok(cancel(c, job_id(4), t0)));
  CHECK(require_ok(enqueue(c, sms_dup, t0)) == job_id(5));

  // A reused id without a key is a conflict, not a silent success.
  auto res = enqueue(c, make_job(job_id(3)), t0);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::conflict);
}

TEST_CASE("a replay that would duplicate a live idempotency key is a conflict") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  auto j = make_job(job_id(1));
  j.idempotency_key = "k";
  j.max_attempts = 1;
  require_ok(enqueue(c, j, t0));
  REQUIRE(require_ok(claim(c, "w", {"email"}, 1, lease, t0)).size() == 1);
  REQUIRE(require_ok(fail(c, j.id, "w", "x", t0, 0.0)) == fail_outcome::dead);

  // The dead job released the key, so a new one takes it.
  auto fresh = make_job(job_id(2));
  fresh.idempotency_key = "k";
  CHECK(require_ok(enqueue(c, fresh, t0)) == job_id(2));

  auto res = replay(c, job_id(1), t0);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == db_errc::conflict);
  CHECK(must_get(c, job_id(1)).job.state == job_state::dead);
}

TEST_CASE("a scheduled job stays invisible until its run_at") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  auto later = make_job(job_id(1));
  later.run_at = t0 + 10'000;
  require_ok(enqueue(c, later, t0));
  require_ok(enqueue(c, make_job(job_id(2)), t0));

  auto n = require_ok(counts(c, t0 + 4'000));
  CHECK(count_in(n, "email", "scheduled") == 1);
  CHECK(count_in(n, "email", "available") == 1);
  CHECK(n.oldest_waiting_age_ms == 4'000);

  CHECK(ids_of(require_ok(claim(c, "w", {"email"}, 10, lease, t0 + 9'999))) ==
        std::vector<std::string>{job_id(2)});
  CHECK(require_ok(claim(c, "w", {"email"}, 10, lease, t0 + 9'999)).empty());
  CHECK(ids_of(require_ok(claim(c, "w", {"email"}, 10, lease, t0 + 10'000))) ==
        std::vector<std::string>{job_id(1)});
}

TEST_CASE("claims take lower priorities first, then earlier run_at, then lower ids") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  auto& c = *q.conn;

  struct spec {
    int n;
    int64_t priority;
    int64_t run_at;
    std::string kind;
  };
  // Enqueued out of order; job 7 is of a kind nobody asks for.
  for (const auto& s : std::vector<spec>{{1, 5, t0, "email"},
                                         {2, 0, t0 + 20, "email"},
                                         {3, 0, t0 + 10, "sms"},
                                         {4, 5, t0 - 50, "sms"},
                                         {5, 0, t0 + 10, "email"},
                                         {6, -1, t0 + 30, "email"},
                                         {7, -9, t0, "video"}}) {
    auto j = make_job(job_id(s.n), s.kind);
    j.priority = s.priority;
    j.run_at = s.run_at;
    require_ok(enqueue(c, j, t0 - 100));
  }

  const std::vector<std::string> kinds{"email", "sms"};
  auto first = require_ok(claim(c, "w", kinds, 3, lease, t0 + 100));
  CHECK(ids_of(first) == std::vector<std::string>{job_id(6), job_id(3), job_id(5)});
  auto rest = require_ok(claim(c, "w", kinds, 10, lease, t0 + 100));
  CHECK(ids_of(rest) == std::vector<std::string>{job_id(2), job_id(4), job_id(1)});
  CHECK(ids_of(require_ok(claim(c, "w", {"video"}, 10, lease, t0 + 100))) ==
        std::vector<std::string>{job_id(7)});
}

TEST_CASE("two workers claiming 200 jobs at once never share one and get them all") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  constexpr int total = 200;
  for (int n = 0; n < total; ++n) {
    require_ok(enqueue(*q.conn, make_job(job_id(n)), t0));
  }

  std::atomic<int> claimed_total{0};
  std::vector<std::string> got[2];
  std::string errors[2];
  sb::testing::rendezvous start{2};
  auto worker = [&](int w) {
    auto conn = connection::open(q.db.connection_string(), std::chrono::seconds{10});
    if (!conn) {
      errors[w] = conn.error().message;
      start.arrive_and_wait(std::chrono::seconds{10});
      return;
    }
    const auto owner = "worker-" + std::to_string(w);
    start.arrive_and_wait(std::chrono::seconds{10});
    // Until every job is taken, with a deadline so that a bug fails, not hangs.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
    while (claimed_total.load() < total && std::chrono::steady_clock::now() < deadline) {
      auto batch = claim(**conn, owner, {"email"}, 7, lease, t0);
      if (!batch) {
        errors[w] = batch.error().message;
        return;
      }
      for (const auto& j : *batch) {
        got[w].push_back(j.id);
      }
      claimed_total += static_cast<int>(batch->size());
    }
  };
  std::thread a{worker, 0};
  std::thread b{worker, 1};
  a.join();
  b.join();

  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  std::set<std::string> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  CHECK(got[0].size() + got[1].size() == total);  // Nobody got a job twice...
  CHECK(all.size() == total);                     // ...and every job was taken.
  INFO("worker 0 took " << got[0].size() << ", worker 1 took " << got[1].size());
  auto running = require_ok(
      q.conn->query("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND attempt = 1"));
  CHECK(running[0].int64(0) == total);
}

TEST_CASE("the queue's hot queries are served by indexes") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  queue_db q{kind};
  const std::vector<std::string> hot = {
      // claim, rescue, idempotency lookup
      "SELECT id FROM jobs WHERE state = 'available' AND kind IN ('a', 'b') AND run_at <= 5"
      " ORDER BY priority, run_at, id LIMIT 10",
      "SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at <= 5"
      " ORDER BY lease_expires_at LIMIT 10",
      "SELECT id FROM jobs WHERE kind = 'k' AND idempotency_key = 'x'"
      " AND state NOT IN ('dead', 'cancelled')",
      // dead-letter listing, by kind and for all kinds; error history
      "SELECT id FROM jobs WHERE state = 'dead' AND kind = 'k' AND id < 'z'"
      " ORDER BY id DESC LIMIT 51",
      "SELECT id FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT 51",
      "SELECT attempt FROM job_errors WHERE job_id = 'j' ORDER BY position",
      // retention
      "SELECT id FROM jobs WHERE state IN ('completed', 'cancelled') AND completed_at < 5"
      " ORDER BY completed_at LIMIT 10",
  };
  for (const auto& sql : hot) {
    auto plan = sb::testing::query_plan(*q.conn, sql);
    INFO(sql << "\n" << plan);
    if (kind == database_kind::sqlite) {
      // A bare "SCAN jobs" reads the table; "SCAN jobs USING INDEX" reads
      // only the rows a partial index holds.
      CHECK(plan.find("SCAN jobs\n") == std::string::npos);
      CHECK(plan.find("SCAN job_errors\n") == std::string::npos);
    } else {
      CHECK(plan.find("Seq Scan") == std::string::npos);
    }
  }
}
