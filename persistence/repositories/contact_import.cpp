#include "persistence/repositories/contact_import.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace sb::persistence::contact_import {

using detail::lower;
using detail::lower_or_null;

namespace {

// Rows per staging statement: 10 parameters each, well under SQLite's 32766
// and PostgreSQL's 65535 parameters per statement.
constexpr size_t batch_rows = 500;

constexpr size_t staged_columns = 10;

// Temporary, so each connection has its own and nobody else sees it. Kept
// between imports (emptied) rather than dropped, so that the statements
// prepared against it stay valid.
constexpr const char* staging_ddl =
    "CREATE TEMP TABLE IF NOT EXISTS import_staging ("
    "email_lc {key} PRIMARY KEY, id {key} NOT NULL, email {text} NOT NULL, first_name {text}, "
    "first_lc {key}, last_name {text}, last_lc {key}, phone {text}, company {text}, "
    "lifecycle_stage {text})";

// A later row for the same email replaces the earlier one whole, except for
// its candidate id.
constexpr const char* upsert_tail =
    " ON CONFLICT (email_lc) DO UPDATE SET email = excluded.email, "
    "first_name = excluded.first_name, first_lc = excluded.first_lc, "
    "last_name = excluded.last_name, last_lc = excluded.last_lc, phone = excluded.phone, "
    "company = excluded.company, lifecycle_stage = excluded.lifecycle_stage";

std::string insert_sql(size_t rows) {
  std::string sql =
      "INSERT INTO import_staging (email_lc, id, email, first_name, first_lc, last_name, "
      "last_lc, phone, company, lifecycle_stage) VALUES ";
  for (size_t i = 0; i < rows; ++i) {
    sql += i == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  }
  return sql + upsert_tail;
}

// Stages one batch in one statement. PostgreSQL refuses a statement that
// upserts one key twice, so only the last row of each email in the batch goes.
db_status stage_batch(connection& conn, const contact_record* first, size_t n) {
  std::unordered_map<std::string, size_t> last;
  last.reserve(n);
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    keys.push_back(lower(first[i].email));
    last[keys.back()] = i;
  }
  std::vector<param> params;
  params.reserve(last.size() * staged_columns);
  for (size_t i = 0; i < n; ++i) {
    if (last[keys[i]] != i) {
      continue;
    }
    const auto& c = first[i];
    params.emplace_back(std::move(keys[i]));
    params.emplace_back(c.id);
    params.emplace_back(c.email);
    params.emplace_back(nullable(c.first_name));
    params.emplace_back(lower_or_null(c.first_name));
    params.emplace_back(nullable(c.last_name));
    params.emplace_back(lower_or_null(c.last_name));
    params.emplace_back(nullable(c.phone));
    params.emplace_back(nullable(c.company));
    params.emplace_back(nullable(c.lifecycle_stage));
  }
  return detail::status_of(conn.execute(insert_sql(last.size()), params));
}

// A stored field differs when the staged row has a value that is not the
// stored one; an absent (NULL) staged field keeps what is stored.
std::string differs(const char* column) {
  return std::string{"(s."} + column + " IS NOT NULL AND (contacts." + column +
         " IS NULL OR contacts." + column + " <> s." + column + "))";
}

std::string update_sql() {
  std::string sql = "UPDATE contacts SET email = s.email";
  for (const char* col :
       {"first_name", "first_lc", "last_name", "last_lc", "phone", "company", "lifecycle_stage"}) {
    sql += std::string{", "} + col + " = COALESCE(s." + col + ", contacts." + col + ")";
  }
  sql +=
      ", version = contacts.version + 1, updated_at = ? FROM import_staging AS s "
      "WHERE contacts.workspace_id = ? AND contacts.email_lc = s.email_lc AND "
      "(contacts.email <> s.email";
  for (const char* col : {"first_name", "last_name", "phone", "company", "lifecycle_stage"}) {
    sql += " OR " + differs(col);
  }
  return sql + ")";
}

constexpr const char* insert_new_sql =
    "INSERT INTO contacts (id, workspace_id, email, email_lc, first_name, first_lc, last_name, "
    "last_lc, phone, company, lifecycle_stage, version, created_at, updated_at) "
    "SELECT s.id, ?, s.email, s.email_lc, s.first_name, s.first_lc, s.last_name, s.last_lc, "
    "s.phone, s.company, s.lifecycle_stage, 1, ?, ? FROM import_staging AS s "
    "WHERE NOT EXISTS (SELECT 1 FROM contacts AS c WHERE c.workspace_id = ? "
    "AND c.email_lc = s.email_lc)";

}  // namespace

db_status begin_staging(connection& conn) {
  if (auto st = conn.execute_script(render_ddl(conn.dialect(), staging_ddl)); !st) {
    return st;
  }
  // TRUNCATE leaves no dead rows behind in PostgreSQL, whose autovacuum
  // never visits temporary tables.
  return detail::status_of(conn.execute(conn.dialect() == dialect::postgresql
                                            ? "TRUNCATE import_staging"
                                            : "DELETE FROM import_staging"));
}

db_status stage(connection& conn, const std::vector<contact_record>& rows) {
  for (size_t at = 0; at < rows.size(); at += batch_rows) {
    auto n = std::min(batch_rows, rows.size() - at);
    if (auto st = stage_batch(conn, rows.data() + at, n); !st) {
      return st;
    }
  }
  return done{};
}

db_result<merge_counts> merge(connection& conn, std::string_view workspace_id, int64_t now) {
  const std::string ws{workspace_id};
  if (conn.dialect() == dialect::postgresql) {
    // Temporary tables get no statistics unless asked; the joins below plan
    // better with them.
    if (auto st = conn.execute("ANALYZE import_staging"); !st) {
      return st.error();
    }
  }
  auto staged = conn.query("SELECT COUNT(*) FROM import_staging");
  if (!staged) {
    return staged.error();
  }
  merge_counts out;
  auto updated = conn.execute(update_sql(), {now, ws});
  if (!updated) {
    return updated.error();
  }
  out.updated = *updated;
  auto inserted = conn.execute(insert_new_sql, {ws, now, now, ws});
  if (!inserted) {
    return inserted.error();
  }
  out.inserted = *inserted;
  out.unchanged = staged->front().int64(0) - out.updated - out.inserted;
  return out;
}

void end_staging(connection& conn) {
  if (conn.in_transaction() || conn.broken()) {
    return;  // The next begin_staging empties it.
  }
  conn.execute(conn.dialect() == dialect::postgresql ? "TRUNCATE import_staging"
                                                     : "DELETE FROM import_staging");
}

}  // namespace sb::persistence::contact_import
