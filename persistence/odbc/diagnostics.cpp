#include "persistence/odbc/diagnostics.hpp"

#include "persistence/odbc/connection_string.hpp"

#include <algorithm>
#include <array>

namespace sb::persistence::odbc {

namespace {

// SQLite primary result codes (sqlite3.h). The SQLite3 ODBC driver 0.9998
// reports every engine error as SQLSTATE HY000 (S1000 under ODBC 2) and puts
// the SQLite result code into the native error, with sqlite3_errmsg() and
// " (code)" as the message, e.g. "database is locked (5)". Extended result
// codes are not enabled by the driver, so these primary codes are what we see.
constexpr SQLINTEGER sqlite_error = 1;        // syntax error, no such table/column
constexpr SQLINTEGER sqlite_busy = 5;         // "database is locked"
constexpr SQLINTEGER sqlite_locked = 6;       // "database table is locked"
constexpr SQLINTEGER sqlite_toobig = 18;      // string or blob too big
constexpr SQLINTEGER sqlite_constraint = 19;  // UNIQUE/FOREIGN KEY/NOT NULL/CHECK failed
constexpr SQLINTEGER sqlite_mismatch = 20;    // datatype mismatch
constexpr SQLINTEGER sqlite_range = 25;       // bind parameter index out of range

bool starts_with(std::string_view x, std::string_view prefix) {
  return x.substr(0, prefix.size()) == prefix;
}

db_errc classify_sqlite(const diag_record& r) {
  switch (r.native) {
    case sqlite_busy:
    case sqlite_locked:
      return db_errc::transient;
    case sqlite_constraint:
      return db_errc::conflict;
    case sqlite_error:
    case sqlite_toobig:
    case sqlite_mismatch:
    case sqlite_range:
      return db_errc::invalid;
    default:
      break;
  }
  // Paths of the driver that do not carry the SQLite code (e.g. a BEGIN that
  // failed) still carry SQLite's message text.
  if (contains_ci(r.message, "database is locked") ||
      contains_ci(r.message, "database table is locked") || contains_ci(r.message, "busy")) {
    return db_errc::transient;
  }
  if (contains_ci(r.message, "constraint failed")) {
    return db_errc::conflict;
  }
  return db_errc::internal;
}

}  // namespace

std::vector<diag_record> read_diagnostics(SQLSMALLINT type, SQLHANDLE h) {
  std::vector<diag_record> out;
  for (SQLSMALLINT i = 1;; ++i) {
    std::array<SQLCHAR, 6> state{};
    SQLINTEGER native = 0;
    std::string msg(512, '\0');
    SQLSMALLINT len = 0;
    auto rc =
        SQLGetDiagRec(type, h, i, state.data(), &native, reinterpret_cast<SQLCHAR*>(msg.data()),
                      static_cast<SQLSMALLINT>(msg.size()), &len);
    if (rc == SQL_SUCCESS_WITH_INFO && len >= static_cast<SQLSMALLINT>(msg.size())) {
      // The message did not fit: ask again with room for all of it.
      msg.assign(static_cast<size_t>(len) + 1, '\0');
      rc = SQLGetDiagRec(type, h, i, state.data(), &native, reinterpret_cast<SQLCHAR*>(msg.data()),
                         static_cast<SQLSMALLINT>(msg.size()), &len);
    }
    if (!SQL_SUCCEEDED(rc)) {
      break;
    }
    msg.resize(std::min<size_t>(static_cast<size_t>(std::max<SQLSMALLINT>(len, 0)), msg.size()));
    out.push_back({reinterpret_cast<const char*>(state.data()), native, std::move(msg)});
  }
  return out;
}

db_errc classify(const diag_record& r, std::optional<dialect> d) {
  const std::string_view st = r.sqlstate;

  // Class 08 is "connection exception" (08001 cannot connect, 08003 no
  // connection, 08006 connection failure, ODBC's 08S01 communication link
  // failure). PostgreSQL ends a session it is shutting down, or whose backend
  // was killed with pg_terminate_backend, with 57P01 admin_shutdown (57P02
  // crash_shutdown, 57P03 cannot_connect_now): the link is gone either way.
  // psqlodbc 13.02 passes that last message on as HY000 "FATAL: terminating
  // connection due to administrator command", not as 57P01, which is why
  // connection.cpp also asks the driver whether the link is dead.
  if (starts_with(st, "08") || st == "57P01" || st == "57P02" || st == "57P03") {
    return db_errc::unavailable;
  }

  // Retrying the transaction can succeed: 40001 serialization_failure, 40P01
  // deadlock_detected (PostgreSQL), 55P03 lock_not_available (lock_timeout or
  // NOWAIT expired).
  if (st == "40001" || st == "40P01" || st == "55P03") {
    return db_errc::transient;
  }

  // HYT00 "timeout expired" (query timeout), HYT01 "connection timeout
  // expired"; PostgreSQL reports statement_timeout as 57014 query_canceled.
  if (st == "HYT00" || st == "HYT01" || st == "57014") {
    return db_errc::timeout;
  }

  // Class 23 is "integrity constraint violation": 23505 unique, 23503
  // foreign key, 23502 not null, 23514 check.
  if (starts_with(st, "23")) {
    return db_errc::conflict;
  }

  // Class 42 "syntax error or access rule violation" (42601 syntax, 42P01
  // undefined table), 07 "dynamic SQL error" (07002 wrong parameter count,
  // 07009 invalid descriptor index), 22 "data exception" (22001 too long,
  // 22P02 invalid text representation): the statement or its data is wrong.
  if (starts_with(st, "42") || starts_with(st, "07") || starts_with(st, "22")) {
    return db_errc::invalid;
  }

  // The SQLite driver puts everything under the general HY000/S1000.
  if (d == dialect::sqlite && (st == "HY000" || st == "S1000")) {
    return classify_sqlite(r);
  }
  return db_errc::internal;
}

db_error to_error(const std::vector<diag_record>& records, std::optional<dialect> d,
                  std::string_view what) {
  db_error err{db_errc::internal, "", std::string{what}};
  if (records.empty()) {
    err.message += ": no diagnostics from the driver";
    return err;
  }

  // The first record that is not a warning (class 01) decides; drivers put
  // the root cause first.
  const diag_record* chosen = &records.front();
  for (const auto& r : records) {
    if (!starts_with(r.sqlstate, "01")) {
      chosen = &r;
      break;
    }
  }
  err.code = classify(*chosen, d);
  err.sqlstate = chosen->sqlstate;
  err.message += ": [" + chosen->sqlstate + "] " + chosen->message;
  return err;
}

db_error make_error(SQLSMALLINT type, SQLHANDLE h, std::optional<dialect> d,
                    std::string_view what) {
  return to_error(read_diagnostics(type, h), d, what);
}

}  // namespace sb::persistence::odbc
