#pragma once

// The HTTP/1.1 and WebSocket front door. It parses, limits and routes
// requests, answers protocol errors itself, and hands every routed request to
// an actors::api_service. Beast stays inside gateway/*.cpp.

#include "actors/api.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace sb::gateway {

/// Listener and protocol limits.
struct server_options {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;                              ///< 0 picks a free port.
  size_t threads = 1;                                ///< Asio threads.
  size_t body_limit = 1024 * 1024;                   ///< Larger bodies get 413.
  size_t large_body_limit = 16 * 1024 * 1024;        ///< The same for batch routes.
  uint64_t upload_limit = 100 * 1024 * 1024;         ///< The same for streamed uploads.
  size_t header_limit = 16 * 1024;                   ///< Larger header blocks get 431.
  size_t url_limit = 8 * 1024;                       ///< Longer targets get 414.
  std::chrono::milliseconds read_timeout{10000};     ///< A request must arrive within this.
  std::chrono::milliseconds idle_timeout{60000};     ///< Keep-alive connections idle out.
  std::chrono::milliseconds handler_timeout{30000};  ///< No reply by then: 504.
  size_t ws_queue_limit = 256;                       ///< Frames queued per client before 1013.
  std::chrono::milliseconds ws_ping_interval{20000};
};

/// Runs the listener on its own Asio threads.
class server {
 public:
  server(server_options options, actors::api_service& service);
  ~server();

  /// Binds and starts accepting; returns the bound port or an error text.
  bool start(std::string& error);

  /// The port actually bound (after start).
  uint16_t port() const;

  /// Stops accepting, closes WebSockets with 1001, lets in-flight requests
  /// finish up to `grace`, then stops the threads.
  void stop(std::chrono::milliseconds grace);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sb::gateway
