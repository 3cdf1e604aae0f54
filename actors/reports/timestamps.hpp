#pragma once

// Points in time as clients send them: RFC 3339 text or Unix milliseconds.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace sb::actors::reports {

/// Parses RFC 3339 date-time text ("2026-12-04T13:05:00Z", fraction and
/// numeric offset allowed) or a full date ("2026-12-04", midnight UTC) into
/// Unix ms; nullopt when malformed or not a real date.
std::optional<int64_t> parse_rfc3339(std::string_view text);

/// Reads a timestamp field: RFC 3339 text (see parse_rfc3339) or an integer
/// of Unix ms from 0 up to year 9999; nullopt otherwise.
std::optional<int64_t> read_timestamp(const nlohmann::json& value);

}  // namespace sb::actors::reports
