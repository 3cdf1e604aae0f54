#pragma once

// Reading and editing "Key=Value;Key=Value" ODBC connection strings, and the
// case-insensitive matching that driver and DBMS names need.
// Detail of persistence/ (tests use it to point a string at another database).

#include <optional>
#include <string>
#include <string_view>

namespace sb::persistence::odbc {

/// The value of `key` (case-insensitive) in `cs`, braces removed; nullopt if absent.
std::optional<std::string> attribute(std::string_view cs, std::string_view key);

/// `cs` with `key` set to `value`: replaced where present, appended otherwise.
std::string with_attribute(std::string_view cs, std::string_view key, std::string_view value);

/// Tells whether `haystack` contains `needle`, ignoring ASCII case.
bool contains_ci(std::string_view haystack, std::string_view needle);

}  // namespace sb::persistence::odbc
