#include "actors/api.hpp"

#include "observability/log.hpp"

#include <atomic>
#include <mutex>

namespace sb::actors {

namespace {

const char* status_title(uint16_t status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

}  // namespace

api_response problem(uint16_t status, std::string_view detail, std::string_view request_id,
                     std::string_view errors_json) {
  using observability::json_escape;
  api_response res;
  res.status = status;
  res.content_type = "application/problem+json";
  res.body.reserve(160 + detail.size() + errors_json.size());
  res.body += R"({"type":"about:blank","title":")";
  res.body += status_title(status);
  res.body += R"(","status":)";
  res.body += std::to_string(status);
  res.body += R"(,"detail":")";
  res.body += json_escape(detail);
  res.body += R"(","request_id":")";
  res.body += json_escape(request_id);
  res.body += '"';
  if (!errors_json.empty()) {
    res.body += R"(,"errors":)";
    res.body += errors_json;
  }
  res.body += '}';
  return res;
}

struct reply_handle::slot {
  std::string request_id;
  callback fn;
  std::atomic<bool> done{false};

  bool fire(api_response res) {
    if (done.exchange(true)) {
      return false;
    }
    fn(std::move(res));
    return true;
  }

  ~slot() {
    // Nobody answered: the actor holding this request died or dropped it.
    if (!done.load() && fn) {
      fire(problem(500, "the request handler failed; it has been restarted", request_id));
    }
  }
};

reply_handle::reply_handle(std::string request_id, callback fn) : slot_(std::make_shared<slot>()) {
  slot_->request_id = std::move(request_id);
  slot_->fn = std::move(fn);
}

bool reply_handle::deliver(api_response response) const {
  return slot_ && slot_->fire(std::move(response));
}

bool reply_handle::delivered() const {
  return !slot_ || slot_->done.load();
}

const std::string& reply_handle::request_id() const {
  static const std::string none;
  return slot_ ? slot_->request_id : none;
}

}  // namespace sb::actors
