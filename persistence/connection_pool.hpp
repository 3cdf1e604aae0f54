#pragma once

// A bounded, thread-safe pool of ODBC connections. Blocking: callers are the
// blocking workers, never scheduler or Asio threads.

#include "persistence/connection.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sb::persistence {

/// Settings of a connection pool.
struct pool_options {
  std::string connection_string;
  size_t max_size = 4;                              ///< Connections open at most.
  std::chrono::seconds login_timeout{5};            ///< Per connect attempt.
  std::chrono::milliseconds acquire_timeout{5000};  ///< Waiting for a free one.
  std::chrono::milliseconds idle_check{30000};      ///< Ping before lending one idle this long.
};

/// Hands out connections, opens them lazily, drops broken ones.
class connection_pool {
 public:
  /// A checked-out connection; returns to the pool when destroyed.
  class lease {
   public:
    lease(connection_pool* owner, std::unique_ptr<connection> conn);
    lease(lease&&) noexcept;
    lease& operator=(lease&&) = delete;
    ~lease();
    connection& operator*() const { return *conn_; }
    connection* operator->() const { return conn_.get(); }

   private:
    connection_pool* owner_;
    std::unique_ptr<connection> conn_;
  };

  explicit connection_pool(pool_options options);

  /// Borrows a connection, opening one if none is idle and the pool is not
  /// full; waits up to acquire_timeout otherwise.
  db_result<lease> acquire();

  /// The dialect of the configured database (known after the first connect).
  persistence::dialect dialect() const;

  /// Connections currently open (idle and leased).
  size_t open_count() const;

  /// Callers currently waiting for a free connection (a saturation signal).
  size_t waiting_count() const;

 private:
  void give_back(std::unique_ptr<connection> conn);

  pool_options options_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<connection>> idle_;
  size_t open_ = 0;
  size_t waiting_ = 0;
  persistence::dialect dialect_ = persistence::dialect::sqlite;
};

}  // namespace sb::persistence
