#pragma once

// Owning wrappers for raw ODBC handles and the process-wide environment.
// Detail of persistence/: nothing outside this folder and connection.cpp uses it.

#include "persistence/result.hpp"

#include <sql.h>
#include <sqlext.h>

#include <utility>

namespace sb::persistence::odbc {

/// Owns one ODBC handle and frees it with SQLFreeHandle.
class handle {
 public:
  handle() = default;
  handle(SQLSMALLINT type, SQLHANDLE h) : type_(type), h_(h) {}
  handle(handle&& other) noexcept : type_(other.type_), h_(std::exchange(other.h_, nullptr)) {}
  handle& operator=(handle&& other) noexcept;
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() { reset(); }

  /// The raw handle (null when empty).
  SQLHANDLE get() const { return h_; }

  /// The handle type (SQL_HANDLE_ENV, SQL_HANDLE_DBC or SQL_HANDLE_STMT).
  SQLSMALLINT type() const { return type_; }

  /// Tells whether a handle is held.
  explicit operator bool() const { return h_ != nullptr; }

  /// Frees the handle now.
  void reset();

 private:
  SQLSMALLINT type_ = SQL_HANDLE_STMT;
  SQLHANDLE h_ = nullptr;
};

/// Allocates a handle of `type` under `parent`.
db_result<handle> allocate(SQLSMALLINT type, SQLHANDLE parent);

/// The process-wide ODBC 3 environment, created on first use; never freed,
/// since connections may still be closing while static objects are destroyed.
db_result<SQLHENV> environment();

}  // namespace sb::persistence::odbc
