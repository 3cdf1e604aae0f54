// The product schema: it applies on both databases, and every list and
// filter the repositories run is served by an index, not a table scan.

#include "persistence/migrations.hpp"
#include "tests/support/databases.hpp"

#include <catch2/catch.hpp>

using namespace sb::persistence;
using namespace sb::testing;

namespace {

// The shapes of the repositories' list, search and lookup queries.
const std::vector<std::string> hot_queries = {
    // contacts: list, search by prefix, lookup by email
    "SELECT id FROM contacts WHERE workspace_id = 'w' AND id < 'z' ORDER BY id DESC LIMIT 51",
    "SELECT id FROM contacts WHERE workspace_id = 'w' AND ((email_lc >= 'gr' AND email_lc < 'gs')"
    " OR (first_lc >= 'gr' AND first_lc < 'gs') OR (last_lc >= 'gr' AND last_lc < 'gs'))"
    " ORDER BY id DESC LIMIT 51",
    "SELECT id FROM contacts WHERE workspace_id = 'w' AND email_lc = 'a@example.com'",
    // deals: list, filter by stage, links
    "SELECT id FROM deals WHERE workspace_id = 'w' ORDER BY id DESC LIMIT 51",
    "SELECT id FROM deals WHERE workspace_id = 'w' AND stage = 'closedwon' AND id < 'z'"
    " ORDER BY id DESC LIMIT 51",
    "SELECT deal_id FROM deal_contacts WHERE deal_id IN ('a', 'b') ORDER BY deal_id, position",
    "SELECT deal_id FROM deal_contacts WHERE contact_id = 'c'",
    // videos: list, filter by status
    "SELECT id FROM videos WHERE workspace_id = 'w' AND status = 'ready' ORDER BY id DESC LIMIT 51",
    // accounts: sessions, logins, memberships
    "SELECT user_id FROM sessions WHERE token_hash = 'h' AND expires_at > 0",
    "SELECT id FROM users WHERE email_lc = 'a@example.com'",
    "SELECT workspace_id FROM members WHERE user_id = 'u' ORDER BY created_at LIMIT 1",
    "SELECT user_id FROM members WHERE workspace_id = 'w' ORDER BY created_at",
};

}  // namespace

TEST_CASE("the schema applies once and every hot query uses an index") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  auto conn = connect(db.connection_string());
  auto version = require_ok(migrate(*conn, schema_migrations()));
  CHECK(version == schema_migrations().back().version);
  CHECK(require_ok(migrate(*conn, schema_migrations())) == version);

  for (const auto& sql : hot_queries) {
    auto plan = query_plan(*conn, sql);
    INFO(sql << "\n" << plan);
    if (kind == database_kind::sqlite) {
      // "SCAN t" is a full table scan; "SEARCH t USING INDEX" is not.
      CHECK(plan.find("SCAN ") == std::string::npos);
    } else {
      CHECK(plan.find("Seq Scan") == std::string::npos);
    }
  }
}
