#include "persistence/dialect.hpp"

#include <algorithm>
#include <array>

namespace sb::persistence {

namespace {

struct type_name {
  std::string_view placeholder;
  std::string_view sqlite;
  std::string_view postgresql;
};

// PostgreSQL compares TEXT by the database's collation; COLLATE "C" makes ids
// and lowercased search keys compare byte-wise, as SQLite's TEXT (BINARY
// collation) always does, so ordering and prefix ranges agree on both.
constexpr std::array<type_name, 5> types{{
    {"key", "TEXT", "TEXT COLLATE \"C\""},
    {"bigint", "BIGINT", "BIGINT"},
    {"real", "REAL", "DOUBLE PRECISION"},
    {"blob", "BLOB", "BYTEA"},
    {"text", "TEXT", "TEXT"},
}};

}  // namespace

const char* to_string(dialect x) {
  switch (x) {
    case dialect::sqlite:
      return "sqlite";
    case dialect::postgresql:
      return "postgresql";
  }
  return "sqlite";
}

std::string render_ddl(dialect d, std::string_view ddl) {
  std::string out;
  out.reserve(ddl.size() + ddl.size() / 4);
  size_t pos = 0;
  while (pos < ddl.size()) {
    auto open = ddl.find('{', pos);
    if (open == std::string_view::npos) {
      break;
    }
    auto close = ddl.find('}', open);
    if (close == std::string_view::npos) {
      break;
    }
    out.append(ddl.substr(pos, open - pos));
    auto name = ddl.substr(open + 1, close - open - 1);
    auto it = std::find_if(types.begin(), types.end(),
                           [&](const type_name& t) { return t.placeholder == name; });
    if (it == types.end()) {
      // Not a placeholder (e.g. a brace inside a literal): keep the brace and
      // look for placeholders right after it.
      out += '{';
      pos = open + 1;
      continue;
    }
    out.append(d == dialect::sqlite ? it->sqlite : it->postgresql);
    pos = close + 1;
  }
  out.append(ddl.substr(std::min(pos, ddl.size())));
  return out;
}

}  // namespace sb::persistence
