#include "persistence/connection.hpp"

#include "observability/log.hpp"
#include "persistence/odbc/connection_string.hpp"
#include "persistence/odbc/diagnostics.hpp"
#include "persistence/odbc/handle.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <unordered_map>

namespace sb::persistence {

namespace {

using clock_type = std::chrono::steady_clock;

// Busy timeout of SQLite connections whose connection string names none.
constexpr int default_sqlite_busy_ms = 5000;

// Prepared statements kept per connection. The product's statements are a
// fixed set, so the cache only overflows when something builds SQL texts
// without bound; then it starts over rather than growing.
constexpr size_t max_cached_statements = 256;

// Bytes asked for per SQLGetData call; longer values arrive in several calls.
constexpr size_t fetch_chunk = 8192;

// Text parameters longer than this are bound as SQL_LONGVARCHAR, which both
// drivers map to unbounded text.
constexpr size_t long_text = 4000;

const std::string empty_text;

bool is_sqlite_driver(std::string_view cs) {
  auto driver = odbc::attribute(cs, "Driver");
  return driver && odbc::contains_ci(*driver, "sqlite");
}

// Splits a script on ";\n" and drops empty pieces and a final ';'. Each piece
// then runs alone: the SQLite3 driver 0.9998 refuses a batch that starts with
// SELECT or has parameters ("only one SQL statement allowed"), and a failure
// can name the statement that caused it.
std::vector<std::string_view> split_script(std::string_view sql) {
  std::vector<std::string_view> out;
  auto keep = [&out](std::string_view piece) {
    while (!piece.empty() && std::isspace(static_cast<unsigned char>(piece.back()))) {
      piece.remove_suffix(1);
    }
    if (!piece.empty() && piece.back() == ';') {
      piece.remove_suffix(1);
    }
    auto first = std::find_if_not(piece.begin(), piece.end(), [](char c) {
      return std::isspace(static_cast<unsigned char>(c));
    });
    if (first != piece.end()) {
      out.push_back(piece);
    }
  };
  size_t pos = 0;
  for (auto end = sql.find(";\n"); end != std::string_view::npos; end = sql.find(";\n", pos)) {
    keep(sql.substr(pos, end - pos));
    pos = end + 2;
  }
  keep(sql.substr(pos));
  return out;
}

SQLCHAR* sql_text(std::string_view sql) {
  return reinterpret_cast<SQLCHAR*>(const_cast<char*>(sql.data()));
}

}  // namespace

// -- row ----------------------------------------------------------------------

const std::string& row::text(size_t i) const {
  const auto& cell = cells_.at(i);
  return cell ? *cell : empty_text;
}

int64_t row::int64(size_t i) const {
  const auto& cell = cells_.at(i);
  if (!cell || cell->empty()) {
    return 0;
  }
  const char* first = cell->data();
  const char* last = first + cell->size();
  int64_t value = 0;
  if (auto [end, ec] = std::from_chars(first, last, value); ec == std::errc{} && end == last) {
    return value;
  }

  // Aggregates such as AVG or SUM over NUMERIC come back with a fraction.
  return static_cast<int64_t>(real(i));
}

double row::real(size_t i) const {
  const auto& cell = cells_.at(i);
  if (!cell || cell->empty()) {
    return 0;
  }
  double value = 0;
  std::from_chars(cell->data(), cell->data() + cell->size(), value);
  return value;
}

// -- connection::impl -----------------------------------------------------------

struct connection::impl {
  odbc::handle dbc;
  persistence::dialect dialect = persistence::dialect::sqlite;
  bool broken = false;
  bool in_tx = false;
  clock_type::time_point last_activity = clock_type::now();
  std::unordered_map<std::string, odbc::handle> statements;

  /// A statement that ran; `no_data` is set when it reported SQL_NO_DATA
  /// (a searched UPDATE or DELETE that matched no row).
  struct executed {
    SQLHSTMT stmt;
    bool no_data;
  };

  ~impl() {
    if (!dbc) {
      return;
    }
    if (in_tx) {
      if (dialect == persistence::dialect::sqlite) {
        exec_direct("ROLLBACK");
      } else {
        SQLEndTran(SQL_HANDLE_DBC, dbc.get(), SQL_ROLLBACK);
      }
    }
    statements.clear();
    SQLDisconnect(dbc.get());
  }

