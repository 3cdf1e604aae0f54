#include "persistence/connection_pool.hpp"

#include <utility>

namespace sb::persistence {

// -- lease ----------------------------------------------------------------------

connection_pool::lease::lease(connection_pool* owner, std::unique_ptr<connection> conn)
    : owner_(owner), conn_(std::move(conn)) {}

connection_pool::lease::lease(lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), conn_(std::move(other.conn_)) {}

connection_pool::lease::~lease() {
  if (owner_ != nullptr && conn_ != nullptr) {
    owner_->give_back(std::move(conn_));
  }
}

// -- connection_pool ----------------------------------------------------------------

connection_pool::connection_pool(pool_options options) : options_(std::move(options)) {}

db_result<connection_pool::lease> connection_pool::acquire() {
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    // Reuse the most recently returned connection: it is the likeliest to
    // be alive, and the others can age out on the server side undisturbed.
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      guard.unlock();

      // A connection idle for long may have been cut by the server or a
      // firewall meanwhile: check it with a round trip before handing it out.
      auto idle_for = std::chrono::steady_clock::now() - conn->last_activity();
      if (idle_for <= options_.idle_check || conn->ping()) {
        return lease{this, std::move(conn)};
      }
      conn.reset();
      guard.lock();
      --open_;
      continue;
    }

    // Open a new one while below the bound; the slot is taken before the
    // (slow) connect so that concurrent callers cannot overshoot.
    if (open_ < options_.max_size) {
      ++open_;
      guard.unlock();
      auto conn = connection::open(options_.connection_string, options_.login_timeout);
      guard.lock();
      if (!conn) {
        --open_;
        cv_.notify_one();
        return conn.error();
      }
      dialect_ = (*conn)->dialect();
      return lease{this, std::move(*conn)};
    }

    ++waiting_;
    auto status = cv_.wait_until(guard, deadline);
    --waiting_;
    if (status == std::cv_status::timeout && idle_.empty() && open_ >= options_.max_size) {
      return db_error{db_errc::unavailable, "",
                      "no free connection within " +
                          std::to_string(options_.acquire_timeout.count()) + " ms (pool of " +
                          std::to_string(options_.max_size) + ")"};
    }
  }
}

dialect connection_pool::dialect() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return dialect_;
}

size_t connection_pool::open_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return open_;
}

size_t connection_pool::waiting_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiting_;
}

void connection_pool::give_back(std::unique_ptr<connection> conn) {
  // A lease dropped mid-transaction must not hand its open transaction to
  // the next borrower.
  if (conn->in_transaction()) {
    conn->rollback();
  }
  bool keep = !conn->broken();
  if (!keep) {
    conn.reset();  // Disconnect outside the lock.
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
}

}  // namespace sb::persistence
