#include "persistence/repositories/contact_import.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <variant>

namespace sb::persistence::contact_import {

using detail::lower;
using detail::lower_or_null;

namespace {

// Rows per staging statement. SQLite binds 10 parameters a row, well under
// its 32766 per statement; PostgreSQL takes a whole batch as one JSON
// parameter, since psqlODBC's cost per bound parameter dominated there.
constexpr size_t sqlite_batch_rows = 500;
constexpr size_t postgres_batch_rows = 5000;

// Temporary, so each connection has its own and nobody else sees it. Kept
// between imports (emptied) rather than dropped, so that the statements
// prepared against it stay valid.
constexpr const char* staging_ddl =
    "CREATE TEMP TABLE IF NOT EXISTS import_staging ("
    "email_lc {key} PRIMARY KEY, id {key} NOT NULL, email {text} NOT NULL, first_name {text}, "
    "first_lc {key}, last_name {text}, last_lc {key}, phone {text}, company {text}, "
    "lifecycle_stage {text})";

constexpr const char* staged_columns =
    "INSERT INTO import_staging (email_lc, id, email, first_name, first_lc, last_name, last_lc, "
    "phone, company, lifecycle_stage) ";

// A later row for the same email replaces the earlier one whole, except for
// its candidate id.
constexpr const char* upsert_tail =
    " ON CONFLICT (email_lc) DO UPDATE SET email = excluded.email, "
    "first_name = excluded.first_name, first_lc = excluded.first_lc, "
    "last_name = excluded.last_name, last_lc = excluded.last_lc, phone = excluded.phone, "
    "company = excluded.company, lifecycle_stage = excluded.lifecycle_stage";

// The staged values of one contact, in staged_columns order.
std::vector<param> values_of(const contact_record& c, std::string email_lc) {
  return {std::move(email_lc),
          c.id,
          c.email,
          nullable(c.first_name),
          lower_or_null(c.first_name),
          nullable(c.last_name),
          lower_or_null(c.last_name),
          nullable(c.phone),
          nullable(c.company),
          nullable(c.lifecycle_stage)};
}

// Appends `v` as a JSON string or null. Text reaching here is UTF-8 without
// NUL bytes (PostgreSQL text cannot hold one), so only quotes, backslashes
// and control characters need escaping.
void append_json(std::string& out, const param& v) {
  const auto* text = std::get_if<std::string>(&v);
  if (text == nullptr) {
    out += "null";
    return;
  }
  out += '"';
  for (char ch : *text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

db_status stage_sqlite(connection& conn, std::vector<std::vector<param>>& rows) {
  std::string sql = std::string{staged_columns} + "VALUES ";
  std::vector<param> params;
  params.reserve(rows.size() * 10);
  for (size_t i = 0; i < rows.size(); ++i) {
    sql += i == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    for (auto& v : rows[i]) {
      params.push_back(std::move(v));
    }
  }
  return detail::status_of(conn.execute(sql + upsert_tail, params));
}

db_status stage_postgres(connection& conn, const std::vector<std::vector<param>>& rows) {
  std::string doc = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    doc += i == 0 ? "[" : ",[";
    for (size_t k = 0; k < rows[i].size(); ++k) {
      if (k > 0) {
        doc += ',';
      }
      append_json(doc, rows[i][k]);
    }
    doc += ']';
  }
  doc += ']';
  static const std::string sql =
      std::string{staged_columns} +
      "SELECT e->>0, e->>1, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7, e->>8, e->>9 "
      "FROM jsonb_array_elements(CAST(? AS jsonb)) AS e" +
      upsert_tail;
  return detail::status_of(conn.execute(sql, {std::move(doc)}));
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
  std::vector<std::vector<param>> rows;
  rows.reserve(last.size());
  for (size_t i = 0; i < n; ++i) {
    if (last[keys[i]] == i) {
      rows.push_back(values_of(first[i], std::move(keys[i])));
    }
  }
  return conn.dialect() == dialect::postgresql ? stage_postgres(conn, rows)
                                               : stage_sqlite(conn, rows);
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
  const auto batch_rows =
      conn.dialect() == dialect::postgresql ? postgres_batch_rows : sqlite_batch_rows;
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
