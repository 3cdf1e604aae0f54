#pragma once

// Small helpers the repositories share; not for use outside persistence/.

#include "persistence/connection.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace sb::persistence::detail {

/// ASCII-lowercases `x`; search keys and emails are compared this way.
inline std::string lower(std::string_view x) {
  std::string out{x};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// Lowercases an optional text, keeping NULL.
inline param lower_or_null(const std::optional<std::string>& x) {
  return x ? param{lower(*x)} : param{};
}

/// Drops the row count of a write.
inline db_status status_of(const db_result<int64_t>& res) {
  if (!res) {
    return res.error();
  }
  return done{};
}

/// The smallest text greater than every text starting with `prefix`, for
/// index-friendly prefix ranges (col >= prefix AND col < upper).
inline std::string prefix_upper_bound(const std::string& prefix) {
  return prefix + "\xf4\x8f\xbf\xbf";  // U+10FFFF, the largest code point.
}

}  // namespace sb::persistence::detail
