#include "persistence/migrations.hpp"

#include "observability/log.hpp"

#include <chrono>

namespace sb::persistence {

namespace {

// Key of the PostgreSQL advisory lock that serialises migrators; every
// Switchboard process must use the same one ("SBMG" in ASCII).
constexpr int64_t migration_lock_key = 0x53424d47;

constexpr std::string_view create_table_sql =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

// Whole-step transactions retried this often on transient errors (a busy
// SQLite database, a PostgreSQL deadlock with the application's own work).
constexpr int step_attempts = 5;

int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

db_error with_context(db_error err, std::string_view context) {
  err.message = std::string{context} + ": " + err.message;
  return err;
}

// Takes the migration lock for the rest of the open transaction, so that a
// second migrator waits here and then sees what the first one recorded.
db_status lock_migrations(connection& c) {
  if (c.dialect() == dialect::postgresql) {
    auto rows = c.query("SELECT pg_advisory_xact_lock(?)", {migration_lock_key});
    if (!rows) {
      return rows.error();
    }
    return done{};
  }

  // The SQLite ODBC driver opens transactions with a deferred BEGIN. A write
  // that changes nothing takes SQLite's single write lock now, waiting out a
  // concurrent migrator with the busy timeout: the effect of BEGIN IMMEDIATE.
  auto res = c.execute("UPDATE schema_migrations SET version = version WHERE version < 0");
  if (!res) {
    return res.error();
  }
  return done{};
}

db_result<int> recorded_version(connection& c) {
  auto rows = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return 0;
  }
  return static_cast<int>(rows->front().int64(0));
}

db_status create_table(connection& conn) {
  if (conn.dialect() == dialect::postgresql) {
    // Two concurrent CREATE TABLE IF NOT EXISTS can both miss the table and
    // one then fails on a catalog unique index; the lock orders them.
    return in_transaction(conn, [](connection& c) -> db_status {
      if (auto st = lock_migrations(c); !st) {
        return st;
      }
      return c.execute_script(create_table_sql);
    });
  }
  // SQLite's CREATE takes the write lock itself and re-checks IF NOT EXISTS
  // once it has it.
  return with_retry([&conn] { return conn.execute_script(create_table_sql); });
}

db_status check_steps(const std::vector<migration>& steps) {
  int last = 0;
  for (const auto& s : steps) {
    if (s.version <= last) {
      return db_error{db_errc::invalid, "",
                      "migration versions must be positive and ascending; " +
                          std::to_string(s.version) + " (" + s.name + ") comes after " +
                          std::to_string(last)};
    }
    last = s.version;
  }
  return done{};
}

db_error too_new(int recorded, int newest) {
  return db_error{db_errc::invalid, "",
                  "database schema is at version " + std::to_string(recorded) +
                      ", newer than the newest migration this build knows (" +
                      std::to_string(newest) + "); refusing to run against it"};
}

// Applies one step in its own transaction unless another migrator got there
// first; returns the version recorded afterwards.
db_result<int> apply(connection& conn, const migration& step) {
  auto body = [&step](connection& c) -> db_result<int> {
    if (auto st = lock_migrations(c); !st) {
      return st.error();
    }
    auto current = recorded_version(c);
    if (!current || *current >= step.version) {
      return current;
    }
    if (auto st = c.execute_script(render_ddl(c.dialect(), step.ddl)); !st) {
      return st.error();
    }
    auto ins =
        c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                  {int64_t{step.version}, step.name, unix_now()});
    if (!ins) {
      return ins.error();
    }
    SB_LOG(persistence, info, {}, "applied migration version={} name={}", step.version, step.name);
    return step.version;
  };
  auto res = in_transaction(conn, body, step_attempts);
  if (!res && res.error().code == db_errc::conflict) {
    // Only reachable if a migrator without the lock recorded the same
    // version: the primary key kept the step single, so take its word.
    return with_retry([&conn] { return recorded_version(conn); });
  }
  return res;
}

}  // namespace

db_result<int> migrate(connection& conn, const std::vector<migration>& steps) {
  if (conn.in_transaction()) {
    return db_error{db_errc::invalid, "", "migrate needs a connection outside a transaction"};
  }
  if (auto st = check_steps(steps); !st) {
    return st.error();
  }
  if (auto st = create_table(conn); !st) {
    return with_context(st.error(), "creating schema_migrations");
  }

  const int newest = steps.empty() ? 0 : steps.back().version;
  auto current = with_retry([&conn] { return recorded_version(conn); });
  if (!current) {
    return with_context(current.error(), "reading the schema version");
  }
  if (*current > newest) {
    return too_new(*current, newest);
  }

  for (const auto& step : steps) {
    if (step.version <= *current) {
      continue;
    }
    auto res = apply(conn, step);
    if (!res) {
      return with_context(res.error(),
                          "migration " + std::to_string(step.version) + " (" + step.name + ")");
    }
    current = *res;
    if (*current > newest) {
      // A newer build migrated while this one waited for the lock.
      return too_new(*current, newest);
    }
  }
  return current;
}

}  // namespace sb::persistence
