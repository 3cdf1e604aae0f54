#include "persistence/odbc/diagnostics.hpp"

#include <catch2/catch.hpp>

using namespace sb::persistence;
using namespace sb::persistence::odbc;

namespace {

db_errc pg(const char* state) {
  return classify({state, 0, "x"}, dialect::postgresql);
}

}  // namespace

TEST_CASE("SQLSTATEs map to the error class a caller can act on") {
  CHECK(pg("08001") == db_errc::unavailable);
  CHECK(pg("08S01") == db_errc::unavailable);
  CHECK(pg("57P01") == db_errc::unavailable);
  CHECK(pg("40001") == db_errc::transient);
  CHECK(pg("40P01") == db_errc::transient);
  CHECK(pg("55P03") == db_errc::transient);
  CHECK(pg("23505") == db_errc::conflict);
  CHECK(pg("23503") == db_errc::conflict);
  CHECK(pg("42601") == db_errc::invalid);
  CHECK(pg("07009") == db_errc::invalid);
  CHECK(pg("22P02") == db_errc::invalid);
  CHECK(pg("HYT00") == db_errc::timeout);
  CHECK(pg("HYT01") == db_errc::timeout);
  CHECK(pg("57014") == db_errc::timeout);
  CHECK(pg("HY000") == db_errc::internal);
  CHECK(pg("25P02") == db_errc::internal);
}

TEST_CASE("SQLite errors are told apart by the SQLite code the driver reports") {
  // The SQLite3 ODBC driver reports HY000 with the SQLite result code as the
  // native error for every engine failure.
  CHECK(classify({"HY000", 5, "database is locked (5)"}, dialect::sqlite) == db_errc::transient);
  CHECK(classify({"HY000", 6, "database table is locked (6)"}, dialect::sqlite) ==
        db_errc::transient);
  CHECK(classify({"HY000", 19, "UNIQUE constraint failed: t.id (19)"}, dialect::sqlite) ==
        db_errc::conflict);
  CHECK(classify({"HY000", 1, "near \"SELEKT\": syntax error (1)"}, dialect::sqlite) ==
        db_errc::invalid);
  CHECK(classify({"HY000", -1, "database is locked"}, dialect::sqlite) == db_errc::transient);
  CHECK(classify({"HY000", 10, "disk I/O error (10)"}, dialect::sqlite) == db_errc::internal);

  // The same native codes mean nothing coming from another driver.
  CHECK(classify({"HY000", 5, "something"}, dialect::postgresql) == db_errc::internal);
}

TEST_CASE("the first record that is not a warning decides the error") {
  std::vector<diag_record> records{{"01004", 0, "truncated"}, {"23505", 7, "duplicate key"}};
  auto err = to_error(records, dialect::postgresql, "executing statement");
  CHECK(err.code == db_errc::conflict);
  CHECK(err.sqlstate == "23505");
  CHECK(err.message == "executing statement: [23505] duplicate key");

  auto none = to_error({}, dialect::sqlite, "x");
  CHECK(none.code == db_errc::internal);
}
