// The set-based contact upsert of an import on both databases: new emails
// are inserted, changed ones updated with a new version, identical ones left
// alone, and a later row for an email wins.

#include "persistence/repositories/contact_import.hpp"

#include "persistence/migrations.hpp"
#include "persistence/repositories/contacts.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace sb::persistence;
using namespace sb::persistence::contact_import;
using sb::testing::connect;
using sb::testing::database_kind;
using sb::testing::each_database;
using sb::testing::require_ok;
using sb::testing::test_database;

namespace {

constexpr int64_t t0 = 1'700'000'000'000;  // Unix ms.

struct import_db : sb::testing::migrated_database {
  explicit import_db(database_kind kind) : migrated_database(kind) {
    add_workspace("ws_1");
    add_workspace("ws_2");
  }
};

contact_record person(const std::string& id, const std::string& email, opt_text first = {},
                      opt_text company = {}) {
  contact_record c;
  c.id = id;
  c.email = email;
  c.first_name = std::move(first);
  c.company = std::move(company);
  return c;
}

// Stages `rows` and merges them into `ws` in one transaction.
merge_counts import(connection& c, const std::vector<contact_record>& rows,
                    const std::string& ws = "ws_1", int64_t now = t0) {
  require_ok(begin_staging(c));
  require_ok(stage(c, rows));
  auto counts = require_ok(in_transaction(c, [&](connection& tx) { return merge(tx, ws, now); }));
  end_staging(c);
  return counts;
}

std::vector<contact_record> stored(connection& c, const std::string& ws = "ws_1") {
  return require_ok(contacts::list(c, ws, page{1000, {}}, ""));
}

const contact_record* by_email(const std::vector<contact_record>& rows, const std::string& lc) {
  for (const auto& r : rows) {
    if (r.email == lc) {
      return &r;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("contact import inserts new emails, then finds nothing to change on a second run") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  std::vector<contact_record> rows = {person("ct_1", "ada@example.com", "Ada", "Engines"),
                                      person("ct_2", "grace@example.com", "Grace")};

  auto first = import(c, rows);
  CHECK(first.inserted == 2);
  CHECK(first.updated == 0);
  CHECK(first.unchanged == 0);
  auto after = stored(c);
  REQUIRE(after.size() == 2);
  auto ada = by_email(after, "ada@example.com");
  REQUIRE(ada);
  CHECK(ada->id == "ct_1");
  CHECK(ada->first_name == "Ada");
  CHECK(ada->company == "Engines");
  CHECK_FALSE(ada->last_name);
  CHECK(ada->version == 1);
  CHECK(ada->created_at == t0);

  // The same rows again, with new candidate ids: nothing is written.
  rows[0].id = "ct_3";
  rows[1].id = "ct_4";
  auto second = import(c, rows, "ws_1", t0 + 1000);
  CHECK(second.inserted == 0);
  CHECK(second.updated == 0);
  CHECK(second.unchanged == 2);
  for (const auto& r : stored(c)) {
    CHECK(r.version == 1);
    CHECK(r.updated_at == t0);
  }
}

TEST_CASE("contact import updates changed contacts, matching emails case-insensitively") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  import(c, {person("ct_1", "ada@example.com", "Ada", "Engines"),
             person("ct_2", "grace@example.com", "Grace", "Navy"),
             person("ct_3", "alan@example.com", "Alan")});

  // A new first name; an absent company keeps the stored one; a new case
  // of the email is a change too; the last row is as stored.
  auto counts = import(c,
                       {person("ct_4", "ada@example.com", "Augusta"),
                        person("ct_5", "GRACE@example.com", "Grace", "Navy"),
                        person("ct_6", "alan@example.com", "Alan")},
                       "ws_1", t0 + 1000);
  CHECK(counts.inserted == 0);
  CHECK(counts.updated == 2);
  CHECK(counts.unchanged == 1);

  auto after = stored(c);
  REQUIRE(after.size() == 3);
  auto ada = by_email(after, "ada@example.com");
  REQUIRE(ada);
  CHECK(ada->first_name == "Augusta");
  CHECK(ada->company == "Engines");
  CHECK(ada->version == 2);
  CHECK(ada->updated_at == t0 + 1000);
  auto grace = by_email(after, "GRACE@example.com");
  REQUIRE(grace);
  CHECK(grace->id == "ct_2");
  CHECK(grace->version == 2);
  auto alan = by_email(after, "alan@example.com");
  REQUIRE(alan);
  CHECK(alan->version == 1);

  // Search keys follow the new names.
  CHECK(require_ok(contacts::list(c, "ws_1", page{10, {}}, "aug")).size() == 1);
}

TEST_CASE("contact import lets the last row of an email win, within and across batches") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  std::vector<contact_record> rows;
  rows.push_back(person("ct_a1", "dup@example.com", "First"));
  rows.push_back(person("ct_a2", "DUP@example.com", "Second"));
  for (int i = 0; i < 1200; ++i) {
    char id[32];
    char email[64];
    std::snprintf(id, sizeof id, "ct_%05d", i);
    std::snprintf(email, sizeof email, "p%05d@example.com", i);
    rows.push_back(person(id, email, "P"));
  }
  rows.push_back(person("ct_a3", "Dup@Example.com", "Last"));

  auto counts = import(c, rows);
  CHECK(counts.inserted == 1201);
  CHECK(counts.updated == 0);
  CHECK(counts.unchanged == 0);
  auto dup = require_ok(contacts::list(c, "ws_1", page{10, {}}, "dup@"));
  REQUIRE(dup.size() == 1);
  CHECK(dup[0].email == "Dup@Example.com");
  CHECK(dup[0].first_name == "Last");
}

TEST_CASE("contact import stores any text a CSV field may hold") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  const std::string odd = "Zo\xC3\xAB \"Q\" back\\slash\ttab\r\nline \x01 \xE2\x82\xAC";
  auto row = person("ct_1", "odd@example.com", odd, "Comma, Inc");
  row.last_name = "O'Brien";
  row.phone = "+1 (555) 010-0000";
  row.lifecycle_stage = "lead";
  CHECK(import(c, {row}).inserted == 1);
  auto got = stored(c).at(0);
  CHECK(got.first_name == odd);
  CHECK(got.last_name == "O'Brien");
  CHECK(got.company == "Comma, Inc");
  CHECK(got.phone == "+1 (555) 010-0000");
  CHECK(got.lifecycle_stage == "lead");
  CHECK(import(c, {row}).unchanged == 1);
}

TEST_CASE("contact import touches only its own workspace") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  import(c, {person("ct_1", "ada@example.com", "Ada")}, "ws_2");

  auto counts = import(c, {person("ct_2", "ada@example.com", "Other")}, "ws_1");
  CHECK(counts.inserted == 1);
  CHECK(stored(c, "ws_1").at(0).first_name == "Other");
  CHECK(stored(c, "ws_2").at(0).first_name == "Ada");
  CHECK(stored(c, "ws_2").at(0).version == 1);
}

TEST_CASE("contact import merged in a rolled-back transaction leaves no trace") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  import_db t{kind};
  auto& c = *t.conn;
  require_ok(begin_staging(c));
  require_ok(stage(c, {person("ct_1", "ada@example.com")}));
  require_ok(c.begin());
  CHECK(require_ok(merge(c, "ws_1", t0)).inserted == 1);
  c.rollback();
  end_staging(c);
  CHECK(stored(c).empty());

  // The staging table starts empty again on the same connection.
  require_ok(begin_staging(c));
  auto counts = require_ok(in_transaction(c, [](connection& tx) { return merge(tx, "ws_1", t0); }));
  CHECK(counts.inserted + counts.updated + counts.unchanged == 0);
}
