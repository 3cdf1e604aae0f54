#pragma once

// CRM contacts of a workspace. Every function is scoped by workspace id, so a
// caller cannot reach another workspace's rows.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace sb::persistence::contacts {

/// Inserts a contact; an email already used in the workspace is a conflict.
db_status insert(connection& conn, const contact_record& c);

/// Finds one contact.
db_result<std::optional<contact_record>> find(connection& conn, std::string_view workspace_id,
                                              std::string_view id);

/// Lists contacts newest first; `query` (lowercased here) matches a prefix of
/// the email, first name or last name.
db_result<std::vector<contact_record>> list(connection& conn, std::string_view workspace_id,
                                            const page& p, std::string_view query);

/// Writes `c` if the stored version is still `expected_version`, bumping the
/// version; returns false when the row moved on or is gone.
db_result<bool> update(connection& conn, const contact_record& c, int64_t expected_version);

/// Deletes a contact; tells whether it existed.
db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id);

/// Returns which of `ids` exist in the workspace.
db_result<std::vector<std::string>> existing(connection& conn, std::string_view workspace_id,
                                             const std::vector<std::string>& ids);

}  // namespace sb::persistence::contacts
