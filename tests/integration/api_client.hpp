#pragma once

// A thin JSON client for end-to-end tests of the real server.

#include "tests/support/http_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace sb::testing {

/// One HTTP exchange as a test sees it.
struct api_reply : http_response {
  /// The body parsed as JSON (discarded value if it is not JSON).
  nlohmann::json json() const;
};

/// Talks to one server on 127.0.0.1 over fresh connections.
class api_client {
 public:
  explicit api_client(uint16_t port) : port_(port) {}

  /// Sets the bearer token sent from now on ("" for none).
  void token(std::string t) { token_ = std::move(t); }

  api_reply get(const std::string& target, header_map headers = {});
  api_reply post(const std::string& target, const nlohmann::json& body, header_map headers = {});
  api_reply patch(const std::string& target, const nlohmann::json& body, header_map headers = {});
  api_reply del(const std::string& target, header_map headers = {});

  /// Sends `body` as it is (for malformed input).
  api_reply send(const std::string& method, const std::string& target, const std::string& body,
                 header_map headers = {});

  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::string token_;
};

}  // namespace sb::testing
