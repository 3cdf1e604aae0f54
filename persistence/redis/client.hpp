#pragma once

// An asynchronous Redis client: a bounded pool of pipelined connections
// driven by one I/O thread of its own, so no caller ever blocks on Redis.
//
// Completion handlers run on the client's I/O thread. They must return
// quickly and must not block; an actor or an Asio strand that wants the reply
// must hop back itself (send a message, post to its executor). A handler may
// issue further commands but must not destroy the client. Pub/sub is not
// supported.

#include "persistence/redis/reply.hpp"
#include "persistence/redis/url.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sb::persistence {

/// Settings of a Redis client.
struct redis_options {
  size_t connections = 2;                           ///< Connections in the pool, at least 1.
  std::chrono::milliseconds command_timeout{200};   ///< From command() to the reply.
  std::chrono::milliseconds connect_timeout{1000};  ///< Connect, AUTH and SELECT together.
  std::chrono::milliseconds backoff_initial{50};    ///< First reconnect delay (before jitter).
  std::chrono::milliseconds backoff_max{2000};      ///< Longest reconnect delay.
  int max_timeouts_in_a_row = 3;                    ///< Then reconnect that connection; 0: never.
  uint64_t jitter_seed = 0;                         ///< 0 seeds from std::random_device.
};

/// Sends commands to one Redis server over a pool of async connections.
class redis_client {
 public:
  /// Called once per command with its reply or error, on the client's I/O thread.
  using handler = std::function<void(redis_reply)>;

  /// Starts the I/O thread and begins connecting; never blocks on the network.
  redis_client(redis_endpoint endpoint, redis_options options = {});

  /// Stops the I/O thread; commands still in flight complete with `unavailable`.
  ~redis_client();

  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Queues one command, e.g. {"SET", "k", "v"}, and returns at once. `done` runs
  /// exactly once: with the reply, with `timeout` after command_timeout (a late
  /// reply is dropped), or with `unavailable` at once when no connection is up.
  /// SELECT, MONITOR and (P)SUBSCRIBE are refused with `protocol`: they would
  /// change the state of a pooled connection.
  void command(std::vector<std::string> args, handler done);

  /// How many pooled connections are connected and logged in right now.
  size_t connected() const;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sb::persistence
