#include "persistence/repositories/jobs.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <algorithm>

namespace sb::persistence::jobs {

namespace {

// State literals are spelt inside the SQL text, never bound, so that both
// planners can match the partial indexes of migration 3 ("WHERE state =
// 'available'" and friends).
constexpr const char* column_names[] = {"id",
                                        "workspace_id",
                                        "kind",
                                        "payload",
                                        "state",
                                        "priority",
                                        "run_at",
                                        "attempt",
                                        "max_attempts",
                                        "lease_owner",
                                        "lease_expires_at",
                                        "idempotency_key",
                                        "created_at",
                                        "updated_at",
                                        "completed_at",
                                        "last_error",
                                        "dead_reason",
                                        "progress_done",
                                        "progress_total",
                                        "result"};

// The job columns in read()'s order, each with `prefix` ("j." where a join
// makes bare names ambiguous).
std::string columns(std::string_view prefix = {}) {
  std::string out;
  for (const char* c : column_names) {
    if (!out.empty()) {
      out += ", ";
    }
    out.append(prefix).append(c);
  }
  return out;
}

std::optional<int64_t> opt_int(const row& r, size_t i) {
  return r.is_null(i) ? std::nullopt : std::optional<int64_t>{r.int64(i)};
}

job_state state_of(const std::string& s) {
  for (auto x : {job_state::available, job_state::running, job_state::completed, job_state::dead,
                 job_state::cancelled}) {
    if (s == to_string(x)) {
      return x;
    }
  }
  // Only this file writes the column; an unknown name is a newer build's.
  return job_state::dead;
}

job_record read(const row& r) {
  job_record j;
  j.id = r.text(0);
  j.workspace_id = r.opt_text(1);
  j.kind = r.text(2);
  j.payload = r.text(3);
  j.state = state_of(r.text(4));
  j.priority = r.int64(5);
  j.run_at = r.int64(6);
  j.attempt = r.int64(7);
  j.max_attempts = r.int64(8);
  j.lease_owner = r.opt_text(9);
  j.lease_expires_at = opt_int(r, 10);
  j.idempotency_key = r.opt_text(11);
  j.created_at = r.int64(12);
  j.updated_at = r.int64(13);
  j.completed_at = opt_int(r, 14);
  j.last_error = r.opt_text(15);
  j.dead_reason = r.opt_text(16);
  j.progress_done = opt_int(r, 17);
  j.progress_total = opt_int(r, 18);
  j.result = r.opt_text(19);
  return j;
}

db_error invalid(std::string message) {
  return db_error{db_errc::invalid, "", std::move(message)};
}

// Runs `body` in the caller's open transaction, or in a new one.
template <class F>
auto atomically(connection& conn, F&& body) -> decltype(body(conn)) {
  if (conn.in_transaction()) {
    return body(conn);
  }
  return in_transaction(conn, body);
}

// "?, ?, ?" for `n` parameters.
std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += i == 0 ? "?" : ", ?";
  }
  return out;
}

// Appends one failure to the job's history. The caller holds the job row
// (PostgreSQL row lock, or SQLite's write lock), so positions cannot race.
db_status record_error(connection& c, const std::string& id, int64_t attempt, int64_t at,
                       std::string_view error) {
  auto last = c.query("SELECT COALESCE(MAX(position), 0) FROM job_errors WHERE job_id = ?", {id});
  if (!last) {
    return last.error();
  }
  int64_t position = last->empty() ? 1 : last->front().int64(0) + 1;
  return detail::status_of(c.execute(
      "INSERT INTO job_errors (job_id, position, attempt, at, error) VALUES (?, ?, ?, ?, ?)",
      {id, position, attempt, at, std::string{error}}));
}