  /// Records an error: a dead link marks the connection broken.
  db_error note(db_error err) {
    if (err.code != db_errc::unavailable) {
      // Drivers do not always report a lost link with an 08 SQLSTATE (a
      // server's last words may arrive first); the driver's own view of the
      // link settles it.
      SQLUINTEGER dead = SQL_CD_FALSE;
      auto rc = SQLGetConnectAttr(dbc.get(), SQL_ATTR_CONNECTION_DEAD, &dead, 0, nullptr);
      if (SQL_SUCCEEDED(rc) && dead == SQL_CD_TRUE) {
        err.code = db_errc::unavailable;
      }
    }
    if (err.code == db_errc::unavailable && !broken) {
      broken = true;
      SB_LOG(persistence, warn, {}, "connection broken dialect={} sqlstate={} error={}",
             to_string(dialect), err.sqlstate, err.message);
    }
    return err;
  }

  /// Reads a handle's diagnostics into an error and records it.
  db_error fail(SQLSMALLINT type, SQLHANDLE h, std::string_view what) {
    return note(odbc::make_error(type, h, dialect, what));
  }

  /// The cached prepared statement for `sql`, prepared now if new.
  db_result<SQLHSTMT> prepared(std::string_view sql) {
    std::string key{sql};
    if (auto it = statements.find(key); it != statements.end()) {
      return static_cast<SQLHSTMT>(it->second.get());
    }
    if (statements.size() >= max_cached_statements) {
      statements.clear();
    }
    auto stmt = odbc::allocate(SQL_HANDLE_STMT, dbc.get());
    if (!stmt) {
      return note(stmt.error());
    }
    auto rc = SQLPrepare(stmt->get(), sql_text(sql), static_cast<SQLINTEGER>(sql.size()));
    if (!SQL_SUCCEEDED(rc)) {
      return fail(SQL_HANDLE_STMT, stmt->get(), "preparing statement");
    }
    auto raw = static_cast<SQLHSTMT>(stmt->get());
    statements.emplace(std::move(key), std::move(*stmt));
    return raw;
  }

  /// Binds `params` to `stmt`; the buffers are `params` themselves, which
  /// outlive the execution, and `lengths`.
  db_status bind(SQLHSTMT stmt, const std::vector<param>& params, std::vector<SQLLEN>& lengths) {
    lengths.assign(params.size(), 0);
    for (size_t i = 0; i < params.size(); ++i) {
      auto n = static_cast<SQLUSMALLINT>(i + 1);
      auto* len = &lengths[i];
      SQLRETURN rc = SQL_SUCCESS;
      if (std::holds_alternative<std::monostate>(params[i])) {
        *len = SQL_NULL_DATA;
        rc = SQLBindParameter(stmt, n, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 1, 0, nullptr, 0,
                              len);
      } else if (auto* v = std::get_if<int64_t>(&params[i])) {
        *len = sizeof(int64_t);
        rc = SQLBindParameter(stmt, n, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0,
                              const_cast<int64_t*>(v), 0, len);
      } else if (auto* d = std::get_if<double>(&params[i])) {
        *len = sizeof(double);
        rc = SQLBindParameter(stmt, n, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 15, 0,
                              const_cast<double*>(d), 0, len);
      } else {
        const auto& s = std::get<std::string>(params[i]);
        *len = static_cast<SQLLEN>(s.size());
        auto type = s.size() > long_text ? SQL_LONGVARCHAR : SQL_VARCHAR;
        rc = SQLBindParameter(stmt, n, SQL_PARAM_INPUT, SQL_C_CHAR, type,
                              std::max<SQLULEN>(s.size(), 1), 0, const_cast<char*>(s.data()), *len,
                              len);
      }
      if (!SQL_SUCCEEDED(rc)) {
        return fail(SQL_HANDLE_STMT, stmt, "binding parameter " + std::to_string(n));
      }
    }
    return done{};
  }

  /// Prepares (or reuses), binds and executes `sql`.
  db_result<executed> run(std::string_view sql, const std::vector<param>& params,
                          std::vector<SQLLEN>& lengths) {
    if (broken) {
      return db_error{db_errc::unavailable, "08003", "connection is broken"};
    }
    auto stmt = prepared(sql);
    if (!stmt) {
      return stmt.error();
    }

    // A reused statement may still hold the cursor and bindings of its last run.
    SQLFreeStmt(*stmt, SQL_CLOSE);
    SQLFreeStmt(*stmt, SQL_RESET_PARAMS);
    if (auto st = bind(*stmt, params, lengths); !st) {
      statements.erase(std::string{sql});
      return st.error();
    }

    auto rc = SQLExecute(*stmt);
    if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA) {
      auto err = fail(SQL_HANDLE_STMT, *stmt, "executing statement");
      // Prepare afresh next time: the failure may have spoiled the plan
      // (a changed schema, a statement parsed inside an aborted transaction).
      statements.erase(std::string{sql});
      return err;
    }
    last_activity = clock_type::now();
    return executed{*stmt, rc == SQL_NO_DATA};
  }

