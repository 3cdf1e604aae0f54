#pragma once

// Errors and results of the persistence layer. ODBC diagnostics are turned
// into these values inside persistence/, so nothing above sees SQLSTATEs.

#include <string>
#include <utility>
#include <variant>

namespace sb::persistence {

/// What went wrong, grouped by what a caller can do about it.
enum class db_errc {
  unavailable,  ///< Cannot reach the database (connect failed, link lost).
  transient,    ///< Retry may succeed: deadlock, serialization, busy/locked.
  conflict,     ///< A unique or foreign-key constraint rejected the write.
  invalid,      ///< The statement or its parameters are wrong (a bug).
  timeout,      ///< The statement ran past its deadline.
  internal,     ///< Anything else the driver reported.
};

/// Names the error class, e.g. "transient".
const char* to_string(db_errc x);

/// One database failure: its class, the SQLSTATE and the driver's message.
struct db_error {
  db_errc code = db_errc::internal;
  std::string sqlstate;
  std::string message;
};

/// Either a value or a db_error.
template <class T>
class db_result {
 public:
  db_result(T value) : data_(std::move(value)) {}
  db_result(db_error error) : data_(std::move(error)) {}

  explicit operator bool() const { return data_.index() == 0; }
  T& operator*() { return std::get<0>(data_); }
  const T& operator*() const { return std::get<0>(data_); }
  T* operator->() { return &std::get<0>(data_); }
  const T* operator->() const { return &std::get<0>(data_); }
  const db_error& error() const { return std::get<1>(data_); }

 private:
  std::variant<T, db_error> data_;
};

/// Success without a value.
struct done {};

using db_status = db_result<done>;

}  // namespace sb::persistence
