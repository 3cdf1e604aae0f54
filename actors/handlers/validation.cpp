#include "actors/handlers/validation.hpp"

#include <sodium.h>

#include <charconv>

namespace sb::actors::handlers {

namespace {

std::string trim(std::string_view x) {
  auto b = x.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  auto e = x.find_last_not_of(" \t\r\n");
  return std::string{x.substr(b, e - b + 1)};
}

std::string decode_base64url(std::string_view x) {
  std::string out(x.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), x.data(),
                        x.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return {};
  }
  out.resize(len);
  return out;
}

}  // namespace

void field_errors::add(std::string field, std::string reason) {
  list_.emplace_back(std::move(field), std::move(reason));
}

api_response field_errors::response(std::string_view request_id) const {
  auto errors = json::array();
  for (const auto& [field, reason] : list_) {
    errors.push_back({{"field", field}, {"detail", reason}});
  }
  auto detail = list_.size() == 1 ? "1 field is invalid"
                                  : std::to_string(list_.size()) + " fields are invalid";
  return problem(422, detail, request_id, errors.dump());
}

std::optional<json> parse_json(std::string_view text, json_refusal& why) {
  // The callback sees every value as it is parsed; throwing ends the parse
  // before the document grows further.
  struct over_limit {
    json_refusal why;
  };
  size_t values = 0;
  auto watch = [&](int depth, json::parse_event_t event, json&) {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start ||
        event == json::parse_event_t::value) {
      if (depth >= json_max_depth) {
        throw over_limit{json_refusal::too_deep};
      }
      if (++values > json_max_values) {
        throw over_limit{json_refusal::too_many_values};
      }
    }
    return true;
  };
  try {
    auto doc = json::parse(text.begin(), text.end(), watch, false);
    why = doc.is_discarded() ? json_refusal::malformed : json_refusal::none;
    return doc.is_discarded() ? std::nullopt : std::optional<json>{std::move(doc)};
  } catch (const over_limit& e) {
    why = e.why;
    return std::nullopt;
  }
}

std::optional<json> parse_object(const api_request& req, std::optional<api_response>& out) {
  if (!req.content_type.empty() && req.content_type != "application/json") {
    out = problem(415, "the body must be application/json", req.request_id);
    return std::nullopt;
  }
  if (req.body.empty()) {
    out = problem(400, "the request needs a JSON object body", req.request_id);
    return std::nullopt;
  }
  json_refusal why = json_refusal::none;
  auto parsed = parse_json(req.body, why);
  if (why == json_refusal::too_deep || why == json_refusal::too_many_values) {
    out = problem(
        413,
        why == json_refusal::too_deep
            ? "the JSON body nests deeper than " + std::to_string(json_max_depth) + " levels"
            : "the JSON body holds more than " + std::to_string(json_max_values) + " values",
        req.request_id);
    return std::nullopt;
  }
  if (!parsed) {
    out = problem(400, "the body is not valid JSON", req.request_id);
    return std::nullopt;
  }
  auto& doc = *parsed;
  if (!doc.is_object()) {
    field_errors errors;
    errors.add("", "the body must be a JSON object");
    out = errors.response(req.request_id);
    return std::nullopt;
  }
  return parsed;
}

void reject_unknown(const json& body, std::initializer_list<std::string_view> known,
                    field_errors& errors) {
  for (const auto& [key, value] : body.items()) {
    bool ok = false;
    for (auto k : known) {
      ok = ok || key == k;
    }
    if (!ok) {
      errors.add(key, "unknown field");
    }
  }
}

