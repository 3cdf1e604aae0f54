#include "persistence/redis/reply.hpp"

namespace sb::persistence {

const char* to_string(redis_errc x) {
  switch (x) {
    case redis_errc::unavailable:
      return "unavailable";
    case redis_errc::timeout:
      return "timeout";
    case redis_errc::server_error:
      return "server_error";
    case redis_errc::protocol:
      return "protocol";
  }
  return "unknown";
}

redis_reply redis_reply::integer(int64_t x) {
  redis_reply r;
  r.kind_ = kind::integer;
  r.integer_ = x;
  return r;
}

redis_reply redis_reply::string(std::string x) {
  redis_reply r;
  r.kind_ = kind::string;
  r.text_ = std::move(x);
  return r;
}

redis_reply redis_reply::status(std::string x) {
  redis_reply r;
  r.kind_ = kind::status;
  r.text_ = std::move(x);
  return r;
}

redis_reply redis_reply::array(std::vector<redis_reply> xs) {
  redis_reply r;
  r.kind_ = kind::array;
  r.elements_ = std::move(xs);
  return r;
}

redis_reply redis_reply::error(redis_errc code, std::string message) {
  redis_reply r;
  r.kind_ = kind::error;
  r.errc_ = code;
  r.text_ = std::move(message);
  return r;
}

std::string redis_reply::describe() const {
  switch (kind_) {
    case kind::nil:
      return "nil";
    case kind::integer:
      return "integer(" + std::to_string(integer_) + ")";
    case kind::string:
      return "string(" + text_ + ")";
    case kind::status:
      return "status(" + text_ + ")";
    case kind::array: {
      std::string out = "array[";
      for (size_t i = 0; i < elements_.size(); ++i) {
        out += (i == 0 ? "" : ", ") + elements_[i].describe();
      }
      return out + "]";
    }
    case kind::error:
      return std::string{"error("} + to_string(errc_) + ": " + text_ + ")";
  }
  return "?";
}

}  // namespace sb::persistence