  /// Fetches one column of the current row, in as many chunks as it needs.
  db_result<std::optional<std::string>> read_cell(SQLHSTMT stmt, SQLUSMALLINT col,
                                                  std::string& buf) {
    std::string value;
    for (;;) {
      SQLLEN ind = 0;
      auto rc =
          SQLGetData(stmt, col, SQL_C_CHAR, buf.data(), static_cast<SQLLEN>(buf.size()), &ind);
      if (rc == SQL_NO_DATA) {
        break;  // Earlier calls returned everything.
      }
      if (!SQL_SUCCEEDED(rc)) {
        return fail(SQL_HANDLE_STMT, stmt, "fetching column " + std::to_string(col));
      }
      if (ind == SQL_NULL_DATA) {
        return std::optional<std::string>{};
      }

      // Each call fills the buffer but for its terminating NUL; more data
      // remains when the driver says it truncated (01004).
      const size_t room = buf.size() - 1;
      const bool more = rc == SQL_SUCCESS_WITH_INFO && (ind == SQL_NO_TOTAL || ind > SQLLEN(room));
      value.append(buf.data(), more ? room : static_cast<size_t>(ind));
      if (!more) {
        break;
      }
    }
    return std::optional<std::string>{std::move(value)};
  }

  /// Hands each row of an executed statement to `on_row` and closes the cursor.
  db_status fetch_rows(SQLHSTMT stmt, const std::function<bool(const row&)>& on_row) {
    SQLSMALLINT ncols = 0;
    if (!SQL_SUCCEEDED(SQLNumResultCols(stmt, &ncols))) {
      auto err = fail(SQL_HANDLE_STMT, stmt, "reading the result shape");
      SQLFreeStmt(stmt, SQL_CLOSE);
      return err;
    }
    std::string buf(fetch_chunk, '\0');
    for (;;) {
      auto rc = SQLFetch(stmt);
      if (rc == SQL_NO_DATA) {
        break;
      }
      if (!SQL_SUCCEEDED(rc)) {
        auto err = fail(SQL_HANDLE_STMT, stmt, "fetching a row");
        SQLFreeStmt(stmt, SQL_CLOSE);
        return err;
      }
      std::vector<std::optional<std::string>> cells;
      cells.reserve(static_cast<size_t>(ncols));
      for (SQLSMALLINT c = 1; c <= ncols; ++c) {
        auto cell = read_cell(stmt, static_cast<SQLUSMALLINT>(c), buf);
        if (!cell) {
          SQLFreeStmt(stmt, SQL_CLOSE);
          return cell.error();
        }
        cells.push_back(std::move(*cell));
      }
      if (!on_row(row{std::move(cells)})) {
        break;
      }
    }
    SQLFreeStmt(stmt, SQL_CLOSE);
    last_activity = clock_type::now();
    return done{};
  }

  /// Runs one statement without parameters on a throwaway handle.
  db_status exec_direct(std::string_view sql) {
    if (broken) {
      return db_error{db_errc::unavailable, "08003", "connection is broken"};
    }
    auto stmt = odbc::allocate(SQL_HANDLE_STMT, dbc.get());
    if (!stmt) {
      return note(stmt.error());
    }
    auto rc = SQLExecDirect(stmt->get(), sql_text(sql), static_cast<SQLINTEGER>(sql.size()));
    if (!SQL_SUCCEEDED(rc) && rc != SQL_NO_DATA) {
      return fail(SQL_HANDLE_STMT, stmt->get(), "running statement");
    }
    last_activity = clock_type::now();
    return done{};
  }

  /// Ends the open transaction and turns auto-commit back on.
  db_status end_transaction(SQLSMALLINT completion) {
    if (dialect == persistence::dialect::sqlite) {
      in_tx = false;
      auto st = exec_direct(completion == SQL_COMMIT ? "COMMIT" : "ROLLBACK");
      if (!st && completion == SQL_COMMIT) {
        exec_direct("ROLLBACK");
      }
      return st;
    }
    auto rc = SQLEndTran(SQL_HANDLE_DBC, dbc.get(), completion);
    if (!SQL_SUCCEEDED(rc)) {
      auto err =
          fail(SQL_HANDLE_DBC, dbc.get(), completion == SQL_COMMIT ? "committing" : "rolling back");
      if (completion == SQL_COMMIT) {
        // A failed COMMIT leaves nothing worth keeping: roll back so the next
        // transaction starts clean.
        SQLEndTran(SQL_HANDLE_DBC, dbc.get(), SQL_ROLLBACK);
      } else {
        // A connection that cannot roll back is in an unknown state.
        broken = true;
      }
      autocommit_on();
      return err;
    }
    last_activity = clock_type::now();
    return autocommit_on();
  }

