#pragma once

// Small helpers the repositories share; not for use outside persistence/.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace sb::persistence::detail {

/// ASCII-lowercases `x`; search keys and emails are compared this way.
// TODO: non-ASCII letters keep their case ("École" is not found by "école");
// Unicode case folding needs ICU or a folding table, neither of which is in.
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

/// Appends "newest first, below the cursor" to a query on `id`.
inline void add_page(std::string& sql, std::vector<param>& params, const page& p) {
  if (!p.before_id.empty()) {
    sql += " AND id < ?";
    params.emplace_back(p.before_id);
  }
  sql += " ORDER BY id DESC LIMIT " + std::to_string(p.limit);
}

/// Turns every row of `rows` into a record with `read`.
template <class Read>
auto read_all(db_result<std::vector<row>> rows, Read read)
    -> db_result<std::vector<decltype(read(std::declval<const row&>()))>> {
  using record = decltype(read(std::declval<const row&>()));
  if (!rows) {
    return rows.error();
  }
  std::vector<record> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    out.push_back(read(r));
  }
  return out;
}

/// Turns the first row of `rows`, if any, into a record with `read`.
template <class Read>
auto read_first(db_result<std::vector<row>> rows, Read read)
    -> db_result<std::optional<decltype(read(std::declval<const row&>()))>> {
  using record = decltype(read(std::declval<const row&>()));
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<record>{};
  }
  return std::optional<record>{read(rows->front())};
}

/// Tells whether a write touched any row.
inline db_result<bool> touched(const db_result<int64_t>& res) {
  if (!res) {
    return res.error();
  }
  return *res > 0;
}

}  // namespace sb::persistence::detail
