#pragma once

// Internal to gateway/: what the listener and the sessions of one server
// share. Nothing outside gateway/*.cpp includes this.

#include "actors/api.hpp"
#include "gateway/server.hpp"
#include "observability/metrics.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace sb::gateway::detail {

namespace net = boost::asio;

/// Lets threads outside Asio post into the server only while its io_context
/// lives: reply handles and event sinks can outlive the server.
class post_gate {
 public:
  /// Runs `fn` (returning bool) under the gate if it is open; false otherwise.
  template <class Fn>
  bool run_if_open(Fn&& fn) {
    std::shared_lock lock{mtx_};
    return open_ && fn();
  }

  /// Closes the gate; waits for running `run_if_open` calls to finish.
  void close() {
    std::unique_lock lock{mtx_};
    open_ = false;
  }

 private:
  std::shared_mutex mtx_;
  bool open_ = true;
};

/// A connection the server asks to wind down when it stops.
class tracked_session {
 public:
  virtual ~tracked_session() = default;

  /// Idle HTTP closes, busy HTTP closes after its response, WebSocket sends
  /// 1001. Callable from any thread.
  virtual void shutdown() = 0;
};

/// State shared by the listener and every session of one server.
class server_state {
 public:
  server_state(server_options opts, actors::api_service& svc);

  /// Registers a live session so that stop() can reach it.
  void track(const std::shared_ptr<tracked_session>& s);

  /// Forgets a session; called from its destructor.
  void untrack(tracked_session* s);

  /// Calls shutdown() on every live session.
  void shutdown_all();

  /// Waits until no session is left or `deadline` passes; true if none is left.
  bool wait_until_empty(std::chrono::steady_clock::time_point deadline);

  const server_options options;
  actors::api_service& service;
  std::atomic<bool> stopping{false};
  const std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();

  observability::gauge& http_connections;
  observability::gauge& ws_clients;
  observability::counter& ws_slow_closes;

 private:
  std::mutex mtx_;
  std::condition_variable empty_;
  std::unordered_map<tracked_session*, std::weak_ptr<tracked_session>> sessions_;
};

/// Starts serving HTTP on an accepted connection.
void start_http_session(net::ip::tcp::socket socket, std::shared_ptr<server_state> state);

}  // namespace sb::gateway::detail
