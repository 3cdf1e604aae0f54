#pragma once

// The value a Redis command completes with: a RESP reply (nil, integer,
// string, status, array) or an error with its class and message.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sb::persistence {

/// Why a Redis command did not produce a server reply value.
enum class redis_errc {
  unavailable,   ///< No connection is up, or it was lost before the reply came.
  timeout,       ///< The reply did not arrive within the command timeout.
  server_error,  ///< The server answered with a RESP error (e.g. WRONGTYPE).
  protocol,      ///< The reply could not be understood, or the command was refused locally.
};

/// Names the error class, e.g. "timeout".
const char* to_string(redis_errc x);

/// One reply to one command; a small value type that owns all its data.
class redis_reply {
 public:
  /// What the reply holds.
  enum class kind { nil, integer, string, status, array, error };

  /// A nil reply (a missing key).
  redis_reply() = default;

  /// Makes an integer reply.
  static redis_reply integer(int64_t x);
  /// Makes a bulk string reply.
  static redis_reply string(std::string x);
  /// Makes a status reply such as "OK".
  static redis_reply status(std::string x);
  /// Makes an array reply.
  static redis_reply array(std::vector<redis_reply> xs);
  /// Makes an error with its class and a message for humans.
  static redis_reply error(redis_errc code, std::string message);

  /// The kind of value held.
  kind type() const { return kind_; }
  /// Tells whether this is an error of any class.
  bool is_error() const { return kind_ == kind::error; }
  /// Tells whether this is a nil reply.
  bool is_nil() const { return kind_ == kind::nil; }
  /// The integer; 0 unless type() is integer.
  int64_t as_integer() const { return integer_; }
  /// The text of a string, status or error reply; empty otherwise.
  const std::string& text() const { return text_; }
  /// The elements of an array reply; empty otherwise.
  const std::vector<redis_reply>& elements() const { return elements_; }
  /// The error class; meaningful only when is_error().
  redis_errc error_code() const { return errc_; }

  /// Renders the reply for test output and logs, e.g. `error(timeout: ...)`.
  std::string describe() const;

 private:
  kind kind_ = kind::nil;
  int64_t integer_ = 0;
  std::string text_;
  std::vector<redis_reply> elements_;
  redis_errc errc_ = redis_errc::protocol;
};

}  // namespace sb::persistence