text_field read_text(const json& body, const std::string& name, const text_rule& rule,
                     field_errors& errors) {
  text_field out;
  auto i = body.find(name);
  if (i == body.end()) {
    if (rule.required) {
      errors.add(name, "is required");
    }
    return out;
  }
  out.present = true;
  if (i->is_null()) {
    if (rule.required || !rule.nullable) {
      errors.add(name, "must not be null");
    }
    return out;
  }
  if (!i->is_string()) {
    errors.add(name, "must be a string");
    return out;
  }
  auto text = trim(i->get_ref<const std::string&>());
  if (!valid_utf8(text)) {
    errors.add(name, "must be valid UTF-8");
    return out;
  }
  // NUL would be cut off by the database drivers; other C0 controls have no
  // place in names and titles (tab and newline stay allowed).
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      errors.add(name, "must not contain control characters");
      return out;
    }
  }
  if (text.size() > rule.max_length) {
    errors.add(name, "must be at most " + std::to_string(rule.max_length) + " bytes");
    return out;
  }
  if (text.size() < rule.min_length || (rule.required && text.empty())) {
    errors.add(name, rule.min_length > 1
                         ? "must be at least " + std::to_string(rule.min_length) + " characters"
                         : std::string{"must not be empty"});
    return out;
  }
  out.value = std::move(text);
  return out;
}

bool valid_email(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) {
    return false;
  }
  auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  auto domain = email.substr(at + 1);
  auto dot = domain.rfind('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || dot + 1 == domain.size()) {
    return false;
  }
  for (unsigned char c : email) {
    if (c <= ' ' || c == 0x7f || c == ',' || c == '<' || c == '>' || c == '"') {
      return false;
    }
  }
  return true;
}

bool valid_utf8(std::string_view x) {
  size_t i = 0;
  while (i < x.size()) {
    auto c = static_cast<unsigned char>(x[i]);
    size_t n = 0;
    uint32_t cp = c;
    if (c >= 0x80) {
      if ((c >> 5) == 0x6) {
        n = 1, cp = c & 0x1f;
      } else if ((c >> 4) == 0xe) {
        n = 2, cp = c & 0x0f;
      } else if ((c >> 3) == 0x1e) {
        n = 3, cp = c & 0x07;
      } else {
        return false;
      }
    }
    if (i + n >= x.size()) {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(x[i + k]);
      if ((cc >> 6) != 0x2) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool valid_id(std::string_view id) {
  // prefix "_" 26 Crockford base32 characters, as new_id() makes them.
  auto sep = id.find('_');
  if (sep == std::string_view::npos || sep == 0 || sep > 8 || id.size() != sep + 27) {
    return false;
  }
  for (size_t i = 0; i < sep; ++i) {
    if (id[i] < 'a' || id[i] > 'z') {
      return false;
    }
  }
  for (auto c : id.substr(sep + 1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) || c == 'I' || c == 'L' || c == 'O' ||
        c == 'U') {
      return false;
    }
  }
  return true;
}

bool valid_date(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') {
    return false;
  }
  int y = 0, m = 0, d = 0;
  auto num = [&](size_t at, size_t len, int& out) {
    auto [p, ec] = std::from_chars(date.data() + at, date.data() + at + len, out);
    return ec == std::errc{} && p == date.data() + at + len;
  };
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d) || m < 1 || m > 12 || d < 1) {
    return false;
  }
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

list_params read_list_params(const api_request& req, field_errors& errors) {
  list_params out;
  if (auto i = req.query.find("limit"); i != req.query.end()) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(i->second.data(), i->second.data() + i->second.size(), n);
    if (ec != std::errc{} || p != i->second.data() + i->second.size() || n < 1 || n > 200) {
      errors.add("limit", "must be an integer from 1 to 200");
    } else {
      out.limit = n;
    }
  }
  if (auto i = req.query.find("cursor"); i != req.query.end() && !i->second.empty()) {
    auto id = decode_base64url(i->second);
    if (!valid_id(id)) {
      errors.add("cursor", "is not a cursor this API issued");
    } else {
      out.before_id = std::move(id);
    }
  }
  return out;
}

std::string make_cursor(std::string_view last_id) {
  std::string out(
      sodium_base64_ENCODED_LEN(last_id.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(last_id.data()),
                    last_id.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

}  // namespace sb::actors::handlers