// PostgreSQL: one statement. The materialised CTE locks the chosen rows and
// skips rows other claimers hold, so concurrent claimers never wait on or
// share a job; the UPDATE then marks exactly the locked rows. The statement
// is a SELECT over the UPDATE's RETURNING because psqlODBC answers a bare
// UPDATE ... RETURNING that matched nothing with SQL_NO_DATA and no cursor,
// which connection::query cannot fetch from.
db_result<std::vector<job_record>> claim_postgresql(connection& c, std::string_view owner,
                                                    const std::vector<std::string>& kinds,
                                                    int64_t limit, int64_t lease_ms, int64_t now) {
  std::string sql =
      "WITH c AS MATERIALIZED (SELECT id FROM jobs WHERE state = 'available' AND kind IN (" +
      placeholders(kinds.size()) +
      ") AND run_at <= ? ORDER BY priority, run_at, id LIMIT ? FOR UPDATE SKIP LOCKED), "
      "u AS (UPDATE jobs j SET state = 'running', attempt = j.attempt + 1, lease_owner = ?, "
      "lease_expires_at = ?, updated_at = ? FROM c WHERE j.id = c.id RETURNING " +
      columns("j.") + ") SELECT " + columns() + " FROM u ORDER BY priority, run_at, id";
  std::vector<param> params(kinds.begin(), kinds.end());
  params.insert(params.end(), {now, limit, std::string{owner}, now + lease_ms, now});
  return detail::read_all(c.query(sql, params), read);
}

// SQLite: the transaction began with BEGIN IMMEDIATE, so this connection is
// the only writer from the SELECT to the COMMIT and nobody can take the
// chosen rows in between. Plain SELECT + UPDATE also avoids relying on the
// ODBC driver returning rows for UPDATE ... RETURNING.
db_result<std::vector<job_record>> claim_sqlite(connection& c, std::string_view owner,
                                                const std::vector<std::string>& kinds,
                                                int64_t limit, int64_t lease_ms, int64_t now) {
  std::vector<param> params(kinds.begin(), kinds.end());
  params.insert(params.end(), {now, limit});
  auto due = c.query("SELECT id FROM jobs WHERE state = 'available' AND kind IN (" +
                         placeholders(kinds.size()) +
                         ") AND run_at <= ? ORDER BY priority, run_at, id LIMIT ?",
                     params);
  if (!due) {
    return due.error();
  }
  if (due->empty()) {
    return std::vector<job_record>{};
  }

  std::vector<param> ids;
  for (const auto& r : *due) {
    ids.emplace_back(r.text(0));
  }
  std::vector<param> update{std::string{owner}, now + lease_ms, now};
  update.insert(update.end(), ids.begin(), ids.end());
  auto marked = c.execute(
      "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ?, "
      "lease_expires_at = ?, updated_at = ? WHERE state = 'available' AND id IN (" +
          placeholders(ids.size()) + ")",
      update);
  if (!marked) {
    return marked.error();
  }

  return detail::read_all(c.query("SELECT " + columns() + " FROM jobs WHERE id IN (" +
                                      placeholders(ids.size()) + ") ORDER BY priority, run_at, id",
                                  ids),
                          read);
}

}  // namespace

const char* to_string(job_state s) {
  switch (s) {
    case job_state::available:
      return "available";
    case job_state::running:
      return "running";
    case job_state::completed:
      return "completed";
    case job_state::dead:
      return "dead";
    case job_state::cancelled:
      return "cancelled";
  }
  return "available";
}

const char* public_status(job_state s) {
  switch (s) {
    case job_state::available:
      return "queued";
    case job_state::running:
      return "running";
    case job_state::completed:
      return "succeeded";
    case job_state::dead:
      return "failed";
    case job_state::cancelled:
      return "cancelled";
  }
  return "queued";
}

