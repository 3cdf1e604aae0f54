#pragma once

// One ODBC connection with prepared statements and bound parameters only.
// Blocking: use it from a blocking worker, never on a scheduler or Asio thread.

#include "persistence/dialect.hpp"
#include "persistence/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace sb::persistence {

/// A bound statement parameter: NULL, an integer, a double or text.
using param = std::variant<std::monostate, int64_t, double, std::string>;

/// Turns an optional text into a parameter, NULL when empty.
inline param nullable(const std::optional<std::string>& x) {
  return x ? param{*x} : param{};
}

/// One result row; every cell is fetched as text (NULL as nullopt).
class row {
 public:
  explicit row(std::vector<std::optional<std::string>> cells) : cells_(std::move(cells)) {}

  /// Number of columns.
  size_t size() const { return cells_.size(); }

  /// Tells whether column `i` is NULL.
  bool is_null(size_t i) const { return !cells_.at(i).has_value(); }

  /// Column `i` as text; empty for NULL.
  const std::string& text(size_t i) const;

  /// Column `i` as an optional text.
  const std::optional<std::string>& opt_text(size_t i) const { return cells_.at(i); }

  /// Column `i` as an integer; 0 for NULL.
  int64_t int64(size_t i) const;

  /// Column `i` as a double; 0 for NULL.
  double real(size_t i) const;

 private:
  std::vector<std::optional<std::string>> cells_;
};

/// An open ODBC connection. Not thread-safe: one thread at a time.
class connection {
 public:
  /// Opens a connection from an ODBC connection string, e.g.
  /// "Driver=SQLite3;Database=var/switchboard.db" or "Driver=PostgreSQL Unicode;...".
  static db_result<std::unique_ptr<connection>> open(const std::string& connection_string,
                                                     std::chrono::seconds login_timeout);

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// The SQL dialect the driver speaks.
  persistence::dialect dialect() const;

  /// Runs a query and returns all rows. Statements are prepared once per
  /// connection and cached by their text.
  db_result<std::vector<row>> query(std::string_view sql, const std::vector<param>& params = {});

  /// Runs a query and hands each row to `on_row` as it is fetched; returning
  /// false from `on_row` stops early.
  db_status query_each(std::string_view sql, const std::vector<param>& params,
                       const std::function<bool(const row&)>& on_row);

  /// Runs a statement and returns the number of affected rows.
  db_result<int64_t> execute(std::string_view sql, const std::vector<param>& params = {});

  /// Runs one or more statements without parameters (migrations, DDL).
  db_status execute_script(std::string_view sql);

  /// Starts a transaction (turns auto-commit off).
  db_status begin();

  /// Commits and turns auto-commit back on.
  db_status commit();

  /// Rolls back and turns auto-commit back on; never fails loudly.
  void rollback();

  /// Tells whether a transaction is open.
  bool in_transaction() const;

  /// Tells whether the link still works (a cheap round trip).
  bool ping();

  /// Tells whether an earlier error showed the link to be dead.
  bool broken() const;

  /// When the connection last completed a call to the database.
  std::chrono::steady_clock::time_point last_activity() const;

  /// Number of prepared statements cached on this connection.
  size_t cached_statements() const;

 private:
  struct impl;
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Runs `body` inside a transaction on `conn`, retrying the whole transaction
/// up to `attempts` times on transient errors. `body` returns a db_result<T>;
/// any error rolls back.
template <class F>
auto in_transaction(connection& conn, F&& body, int attempts = 3) -> decltype(body(conn)) {
  for (int i = 1;; ++i) {
    if (auto st = conn.begin(); !st) {
      // SQLite takes its write lock at BEGIN, so a busy database shows here.
      if (st.error().code != db_errc::transient || i >= attempts) {
        return st.error();
      }
      continue;
    }
    auto result = body(conn);
    if (result) {
      if (auto st = conn.commit(); st) {
        return result;
      } else if (st.error().code != db_errc::transient || i >= attempts) {
        return st.error();
      }
      continue;
    }
    conn.rollback();
    if (result.error().code != db_errc::transient || i >= attempts) {
      return result;
    }
  }
}

/// Runs the single statement `f()` (returning a db_result<T>) again on
/// transient errors, up to `attempts` times, waiting 10 ms, 20 ms, 40 ms...
/// in between. Meant for statements outside a transaction: inside one a failed
/// statement spoils the whole transaction (PostgreSQL aborts it), so retry the
/// transaction with in_transaction instead.
template <class F>
auto with_retry(F&& f, int attempts = 3) -> decltype(f()) {
  auto delay = std::chrono::milliseconds{10};
  for (int i = 1;; ++i) {
    auto result = f();
    if (result || result.error().code != db_errc::transient || i >= attempts) {
      return result;
    }
    // Blocking sleep is fine here: this layer only runs on blocking worker
    // threads, never on an actor scheduler or Asio thread.
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace sb::persistence
