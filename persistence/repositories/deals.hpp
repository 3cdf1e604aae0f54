#pragma once

// Deals of a workspace and the contacts attached to them.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace sb::persistence::deals {

/// Inserts a deal with its contact links.
db_status insert(connection& conn, const deal_record& d);

/// Finds one deal with its contact ids.
db_result<std::optional<deal_record>> find(connection& conn, std::string_view workspace_id,
                                           std::string_view id);

/// Lists deals newest first, optionally only those in `stage`.
db_result<std::vector<deal_record>> list(connection& conn, std::string_view workspace_id,
                                         const page& p, std::string_view stage);

/// Writes `d` (and replaces its contact links) if the stored version is still
/// `expected_version`; returns false when the row moved on or is gone.
db_result<bool> update(connection& conn, const deal_record& d, int64_t expected_version);

/// Deletes a deal; tells whether it existed.
db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id);

}  // namespace sb::persistence::deals
