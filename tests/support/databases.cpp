#include "tests/support/databases.hpp"

#include "persistence/migrations.hpp"
#include "persistence/odbc/connection_string.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <vector>

namespace sb::testing {

namespace {

namespace fs = std::filesystem;

// Removes the temporary SQLite directories when the test program exits.
class temp_dirs {
 public:
  void add(fs::path p) {
    std::lock_guard<std::mutex> guard{mtx_};
    dirs_.push_back(std::move(p));
  }

  ~temp_dirs() {
    for (const auto& d : dirs_) {
      std::error_code ignored;
      fs::remove_all(d, ignored);
    }
  }

 private:
  std::mutex mtx_;
  std::vector<fs::path> dirs_;
};

temp_dirs& sqlite_dirs() {
  static temp_dirs dirs;
  return dirs;
}

std::string random_suffix() {
  static std::mutex mtx;
  static std::mt19937_64 gen{std::random_device{}()};
  std::lock_guard<std::mutex> guard{mtx};
  const char* digits = "0123456789abcdef";
  std::string out;
  auto x = gen();
  for (int i = 0; i < 12; ++i, x >>= 4) {
    out += digits[x & 0xf];
  }
  return out;
}

}  // namespace

std::string temp_sqlite_database() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string{tmp != nullptr && *tmp != '\0' ? tmp : "/tmp"} + "/sb-sqlite-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    FAIL("cannot create a temporary directory from " << pattern);
  }
  sqlite_dirs().add(pattern);
  return "Driver=SQLite3;Database=" + pattern + "/test.db";
}

std::string postgres_server() {
  const char* cs = std::getenv("SB_TEST_POSTGRES");
  if (cs == nullptr || *cs == '\0') {
    FAIL(
        "SB_TEST_POSTGRES is not set, so the PostgreSQL variant cannot run: run the tests "
        "with ./scripts/test, which starts a throwaway PostgreSQL and sets it");
  }
  return cs;
}

std::unique_ptr<persistence::connection> connect(const std::string& connection_string) {
  auto conn = persistence::connection::open(connection_string, std::chrono::seconds{10});
  if (!conn) {
    FAIL("cannot connect (" << persistence::to_string(conn.error().code)
                            << "): " << conn.error().message);
  }
  return std::move(*conn);
}

std::string closed_port_postgres() {
  // Bind port 0 to learn a free port, then close it: nothing listens there.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  REQUIRE(ok);
  return "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=" + std::to_string(ntohs(addr.sin_port)) +
         ";Database=postgres;Uid=nobody;Pwd=x";
}

temp_postgres_database::temp_postgres_database() {
  auto server = postgres_server();
  admin_ = connect(server);
  REQUIRE(admin_->dialect() == persistence::dialect::postgresql);

  // A database name cannot be a bound parameter; this one is made of
  // [a-z0-9_] only, so splicing it in is safe.
  name_ = "sb_test_" + random_suffix();
  auto created = admin_->execute("CREATE DATABASE " + name_);
  if (!created) {
    FAIL("CREATE DATABASE " << name_ << " failed: " << created.error().message);
  }
  connection_string_ = persistence::odbc::with_attribute(server, "Database", name_);
}

temp_postgres_database::~temp_postgres_database() {
  // FORCE ends sessions a failed test left open (PostgreSQL 13 and later).
  auto dropped = admin_->execute("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  if (!dropped) {
    std::cerr << "warning: cannot drop test database " << name_ << ": " << dropped.error().message
              << '\n';
  }
}

const char* to_string(database_kind k) {
  return k == database_kind::sqlite ? "sqlite" : "postgresql";
}

Catch::Generators::GeneratorWrapper<database_kind> each_database() {
  return Catch::Generators::values({database_kind::sqlite, database_kind::postgresql});
}

test_database::test_database(database_kind kind) : kind_(kind) {
  if (kind == database_kind::sqlite) {
    connection_string_ = temp_sqlite_database();
    return;
  }
  postgres_.emplace();
  connection_string_ = postgres_->connection_string();
}

migrated_database::migrated_database(database_kind kind)
    : db(kind), conn(connect(db.connection_string())) {
  require_ok(persistence::migrate(*conn, persistence::schema_migrations()));
}

void migrated_database::add_workspace(const std::string& id, const std::string& name,
                                      int64_t created_at) {
  require_ok(conn->execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                           {id, name, created_at}));
}

void migrated_database::add_user(const std::string& id) {
  auto email = id + "@example.com";
  require_ok(
      conn->execute("INSERT INTO users (id, email, email_lc, name, password_hash, created_at) "
                    "VALUES (?, ?, ?, 'A', 'x', 0)",
                    {id, email, email}));
}

std::string query_plan(persistence::connection& conn, const std::string& sql) {
  std::string out;
  if (conn.dialect() == persistence::dialect::postgresql) {
    require_ok(conn.execute("SET enable_seqscan = off"));
    for (const auto& r : require_ok(conn.query("EXPLAIN " + sql))) {
      out += r.text(0) + "\n";
    }
  } else {
    for (const auto& r : require_ok(conn.query("EXPLAIN QUERY PLAN " + sql))) {
      out += r.text(3) + "\n";
    }
  }
  return out;
}

}  // namespace sb::testing
