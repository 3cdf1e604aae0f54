#pragma once

// Bulk upsert of contacts by email, set-based: the rows of an import are
// staged in a temporary table on the connection (a later row for an email
// replaces an earlier one), then one UPDATE and one INSERT merge them into
// the workspace's contacts. A row whose values are all stored already is
// not written, so its version stays.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace sb::persistence::contact_import {

/// What a merge did, in rows.
struct merge_counts {
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t unchanged = 0;
};

/// Makes the connection's staging table exist and empty. Call it outside a
/// transaction, before staging anything.
db_status begin_staging(connection& conn);

/// Stages contacts (id, email and the writable fields of each record; the id
/// is used only if the contact is new). For an email (compared
/// case-insensitively) staged before, the later record replaces it.
db_status stage(connection& conn, const std::vector<contact_record>& rows);

/// Merges the staged rows into the contacts of `workspace_id`: a new email is
/// inserted; a known one is updated where the staged row differs (an absent
/// field keeps the stored value) with its version bumped; the rest is left
/// alone. Meant to run inside the caller's transaction.
db_result<merge_counts> merge(connection& conn, std::string_view workspace_id, int64_t now);

/// Empties the staging table; call it when done, whatever happened.
void end_staging(connection& conn);

}  // namespace sb::persistence::contact_import
