#pragma once

// Workspaces, users, memberships and login sessions.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace sb::persistence::accounts {

/// Inserts a workspace.
db_status insert_workspace(connection& conn, const workspace_record& ws);

/// Inserts a user; a taken email (compared lowercased) is a conflict.
db_status insert_user(connection& conn, const user_record& user);

/// Finds a user by email, compared lowercased.
db_result<std::optional<user_record>> find_user_by_email(connection& conn, std::string_view email);

/// Adds a user to a workspace; an existing membership is a conflict.
db_status insert_member(connection& conn, const member_record& member);

/// The workspace a login lands in: `workspace_id` if the user is a member of
/// it, otherwise (when empty) the user's oldest membership.
db_result<std::optional<session_view>> membership_for_login(connection& conn,
                                                            const user_record& user,
                                                            std::string_view workspace_id);

/// Lists a workspace's members with their users, oldest first.
db_result<std::vector<member_view>> list_members(connection& conn, std::string_view workspace_id);

/// Stores a new session.
db_status insert_session(connection& conn, const session_record& session);

/// Loads a session that has not expired at `now`, with its user and workspace.
db_result<std::optional<session_view>> find_session(connection& conn, std::string_view token_hash,
                                                    int64_t now);

/// Deletes a session; tells whether it existed.
db_result<bool> delete_session(connection& conn, std::string_view token_hash);

}  // namespace sb::persistence::accounts
