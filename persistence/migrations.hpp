#pragma once

// Versioned schema migrations, applied in order at start-up and recorded in
// the schema_migrations table.

#include "persistence/connection.hpp"

#include <string>
#include <vector>

namespace sb::persistence {

/// One schema step; `ddl` uses the portable notation of render_ddl and may
/// hold several statements separated by ";\n".
struct migration {
  int version;
  std::string name;
  std::string ddl;
};

/// The product's schema, oldest first.
const std::vector<migration>& schema_migrations();

/// Applies every migration newer than the recorded version, each in its own
/// transaction; returns the version the database is at afterwards.
db_result<int> migrate(connection& conn, const std::vector<migration>& steps);

}  // namespace sb::persistence