int64_t backoff_ms(int64_t attempt, double u, int64_t cap_ms) {
  // 2^40 s is far past any cap, and shifting further would overflow.
  const int64_t exponent = std::clamp<int64_t>(attempt, 0, 40);
  const int64_t base = std::min(cap_ms, 15'000 + (int64_t{1} << exponent) * 1000);
  const double jitter = 0.1 * std::clamp(u, 0.0, 1.0);
  return base + static_cast<int64_t>(static_cast<double>(base) * jitter);
}

db_result<std::string> enqueue(connection& conn, const new_job& job, int64_t now) {
  if (job.id.empty() || job.kind.empty()) {
    return invalid("a job needs an id and a kind");
  }
  if (job.max_attempts < 1) {
    return invalid("max_attempts must be at least 1");
  }

  // Single statements only, so that this joins a caller's transaction as it
  // is. ON CONFLICT DO NOTHING (no target) lets a duplicate key insert
  // nothing without raising: on PostgreSQL an error would abort the caller's
  // whole transaction. It waits for a concurrent insert of the same key to
  // commit or roll back first.
  const int64_t run_at = job.run_at == 0 ? now : job.run_at;
  for (int i = 0; i < 3; ++i) {
    auto inserted = conn.execute(
        "INSERT INTO jobs (id, workspace_id, kind, payload, state, priority, run_at, attempt, "
        "max_attempts, idempotency_key, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 'available', ?, ?, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        {job.id, nullable(job.workspace_id), job.kind, job.payload, job.priority, run_at,
         job.max_attempts, nullable(job.idempotency_key), now, now});
    if (!inserted) {
      return inserted.error();
    }
    if (*inserted == 1) {
      return job.id;
    }
    if (!job.idempotency_key) {
      return db_error{db_errc::conflict, "23505", "job id " + job.id + " already exists"};
    }
    auto holder = conn.query(
        "SELECT id FROM jobs WHERE kind = ? AND idempotency_key = ? "
        "AND state NOT IN ('dead', 'cancelled')",
        {job.kind, *job.idempotency_key});
    if (!holder) {
      return holder.error();
    }
    if (!holder->empty()) {
      return holder->front().text(0);
    }
    // The holder died or was cancelled between the two statements: insert again.
  }
  return db_error{db_errc::transient, "", "idempotency key kept changing hands"};
}

db_result<std::vector<job_record>> claim(connection& conn, std::string_view owner,
                                         const std::vector<std::string>& kinds, int64_t limit,
                                         int64_t lease_ms, int64_t now) {
  if (conn.in_transaction()) {
    return invalid("claim runs its own transaction; call it outside one");
  }
  if (owner.empty() || kinds.empty() || lease_ms < 1) {
    return invalid("claim needs an owner, at least one kind and a positive lease");
  }
  if (limit < 1) {
    return std::vector<job_record>{};
  }
  return in_transaction(conn, [&](connection& c) {
    return c.dialect() == dialect::postgresql
               ? claim_postgresql(c, owner, kinds, limit, lease_ms, now)
               : claim_sqlite(c, owner, kinds, limit, lease_ms, now);
  });
}

db_result<bool> renew(connection& conn, std::string_view id, std::string_view owner,
                      int64_t lease_ms, int64_t now) {
  return detail::touched(
      conn.execute("UPDATE jobs SET lease_expires_at = ?, updated_at = ? "
                   "WHERE id = ? AND state = 'running' AND lease_owner = ?",
                   {now + lease_ms, now, std::string{id}, std::string{owner}}));
}

db_result<bool> complete(connection& conn, std::string_view id, std::string_view owner, int64_t now,
                         std::string_view result) {
  return detail::touched(conn.execute(
      "UPDATE jobs SET state = 'completed', lease_expires_at = NULL, completed_at = ?, "
      "updated_at = ?, result = ? WHERE id = ? AND state = 'running' AND lease_owner = ?",
      {now, now, result.empty() ? param{} : param{std::string{result}}, std::string{id},
       std::string{owner}}));
}

db_result<bool> set_progress(connection& conn, std::string_view id, std::string_view owner,
                             int64_t done, int64_t total, int64_t now) {
  return detail::touched(
      conn.execute("UPDATE jobs SET progress_done = ?, progress_total = ?, updated_at = ? "
                   "WHERE id = ? AND state = 'running' AND lease_owner = ?",
                   {done, total, now, std::string{id}, std::string{owner}}));
}

