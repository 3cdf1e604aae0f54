#include "persistence/odbc/handle.hpp"

#include "persistence/odbc/diagnostics.hpp"

namespace sb::persistence::odbc {

handle& handle::operator=(handle&& other) noexcept {
  if (this != &other) {
    reset();
    type_ = other.type_;
    h_ = std::exchange(other.h_, nullptr);
  }
  return *this;
}

void handle::reset() {
  if (h_ != nullptr) {
    SQLFreeHandle(type_, h_);
    h_ = nullptr;
  }
}

db_result<handle> allocate(SQLSMALLINT type, SQLHANDLE parent) {
  SQLHANDLE h = nullptr;
  auto rc = SQLAllocHandle(type, parent, &h);
  if (!SQL_SUCCEEDED(rc)) {
    // The parent holds the diagnostics of a failed allocation.
    auto parent_type = type == SQL_HANDLE_STMT ? SQL_HANDLE_DBC : SQL_HANDLE_ENV;
    if (parent == SQL_NULL_HANDLE) {
      return db_error{db_errc::internal, "", "cannot allocate an ODBC handle"};
    }
    return make_error(parent_type, parent, std::nullopt, "allocating an ODBC handle");
  }
  return handle{type, h};
}

db_result<SQLHENV> environment() {
  // A function-local static is initialised once even when many threads open
  // their first connection at the same time.
  static const db_result<SQLHENV> env = []() -> db_result<SQLHENV> {
    SQLHANDLE raw = nullptr;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &raw))) {
      return db_error{db_errc::internal, "", "cannot allocate the ODBC environment"};
    }
    auto rc =
        SQLSetEnvAttr(raw, SQL_ATTR_ODBC_VERSION, reinterpret_cast<SQLPOINTER>(SQL_OV_ODBC3), 0);
    if (!SQL_SUCCEEDED(rc)) {
      auto err = make_error(SQL_HANDLE_ENV, raw, std::nullopt, "setting ODBC version 3");
      SQLFreeHandle(SQL_HANDLE_ENV, raw);
      return err;
    }
    return static_cast<SQLHENV>(raw);
  }();
  return env;
}

}  // namespace sb::persistence::odbc
