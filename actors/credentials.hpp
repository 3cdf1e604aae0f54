#pragma once

// Secrets and identifiers: bearer tokens (only their hash is stored), argon2id
// password hashes, and time-ordered entity ids.

#include "config/settings.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::actors {

/// A new bearer token: 32 random bytes, base64url without padding.
std::string new_token();

/// The SHA-256 of a token as lowercase hex; what the database stores.
std::string token_hash(std::string_view token);

/// Hashes a password with argon2id at the given cost. Slow on purpose: call
/// it on a blocking worker only. Returns nullopt if memory ran out.
std::optional<std::string> hash_password(std::string_view password, config::hash_cost cost);

/// Checks a password against a stored argon2id hash (slow, blocking worker).
bool verify_password(std::string_view password, const std::string& stored);

/// A new id: `prefix` + "_" + 26 Crockford base32 characters, the first ten
/// from the millisecond clock, so ids sort by creation time.
std::string new_id(std::string_view prefix);

/// Milliseconds since the Unix epoch.
int64_t now_ms();

/// Formats Unix milliseconds as RFC 3339 UTC, e.g. "2026-12-04T13:05:00.123Z".
std::string rfc3339(int64_t ms);

/// Compares two secrets in constant time with respect to their contents.
bool equal_secrets(std::string_view a, std::string_view b);

}  // namespace sb::actors