db_result<fail_outcome> fail(connection& conn, std::string_view id, std::string_view owner,
                             std::string_view error, int64_t now, double u, int64_t backoff_cap_ms,
                             bool final) {
  const std::string job_id{id};
  return atomically(conn, [&](connection& c) -> db_result<fail_outcome> {
    // Lock the row (PostgreSQL) so that a rescuer or canceller waits for us.
    std::string sql =
        "SELECT attempt, max_attempts FROM jobs WHERE id = ? AND state = 'running' "
        "AND lease_owner = ?";
    if (c.dialect() == dialect::postgresql) {
      sql += " FOR UPDATE";
    }
    auto held = c.query(sql, {job_id, std::string{owner}});
    if (!held) {
      return held.error();
    }
    if (held->empty()) {
      return fail_outcome::lease_lost;
    }
    const int64_t attempt = held->front().int64(0);
    const bool exhausted = attempt >= held->front().int64(1);
    const bool dead = final || exhausted;
    const auto reason = exhausted ? max_attempts_exceeded : handler_gave_up;

    auto moved = c.execute(
        "UPDATE jobs SET state = ?, run_at = ?, lease_expires_at = NULL, last_error = ?, "
        "dead_reason = ?, completed_at = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running' AND lease_owner = ?",
        {std::string{dead ? "dead" : "available"},
         dead ? now : now + backoff_ms(attempt, u, backoff_cap_ms), std::string{error},
         dead ? param{std::string{reason}} : param{}, dead ? param{now} : param{}, now, job_id,
         std::string{owner}});
    if (!moved) {
      return moved.error();
    }
    if (*moved == 0) {
      return fail_outcome::lease_lost;
    }
    if (auto st = record_error(c, job_id, attempt, now, error); !st) {
      return st.error();
    }
    return dead ? fail_outcome::dead : fail_outcome::retrying;
  });
}

db_result<int64_t> rescue_expired(connection& conn, int64_t now, int64_t limit) {
  return atomically(conn, [&](connection& c) -> db_result<int64_t> {
    // Served by the partial index jobs_leases. On PostgreSQL the rows stay
    // locked until commit, so a late renew or complete waits and then finds
    // the job no longer running; SKIP LOCKED lets two rescuers split the work.
    std::string sql =
        "SELECT id, attempt, max_attempts, lease_owner FROM jobs WHERE state = 'running' "
        "AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?";
    if (c.dialect() == dialect::postgresql) {
      sql += " FOR UPDATE SKIP LOCKED";
    }
    auto expired = c.query(sql, {now, limit});
    if (!expired) {
      return expired.error();
    }

    int64_t rescued = 0;
    for (const auto& r : *expired) {
      const auto id = r.text(0);
      const int64_t attempt = r.int64(1);
      const bool dead = attempt >= r.int64(2);
      const auto error = "lease of " + r.text(3) + " expired";
      auto moved = c.execute(
          "UPDATE jobs SET state = ?, run_at = ?, lease_expires_at = NULL, last_error = ?, "
          "dead_reason = ?, completed_at = ?, updated_at = ? WHERE id = ? AND state = 'running' "
          "AND lease_expires_at <= ?",
          {std::string{dead ? "dead" : "available"}, now, error,
           dead ? param{std::string{lease_expired_exhausted}} : param{},
           dead ? param{now} : param{}, now, id, now});
      if (!moved) {
        return moved.error();
      }
      if (*moved == 0) {
        continue;
      }
      if (auto st = record_error(c, id, attempt, now, error); !st) {
        return st.error();
      }
      ++rescued;
    }
    return rescued;
  });
}

db_result<bool> cancel(connection& conn, std::string_view id, int64_t now) {
  return detail::touched(
      conn.execute("UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, "
                   "completed_at = ?, updated_at = ? "
                   "WHERE id = ? AND state IN ('available', 'running')",
                   {now, now, std::string{id}}));
}

