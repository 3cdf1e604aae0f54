#pragma once

// Turns ODBC diagnostic records (SQLGetDiagRec) into db_error values.
// Detail of persistence/: SQLSTATEs never leave this layer.

#include "persistence/dialect.hpp"
#include "persistence/result.hpp"

#include <sql.h>
#include <sqlext.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::persistence::odbc {

/// One diagnostic record of a handle.
struct diag_record {
  std::string sqlstate;
  SQLINTEGER native = 0;
  std::string message;
};

/// Reads every diagnostic record a handle holds after a failed call.
std::vector<diag_record> read_diagnostics(SQLSMALLINT type, SQLHANDLE h);

/// Sorts one record into an error class; `d` is the dialect when known.
db_errc classify(const diag_record& record, std::optional<dialect> d);

/// Builds a db_error from records; the message starts with `what`.
db_error to_error(const std::vector<diag_record>& records, std::optional<dialect> d,
                  std::string_view what);

/// Reads a handle's diagnostics into a db_error whose message starts with `what`.
db_error make_error(SQLSMALLINT type, SQLHANDLE h, std::optional<dialect> d, std::string_view what);

}  // namespace sb::persistence::odbc
