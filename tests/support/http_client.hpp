#pragma once

// A synchronous HTTP/1.1 and WebSocket client for tests, built on Beast. Every
// call has a deadline, so a misbehaving server fails a test instead of
// hanging it.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sb::testing {

using namespace std::chrono_literals;

/// Header fields to send; names as given.
using header_map = std::map<std::string, std::string>;

/// One HTTP response as a test sees it.
struct http_response {
  int status = 0;                              ///< 0 until a response was read.
  std::map<std::string, std::string> headers;  ///< Lowercased names; repeats joined by ", ".
  std::string body;                            ///< The whole body, de-chunked.

  /// A header value (name in any case), or "" when absent.
  std::string header(std::string_view name) const;
};

/// Sends one request on a fresh connection and reads the response. Throws
/// std::runtime_error when connecting fails or no response arrives in time.
http_response request(const std::string& host, uint16_t port, const std::string& method,
                      const std::string& target, const std::string& body = {},
                      const header_map& headers = {}, std::chrono::milliseconds timeout = 10s);

/// A keep-alive connection for several requests, or for raw bytes.
class http_connection {
 public:
  /// Connects; throws std::runtime_error on failure.
  http_connection(const std::string& host, uint16_t port);
  ~http_connection();

  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends a request and reads its response; throws when none arrives in time.
  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = {}, const header_map& headers = {},
                        std::chrono::milliseconds timeout = 10s);

  /// Writes bytes as they are, e.g. half a request or a malformed one.
  void send_raw(std::string_view bytes, std::chrono::milliseconds timeout = 10s);

  /// Reads one response; nullopt when the server closed or the time ran out.
  std::optional<http_response> read_response(std::chrono::milliseconds timeout = 10s);

  /// Reads and discards until the server closes; false if it is still open
  /// at the deadline.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// How a WebSocket client connects.
struct ws_options {
  std::string target = "/v1/events";  ///< Request target of the upgrade request.
  header_map headers;                 ///< Extra fields of the upgrade request.
  /// SO_RCVBUF before connecting (0 keeps the default); small values make a
  /// client that does not read fall behind sooner.
  int receive_buffer = 0;
  std::chrono::milliseconds timeout = 10s;  ///< Deadline of the handshake.
};

/// A WebSocket client. It only reads when asked to, so a test can simulate a
/// client that never reads.
class ws_client {
 public:
  /// Connects and performs the handshake; check accepted() and response().
  ws_client(const std::string& host, uint16_t port, ws_options options = {});
  ~ws_client();

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// Tells whether the server answered 101.
  bool accepted() const;

  /// The server's handshake response (the 101, or e.g. a 401 with its body).
  const http_response& response() const;

  /// The next message, or nullopt when the time ran out or the connection
  /// closed. A read that times out stays pending and continues next call.
  std::optional<std::string> read_text(std::chrono::milliseconds timeout);

  /// Sends a text message.
  void write_text(const std::string& text);

  /// The close code the server sent, once the connection is closed.
  std::optional<uint16_t> close_code() const;

  /// Tells whether the connection ended (close frame or error).
  bool closed() const;

  /// Starts the close handshake with `code` and waits for it briefly.
  void close(uint16_t code = 1000);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sb::testing
