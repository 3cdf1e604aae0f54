#pragma once

// A thin JSON client for end-to-end tests of the real server.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace sb::testing {

/// One HTTP exchange as a test sees it.
struct api_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< Lowercased names.
  std::string body;

  /// The body parsed as JSON (null if it is not JSON).
  nlohmann::json json() const;

  /// A header value or "".
  std::string header(const std::string& name) const;
};

/// Talks to one server over fresh connections.
class api_client {
 public:
  explicit api_client(uint16_t port) : port_(port) {}

  /// Sets the bearer token sent from now on ("" for none).
  void token(std::string t) { token_ = std::move(t); }

  api_reply get(const std::string& target, std::map<std::string, std::string> headers = {});
  api_reply post(const std::string& target, const nlohmann::json& body,
                 std::map<std::string, std::string> headers = {});
  api_reply patch(const std::string& target, const nlohmann::json& body,
                  std::map<std::string, std::string> headers = {});
  api_reply del(const std::string& target, std::map<std::string, std::string> headers = {});

  /// Sends raw bytes as the body (for malformed input).
  api_reply send(const std::string& method, const std::string& target, const std::string& body,
                 std::map<std::string, std::string> headers = {});

  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::string token_;
};

}  // namespace sb::testing
