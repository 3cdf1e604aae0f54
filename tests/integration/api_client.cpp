#include "tests/integration/api_client.hpp"

namespace sb::testing {

nlohmann::json api_reply::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

api_reply api_client::get(const std::string& target, header_map headers) {
  return send("GET", target, {}, std::move(headers));
}

api_reply api_client::post(const std::string& target, const nlohmann::json& body,
                           header_map headers) {
  headers.emplace("Content-Type", "application/json");
  return send("POST", target, body.dump(), std::move(headers));
}

api_reply api_client::patch(const std::string& target, const nlohmann::json& body,
                            header_map headers) {
  headers.emplace("Content-Type", "application/json");
  return send("PATCH", target, body.dump(), std::move(headers));
}

api_reply api_client::del(const std::string& target, header_map headers) {
  return send("DELETE", target, {}, std::move(headers));
}

api_reply api_client::send(const std::string& method, const std::string& target,
                           const std::string& body, header_map headers) {
  if (!token_.empty()) {
    headers.emplace("Authorization", "Bearer " + token_);
  }
  api_reply out;
  static_cast<http_response&>(out) = request("127.0.0.1", port_, method, target, body, headers);
  return out;
}

}  // namespace sb::testing