  /// Leaves manual-commit mode; ends the transaction bookkeeping.
  db_status autocommit_on() {
    in_tx = false;
    // Turning auto-commit on commits an open transaction (ODBC spec), so this
    // always comes after SQLEndTran.
    auto rc = SQLSetConnectAttr(dbc.get(), SQL_ATTR_AUTOCOMMIT,
                                reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_ON), SQL_IS_UINTEGER);
    if (!SQL_SUCCEEDED(rc)) {
      auto err = fail(SQL_HANDLE_DBC, dbc.get(), "turning auto-commit on");
      broken = true;  // Later statements would run in an unknown mode.
      return err;
    }
    return done{};
  }
};

// -- connection -------------------------------------------------------------------

connection::connection(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

connection::~connection() = default;

db_result<std::unique_ptr<connection>> connection::open(const std::string& connection_string,
                                                        std::chrono::seconds login_timeout) {
  auto env = odbc::environment();
  if (!env) {
    return env.error();
  }
  auto dbc = odbc::allocate(SQL_HANDLE_DBC, *env);
  if (!dbc) {
    return dbc.error();
  }
  auto secs = static_cast<SQLULEN>(std::max<int64_t>(login_timeout.count(), 0));
  SQLSetConnectAttr(dbc->get(), SQL_ATTR_LOGIN_TIMEOUT, reinterpret_cast<SQLPOINTER>(secs),
                    SQL_IS_UINTEGER);

  // The SQLite3 driver retries a busy database itself for Timeout= ms (100 s
  // when unset) on top of SQLite's own busy handler, so give it the same
  // bound as the busy_timeout pragma below. A DSN-only string must set
  // Timeout in its DSN.
  std::string cs = connection_string;
  int busy_ms = default_sqlite_busy_ms;
  if (is_sqlite_driver(cs)) {
    if (auto t = odbc::attribute(cs, "Timeout")) {
      std::from_chars(t->data(), t->data() + t->size(), busy_ms);
    } else {
      cs = odbc::with_attribute(cs, "Timeout", std::to_string(busy_ms));
    }
  }

  auto rc = SQLDriverConnect(dbc->get(), nullptr, sql_text(cs), static_cast<SQLSMALLINT>(cs.size()),
                             nullptr, 0, nullptr, SQL_DRIVER_NOPROMPT);
  if (!SQL_SUCCEEDED(rc)) {
    // Whatever the driver's SQLSTATE, the database cannot be reached.
    auto err = odbc::make_error(SQL_HANDLE_DBC, dbc->get(), std::nullopt, "connect failed");
    err.code = db_errc::unavailable;
    return err;
  }
  auto p = std::make_unique<impl>();
  p->dbc = std::move(*dbc);

  // Tell the dialect from the DBMS the driver reports.
  std::string name(128, '\0');
  SQLSMALLINT len = 0;
  rc = SQLGetInfo(p->dbc.get(), SQL_DBMS_NAME, name.data(), static_cast<SQLSMALLINT>(name.size()),
                  &len);
  if (!SQL_SUCCEEDED(rc)) {
    return p->fail(SQL_HANDLE_DBC, p->dbc.get(), "reading SQL_DBMS_NAME");
  }
  name.resize(std::min<size_t>(static_cast<size_t>(std::max<SQLSMALLINT>(len, 0)), name.size()));
  if (odbc::contains_ci(name, "sqlite")) {
    p->dialect = dialect::sqlite;
  } else if (odbc::contains_ci(name, "postgres")) {
    p->dialect = dialect::postgresql;
  } else {
    return db_error{db_errc::invalid, "", "unsupported database: " + name};
  }

  // SQLite: WAL lets readers run beside the one writer, foreign keys are off
  // by default, and a busy database waits instead of failing at once.
  if (p->dialect == dialect::sqlite) {
    for (auto pragma :
         {std::string{"PRAGMA journal_mode=WAL"}, std::string{"PRAGMA foreign_keys=ON"},
          "PRAGMA busy_timeout=" + std::to_string(busy_ms)}) {
      if (auto st = p->exec_direct(pragma); !st) {
        return st.error();
      }
    }
  }
  SB_LOG(persistence, debug, {}, "connected dialect={}", to_string(p->dialect));
  return std::unique_ptr<connection>{new connection(std::move(p))};
}

dialect connection::dialect() const {
  return impl_->dialect;
}

db_result<std::vector<row>> connection::query(std::string_view sql,
                                              const std::vector<param>& params) {
  std::vector<row> rows;
  auto st = query_each(sql, params, [&rows](const row& r) {
    rows.push_back(r);
    return true;
  });
  if (!st) {
    return st.error();
  }
  return rows;
}

db_status connection::query_each(std::string_view sql, const std::vector<param>& params,
                                 const std::function<bool(const row&)>& on_row) {
  std::vector<SQLLEN> lengths;
  auto ran = impl_->run(sql, params, lengths);
  if (!ran) {
    return ran.error();
  }
  // psqlODBC answers SQL_NO_DATA, and opens no cursor, for an UPDATE ...
  // RETURNING that matched nothing; fetching would fail with 24000.
  if (ran->no_data) {
    SQLFreeStmt(ran->stmt, SQL_CLOSE);
    return done{};
  }
  return impl_->fetch_rows(ran->stmt, on_row);
}

db_result<int64_t> connection::execute(std::string_view sql, const std::vector<param>& params) {
  std::vector<SQLLEN> lengths;
  auto ran = impl_->run(sql, params, lengths);
  if (!ran) {
    return ran.error();
  }
  SQLLEN count = 0;
  if (!ran->no_data && !SQL_SUCCEEDED(SQLRowCount(ran->stmt, &count))) {
    auto err = impl_->fail(SQL_HANDLE_STMT, ran->stmt, "reading the row count");
    SQLFreeStmt(ran->stmt, SQL_CLOSE);
    return err;
  }
  SQLFreeStmt(ran->stmt, SQL_CLOSE);
  // Statements without a count (DDL) report -1.
  return static_cast<int64_t>(std::max<SQLLEN>(count, 0));
}

db_status connection::execute_script(std::string_view sql) {
  auto pieces = split_script(sql);
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (auto st = impl_->exec_direct(pieces[i]); !st) {
      auto err = st.error();
      err.message = "script statement " + std::to_string(i + 1) + ": " + err.message;
      return err;
    }
  }
  return done{};
}

