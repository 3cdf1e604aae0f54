#include "persistence/repositories/engagement.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <algorithm>

namespace sb::persistence::engagement {

namespace {

// Rows per multi-row INSERT: 8 parameters each stays well below SQLite's
// 32766 and PostgreSQL's 65535 bound parameters per statement.
constexpr size_t insert_rows = 500;

// Ids per IN list when looking videos up.
constexpr size_t lookup_ids = 500;

constexpr const char* view_columns =
    "workspace_id, id, video_id, contact_id, event, seconds_watched, occurred_at, created_at";

// "(?, ?), (?, ?)" for `rows` rows of `columns` parameters.
std::string value_rows(size_t rows, size_t columns) {
  std::string one = "(";
  for (size_t c = 0; c < columns; ++c) {
    one += c == 0 ? "?" : ", ?";
  }
  one += ')';
  std::string out;
  for (size_t r = 0; r < rows; ++r) {
    if (r > 0) {
      out += ", ";
    }
    out += one;
  }
  return out;
}

void add_view(std::vector<param>& params, const video_view_record& v) {
  params.insert(params.end(), {v.workspace_id, v.id, v.video_id, nullable(v.contact_id), v.event,
                               v.seconds_watched, v.occurred_at, v.created_at});
}

// ON CONFLICT DO NOTHING is spelt the same by PostgreSQL and by SQLite
// (since 3.24); both count only the rows they stored.
db_result<int64_t> insert_views(connection& conn, const video_view_record* first, size_t n) {
  std::vector<param> params;
  params.reserve(n * 8);
  for (size_t i = 0; i < n; ++i) {
    add_view(params, first[i]);
  }
  return conn.execute(std::string{"INSERT INTO video_views ("} + view_columns + ") VALUES " +
                          value_rows(n, 8) + " ON CONFLICT DO NOTHING",
                      params);
}

std::optional<int64_t> opt_int(const row& r, size_t i) {
  return r.is_null(i) ? std::nullopt : std::optional<int64_t>{r.int64(i)};
}

std::optional<double> opt_real(const row& r, size_t i) {
  return r.is_null(i) ? std::nullopt : std::optional<double>{r.real(i)};
}

// Per video and contact first (plays, completions, the furthest second),
// then per video: one pass over the events, no COUNT(DISTINCT) sort, and
// every video of the workspace listed, with zeros when nobody watched it.
// Events without a contact count as plays and completions but not as
// viewers, so they take no part in the share watched.
constexpr const char* engagement_sql =
    "WITH g AS (SELECT video_id, contact_id,"
    " SUM(CASE WHEN event = 'play' THEN 1 ELSE 0 END) AS plays,"
    " SUM(CASE WHEN event = 'complete' THEN 1 ELSE 0 END) AS completions,"
    " MAX(seconds_watched) AS furthest"
    " FROM video_views WHERE workspace_id = ? AND occurred_at >= ? AND occurred_at < ?"
    " GROUP BY video_id, contact_id) "
    "SELECT v.id, v.title, v.duration_seconds, COALESCE(SUM(g.plays), 0),"
    " COALESCE(SUM(g.completions), 0), COUNT(g.contact_id),"
    " AVG(CASE WHEN g.contact_id IS NOT NULL AND v.duration_seconds > 0 THEN"
    " (CASE WHEN g.furthest >= v.duration_seconds THEN 1.0"
    " ELSE g.furthest / v.duration_seconds END) END)"
    " FROM videos v LEFT JOIN g ON g.video_id = v.id WHERE v.workspace_id = ?"
    " GROUP BY v.id, v.title, v.duration_seconds ORDER BY v.id";

engagement_row read_engagement(const row& r) {
  return {r.text(0), r.text(1), opt_int(r, 2), r.int64(3), r.int64(4), r.int64(5), opt_real(r, 6)};
}

// Deals per stage; the distinct contacts of each stage's deals; the events
// of every contact in range; then the two joined by stage. A contact linked
// to two deals of one stage counts once for that stage.
constexpr const char* pipeline_sql =
    "WITH d AS (SELECT stage, COUNT(*) AS deals, SUM(COALESCE(amount_minor, 0)) AS amount"
    " FROM deals WHERE workspace_id = ? GROUP BY stage),"
    " sc AS (SELECT DISTINCT deals.stage AS stage, deal_contacts.contact_id AS contact_id"
    " FROM deals JOIN deal_contacts ON deal_contacts.deal_id = deals.id"
    " WHERE deals.workspace_id = ?),"
    " e AS (SELECT contact_id,"
    " SUM(CASE WHEN event = 'play' THEN 1 ELSE 0 END) AS plays,"
    " SUM(CASE WHEN event = 'complete' THEN 1 ELSE 0 END) AS completions"
    " FROM video_views WHERE workspace_id = ? AND occurred_at >= ? AND occurred_at < ?"
    " AND contact_id IS NOT NULL GROUP BY contact_id),"
    " x AS (SELECT sc.stage AS stage, COUNT(*) AS contacts, COALESCE(SUM(e.plays), 0) AS plays,"
    " COALESCE(SUM(e.completions), 0) AS completions"
    " FROM sc LEFT JOIN e ON e.contact_id = sc.contact_id GROUP BY sc.stage) "
    "SELECT d.stage, d.deals, d.amount, COALESCE(x.contacts, 0), COALESCE(x.plays, 0),"
    " COALESCE(x.completions, 0) FROM d LEFT JOIN x ON x.stage = d.stage ORDER BY d.stage";

pipeline_row read_pipeline(const row& r) {
  return {r.text(0), r.int64(1), r.int64(2), r.int64(3), r.int64(4), r.int64(5)};
}

// Runs `sql` and hands its rows to `on_rows`, `batch` at a time.
//
// PostgreSQL: psqlODBC reads a whole result set into client memory before
// the first SQLFetch returns, so the rows come through a server-side cursor,
// FETCH by FETCH; the report's own work_mem lets the grouping stay in memory
// on the server instead of spilling to disk. SQLite has no cursors: a plain
// query is read row by row here, batched the same way.
// TODO: the SQLite ODBC driver may still buffer the result set (its StepAPI
// option is off by default); the result is one row per video or stage, so
// that is bounded by the workspace's entities, not by its events.
template <class Row, class Read>
db_status each_batch(connection& conn, const std::string& sql, const std::vector<param>& params,
                     size_t batch, Read read, const batch_fn<Row>& on_rows) {
  if (!conn.in_transaction()) {
    return db_error{db_errc::invalid, "", "report reads must run inside a transaction"};
  }
  batch = std::max<size_t>(batch, 1);
  std::vector<Row> rows;
  rows.reserve(batch);

  if (conn.dialect() == dialect::sqlite) {
    bool stopped = false;
    auto st = conn.query_each(sql, params, [&](const row& r) {
      rows.push_back(read(r));
      if (rows.size() < batch) {
        return true;
      }
      stopped = !on_rows(rows);
      rows.clear();
      return !stopped;
    });
    if (!st) {
      return st;
    }
    if (!stopped && !rows.empty()) {
      on_rows(rows);
    }
    return done{};
  }

  if (auto st = conn.execute("SET LOCAL work_mem = '128MB'"); !st) {
    return st.error();
  }
  if (auto st = conn.execute("DECLARE report_rows NO SCROLL CURSOR FOR " + sql, params); !st) {
    return st.error();
  }
  const std::string fetch = "FETCH FORWARD " + std::to_string(batch) + " FROM report_rows";
  for (;;) {
    auto got = conn.query(fetch);
    if (!got) {
      return got.error();
    }
    rows.clear();
    for (const auto& r : *got) {
      rows.push_back(read(r));
    }
    if (rows.empty() || !on_rows(rows) || rows.size() < batch) {
      break;
    }
  }
  return detail::status_of(conn.execute("CLOSE report_rows"));
}

}  // namespace

db_result<bool> record_view(connection& conn, const video_view_record& v) {
  return detail::touched(insert_views(conn, &v, 1));
}

db_result<int64_t> record_views(connection& conn, const std::vector<video_view_record>& views) {
  auto body = [&views](connection& c) -> db_result<int64_t> {
    int64_t stored = 0;
    for (size_t i = 0; i < views.size(); i += insert_rows) {
      auto n = std::min(insert_rows, views.size() - i);
      auto res = insert_views(c, views.data() + i, n);
      if (!res) {
        return res.error();
      }
      stored += *res;
    }
    return stored;
  };
  if (conn.in_transaction()) {
    return body(conn);
  }
  return in_transaction(conn, body);
}

db_result<std::set<std::string>> existing_videos(connection& conn, std::string_view workspace_id,
                                                 const std::vector<std::string>& video_ids) {
  std::set<std::string> found;
  for (size_t i = 0; i < video_ids.size(); i += lookup_ids) {
    auto n = std::min(lookup_ids, video_ids.size() - i);
    std::vector<param> params{std::string{workspace_id}};
    params.insert(params.end(), video_ids.begin() + i, video_ids.begin() + i + n);
    std::string marks = value_rows(1, n);  // "(?, ?, ...)"
    auto rows =
        conn.query("SELECT id FROM videos WHERE workspace_id = ? AND id IN " + marks, params);
    if (!rows) {
      return rows.error();
    }
    for (const auto& r : *rows) {
      found.insert(r.text(0));
    }
  }
  return found;
}

db_result<int64_t> count_videos(connection& conn, std::string_view workspace_id) {
  auto rows =
      conn.query("SELECT COUNT(*) FROM videos WHERE workspace_id = ?", {std::string{workspace_id}});
  if (!rows) {
    return rows.error();
  }
  return rows->empty() ? int64_t{0} : rows->front().int64(0);
}

db_status each_engagement(connection& conn, const report_range& range, size_t batch,
                          const batch_fn<engagement_row>& on_rows) {
  return each_batch<engagement_row>(conn, engagement_sql,
                                    {range.workspace_id, range.from, range.to, range.workspace_id},
                                    batch, read_engagement, on_rows);
}

db_status each_pipeline(connection& conn, const report_range& range, size_t batch,
                        const batch_fn<pipeline_row>& on_rows) {
  return each_batch<pipeline_row>(
      conn, pipeline_sql,
      {range.workspace_id, range.workspace_id, range.workspace_id, range.from, range.to}, batch,
      read_pipeline, on_rows);
}

db_status delete_chunks(connection& conn, std::string_view job_id) {
  return detail::status_of(
      conn.execute("DELETE FROM report_chunks WHERE job_id = ?", {std::string{job_id}}));
}

db_status put_chunk(connection& conn, std::string_view job_id, int64_t seq,
                    const std::string& data) {
  return detail::status_of(
      conn.execute("INSERT INTO report_chunks (job_id, seq, data) VALUES (?, ?, ?)",
                   {std::string{job_id}, seq, data}));
}

db_result<std::optional<std::string>> chunk(connection& conn, std::string_view job_id,
                                            int64_t seq) {
  return detail::read_first(
      conn.query("SELECT data FROM report_chunks WHERE job_id = ? AND seq = ?",
                 {std::string{job_id}, seq}),
      [](const row& r) { return r.text(0); });
}

}  // namespace sb::persistence::engagement
