#pragma once

// Request validation: JSON bodies parsed without exceptions, field checks
// that collect every problem, and the 400/422 responses they turn into.

#include "actors/api.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::actors::handlers {

using json = nlohmann::json;

/// Problems with individual fields, reported together as one 422.
class field_errors {
 public:
  /// Records that `field` is wrong, with a short reason.
  void add(std::string field, std::string reason);

  bool empty() const { return list_.empty(); }

  /// The problem response listing every field.
  api_response response(std::string_view request_id) const;

  const std::vector<std::pair<std::string, std::string>>& list() const { return list_; }

 private:
  std::vector<std::pair<std::string, std::string>> list_;
};

/// Parses a JSON object body. On failure `out` is set to the 400 (not JSON),
/// 413 (over the nesting or value limits below), 415 (wrong content type) or
/// 422 (not an object) response.
std::optional<json> parse_object(const api_request& req, std::optional<api_response>& out);

/// Why parse_json refused a text.
enum class json_refusal { none, malformed, too_deep, too_many_values };

/// Most levels of nesting, and most values, a request body may hold: a
/// parsed document takes many times its text's size in memory, so a body
/// within its byte limit could otherwise still take hundreds of megabytes.
constexpr int json_max_depth = 64;
constexpr size_t json_max_values = 200'000;

/// Parses `text` within json_max_depth and json_max_values; nullopt, with
/// the reason in `why`, when it is not JSON or exceeds them.
std::optional<json> parse_json(std::string_view text, json_refusal& why);

/// Rejects members of `body` not named in `known`.
void reject_unknown(const json& body, std::initializer_list<std::string_view> known,
                    field_errors& errors);

/// Text field rules.
struct text_rule {
  bool required = false;    ///< Must be present and non-null.
  bool nullable = true;     ///< null is accepted (and clears the field).
  size_t max_length = 200;  ///< In bytes of UTF-8.
  size_t min_length = 0;
};

/// What a text field held: absent, explicitly null, or a value.
struct text_field {
  bool present = false;
  std::optional<std::string> value;
};

/// Reads a text field, trimming surrounding spaces, and records any problem.
text_field read_text(const json& body, const std::string& name, const text_rule& rule,
                     field_errors& errors);

/// Tells whether `email` looks like an address (local@domain.tld, no spaces).
bool valid_email(std::string_view email);

/// Tells whether `x` is valid UTF-8.
bool valid_utf8(std::string_view x);

/// Tells whether `id` has the shape of an entity id ("ct_" + 26 characters).
bool valid_id(std::string_view id);

/// Tells whether `date` is a real calendar date written YYYY-MM-DD.
bool valid_date(std::string_view date);

/// Pagination parameters of a list request.
struct list_params {
  size_t limit = 50;
  std::string before_id;
};

/// Reads ?limit= (1..200) and ?cursor= and records problems.
list_params read_list_params(const api_request& req, field_errors& errors);

/// An opaque cursor for the page after `last_id`.
std::string make_cursor(std::string_view last_id);

}  // namespace sb::actors::handlers