db_result<bool> replay(connection& conn, std::string_view id, int64_t now,
                       std::optional<int64_t> max_attempts) {
  if (max_attempts && *max_attempts < 1) {
    return invalid("max_attempts must be at least 1");
  }
  // Two spellings rather than COALESCE(?, max_attempts): an untyped NULL
  // parameter is not resolved the same way by every driver.
  std::string sql =
      "UPDATE jobs SET state = 'available', attempt = 0, run_at = ?, lease_owner = NULL, "
      "lease_expires_at = NULL, dead_reason = NULL, completed_at = NULL, progress_done = NULL, "
      "progress_total = NULL, updated_at = ?";
  std::vector<param> params{now, now};
  if (max_attempts) {
    sql += ", max_attempts = ?";
    params.emplace_back(*max_attempts);
  }
  sql += " WHERE id = ? AND state = 'dead'";
  params.emplace_back(std::string{id});
  return detail::touched(conn.execute(sql, params));
}

db_result<queue_counts> counts(connection& conn, int64_t now) {
  auto rows = conn.query(
      "SELECT kind, CASE WHEN state = 'available' AND run_at > ? THEN 'scheduled' ELSE state END,"
      " COUNT(*), MIN(run_at) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2",
      {now});
  if (!rows) {
    return rows.error();
  }
  queue_counts out;
  for (const auto& r : *rows) {
    state_count sc{r.text(0), r.text(1), r.int64(2), r.int64(3)};
    if (sc.state == "available") {
      out.oldest_waiting_age_ms = std::max(out.oldest_waiting_age_ms, now - sc.oldest_run_at);
    }
    out.by_kind_state.push_back(std::move(sc));
  }
  return out;
}

db_result<std::vector<job_record>> list_dead(connection& conn, std::string_view kind,
                                             const page& p) {
  std::string sql = "SELECT " + columns() + " FROM jobs WHERE state = 'dead'";
  std::vector<param> params;
  if (!kind.empty()) {
    sql += " AND kind = ?";
    params.emplace_back(std::string{kind});
  }
  detail::add_page(sql, params, p);
  return detail::read_all(conn.query(sql, params), read);
}

db_result<std::vector<job_record>> list_for_workspace(connection& conn,
                                                      std::string_view workspace_id,
                                                      std::string_view kind, const page& p) {
  std::string sql = "SELECT " + columns() + " FROM jobs WHERE workspace_id = ?";
  std::vector<param> params{std::string{workspace_id}};
  if (!kind.empty()) {
    sql += " AND kind = ?";
    params.emplace_back(std::string{kind});
  }
  detail::add_page(sql, params, p);
  return detail::read_all(conn.query(sql, params), read);
}

db_result<std::optional<job_details>> get(connection& conn, std::string_view id) {
  auto found = detail::read_first(
      conn.query("SELECT " + columns() + " FROM jobs WHERE id = ?", {std::string{id}}), read);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return std::optional<job_details>{};
  }

  auto errors =
      conn.query("SELECT attempt, at, error FROM job_errors WHERE job_id = ? ORDER BY position",
                 {std::string{id}});
  if (!errors) {
    return errors.error();
  }
  job_details d{std::move(**found), {}};
  for (const auto& r : *errors) {
    d.errors.push_back({r.int64(0), r.int64(1), r.text(2)});
  }
  return std::optional<job_details>{std::move(d)};
}

db_result<int64_t> purge_finished(connection& conn, int64_t finished_before, int64_t limit) {
  // Served by the partial index jobs_finished; rows that reference a job
  // (job_errors, report_chunks) go with it (ON DELETE CASCADE).
  return conn.execute(
      "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('completed', "
      "'cancelled') AND completed_at < ? ORDER BY completed_at LIMIT ?)",
      {finished_before, limit});
}

db_result<bool> remove_dead(connection& conn, std::string_view id) {
  // job_errors rows go with it (ON DELETE CASCADE).
  return detail::touched(
      conn.execute("DELETE FROM jobs WHERE id = ? AND state = 'dead'", {std::string{id}}));
}

}  // namespace sb::persistence::jobs
