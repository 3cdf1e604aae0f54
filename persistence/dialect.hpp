#pragma once

// The SQL dialects Switchboard runs on, and every difference between them
// that the schema and the queries need, kept in this one place.

#include <string>
#include <string_view>

namespace sb::persistence {

/// The database behind a connection.
enum class dialect { sqlite, postgresql };

/// Names the dialect ("sqlite", "postgresql").
const char* to_string(dialect x);

/// Rewrites the portable schema notation in `ddl` for `d`:
///   {key}    text compared byte-wise, for ids and lowercased search keys
///            (PostgreSQL: TEXT COLLATE "C", SQLite: TEXT)
///   {bigint} 64-bit integer;  {real} double;  {blob} binary
///   {text}   ordinary text
std::string render_ddl(dialect d, std::string_view ddl);

}  // namespace sb::persistence