db_status connection::begin() {
  if (impl_->in_tx) {
    return db_error{db_errc::invalid, "", "a transaction is already open"};
  }
  if (impl_->broken) {
    return db_error{db_errc::unavailable, "08003", "connection is broken"};
  }
  if (impl_->dialect == persistence::dialect::sqlite) {
    // The SQLite driver opens a DEFERRED transaction when auto-commit goes
    // off, so a transaction that reads before it writes can hold a stale
    // snapshot that no retry fixes. BEGIN IMMEDIATE takes the write lock up
    // front instead; COMMIT and ROLLBACK are then plain statements too.
    if (auto st = impl_->exec_direct("BEGIN IMMEDIATE"); !st) {
      return st;
    }
    impl_->in_tx = true;
    return done{};
  }
  auto rc = SQLSetConnectAttr(impl_->dbc.get(), SQL_ATTR_AUTOCOMMIT,
                              reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_OFF), SQL_IS_UINTEGER);
  if (!SQL_SUCCEEDED(rc)) {
    return impl_->fail(SQL_HANDLE_DBC, impl_->dbc.get(), "turning auto-commit off");
  }
  impl_->in_tx = true;
  return done{};
}

db_status connection::commit() {
  if (!impl_->in_tx) {
    return db_error{db_errc::invalid, "", "no transaction is open"};
  }
  return impl_->end_transaction(SQL_COMMIT);
}

void connection::rollback() {
  if (!impl_->in_tx) {
    return;
  }
  impl_->end_transaction(SQL_ROLLBACK);
}

bool connection::in_transaction() const {
  return impl_->in_tx;
}

bool connection::ping() {
  if (impl_->broken) {
    return false;
  }
  auto rows = query("SELECT 1");
  return rows && rows->size() == 1 && rows->front().int64(0) == 1;
}

bool connection::broken() const {
  return impl_->broken;
}

std::chrono::steady_clock::time_point connection::last_activity() const {
  return impl_->last_activity;
}

size_t connection::cached_statements() const {
  return impl_->statements.size();
}

}  // namespace sb::persistence
