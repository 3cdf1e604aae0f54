#pragma once

// Sign-up and login, split into the steps the accounts actor runs on
// different pools: validation and argon2id hashing on the crypto pool, reads
// and writes on the database pool.

#include "actors/api.hpp"
#include "config/settings.hpp"
#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <optional>
#include <string>
#include <variant>

namespace sb::actors::handlers {

/// A validated sign-up with the password already hashed.
struct signup_input {
  std::string email;
  std::string name;
  std::string workspace;
  std::string password_hash;
};

/// Validates a sign-up body and hashes its password (slow: crypto pool).
std::variant<api_response, signup_input> signup_prepare(const api_request& req,
                                                        config::hash_cost cost);

/// Creates the workspace, the user as its owner and a first session (db pool).
api_response signup_store(persistence::connection& conn, const api_request& req,
                          const signup_input& in, const config::settings& settings);

/// A validated login request.
struct login_input {
  std::string email;
  std::string password;
  std::string workspace_id;  ///< Optional: which workspace to open.
};

/// Validates a login body.
std::variant<api_response, login_input> login_parse(const api_request& req);

/// Looks up the user of a login (db pool); nullopt when unknown.
persistence::db_result<std::optional<persistence::user_record>> login_lookup(
    persistence::connection& conn, const login_input& in);

/// Checks the password; with no user, still spends the time of one check so
/// that unknown emails cannot be told apart by timing (crypto pool).
bool login_verify(const login_input& in, const std::optional<persistence::user_record>& user);

/// Opens a session for a verified user (db pool).
api_response login_open_session(persistence::connection& conn, const api_request& req,
                                const persistence::user_record& user, const login_input& in,
                                const config::settings& settings);

}  // namespace sb::actors::handlers
