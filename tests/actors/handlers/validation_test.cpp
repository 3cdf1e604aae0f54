#include "actors/handlers/validation.hpp"
#include "actors/handlers/handler.hpp"

#include <catch2/catch.hpp>

using namespace sb::actors;
using namespace sb::actors::handlers;

namespace {

api_request json_request(std::string body) {
  api_request req;
  req.body = std::move(body);
  req.content_type = "application/json";
  req.request_id = "req-1";
  return req;
}

json body_of(const api_response& res) {
  return json::parse(res.body);
}

}  // namespace

TEST_CASE("a malformed JSON body is a 400 problem naming the request id") {
  std::optional<api_response> out;
  auto doc = parse_object(json_request("{\"email\": "), out);
  CHECK_FALSE(doc);
  REQUIRE(out);
  CHECK(out->status == 400);
  CHECK(out->content_type == "application/problem+json");
  auto b = body_of(*out);
  CHECK(b["status"] == 400);
  CHECK(b["request_id"] == "req-1");
  CHECK(b["title"] == "Bad Request");
}

TEST_CASE("a body of the wrong content type is a 415 problem") {
  auto req = json_request("{}");
  req.content_type = "text/plain";
  std::optional<api_response> out;
  CHECK_FALSE(parse_object(req, out));
  CHECK(out->status == 415);
}

TEST_CASE("a JSON body that is not an object is a 422 problem") {
  std::optional<api_response> out;
  CHECK_FALSE(parse_object(json_request("[1,2]"), out));
  CHECK(out->status == 422);
}

TEST_CASE("a JSON body nested too deep or holding too many values is a 413 problem") {
  std::optional<api_response> out;
  std::string deep =
      "{\"a\":" + std::string(json_max_depth, '[') + std::string(json_max_depth, ']') + "}";
  CHECK_FALSE(parse_object(json_request(deep), out));
  REQUIRE(out);
  CHECK(out->status == 413);
  CHECK(body_of(*out)["request_id"] == "req-1");

  std::string wide = "{\"events\":[";
  for (size_t i = 0; i <= json_max_values; ++i) {
    wide += i == 0 ? "1" : ",1";
  }
  wide += "]}";
  out.reset();
  CHECK_FALSE(parse_object(json_request(wide), out));
  REQUIRE(out);
  CHECK(out->status == 413);

  // Just within both limits: parsed.
  std::string fine = "{\"a\":" + std::string(json_max_depth - 2, '[') +
                     std::string(json_max_depth - 2, ']') + ",\"b\":[";
  for (size_t i = 0; i < json_max_values - 200; ++i) {
    fine += i == 0 ? "1" : ",1";
  }
  fine += "]}";
  out.reset();
  auto doc = parse_object(json_request(fine), out);
  CHECK_FALSE(out);
  REQUIRE(doc);
  CHECK((*doc)["b"].size() == json_max_values - 200);
}

TEST_CASE("field errors are collected and reported together") {
  auto body = json::parse(R"({"email": 5, "name": "", "extra": true, "long": "x"})");
  field_errors errors;
  reject_unknown(body, {"email", "name", "long", "missing"}, errors);
  read_text(body, "email", {true, false, 254, 0}, errors);
  read_text(body, "name", {true, false, 100, 0}, errors);
  read_text(body, "missing", {true, false, 100, 0}, errors);
  auto res = errors.response("req-2");
  CHECK(res.status == 422);
  auto b = body_of(res);
  REQUIRE(b["errors"].size() == 4);
  CHECK(b["errors"][0] == json{{"field", "extra"}, {"detail", "unknown field"}});
  CHECK(b["errors"][1] == json{{"field", "email"}, {"detail", "must be a string"}});
  CHECK(b["errors"][2] == json{{"field", "name"}, {"detail", "must not be empty"}});
  CHECK(b["errors"][3] == json{{"field", "missing"}, {"detail", "is required"}});
  CHECK(b["detail"] == "4 fields are invalid");
}

TEST_CASE("text fields refuse NUL and other control characters") {
  auto body = json::parse(R"({"a": "a\u0000b", "b": "line\nbreak", "c": "bell\u0007"})");
  field_errors errors;
  CHECK_FALSE(read_text(body, "a", {}, errors).value);
  CHECK(read_text(body, "b", {}, errors).value == std::optional<std::string>{"line\nbreak"});
  CHECK_FALSE(read_text(body, "c", {}, errors).value);
  REQUIRE(errors.list().size() == 2);
  CHECK(errors.list()[0].second == "must not contain control characters");
}

TEST_CASE("text fields are trimmed, length-checked and may be cleared with null") {
  auto body = json::parse(R"({"a": "  hi  ", "b": null, "c": "toolong"})");
  field_errors errors;
  auto a = read_text(body, "a", {}, errors);
  auto b = read_text(body, "b", {}, errors);
  auto c = read_text(body, "c", {false, true, 3, 0}, errors);
  auto d = read_text(body, "d", {}, errors);
  CHECK(a.value == std::optional<std::string>{"hi"});
  CHECK(b.present);
  CHECK_FALSE(b.value);
  CHECK_FALSE(c.value);
  CHECK_FALSE(d.present);
  REQUIRE(errors.list().size() == 1);
  CHECK(errors.list()[0].first == "c");
}

TEST_CASE("email addresses need one @ and a dotted domain") {
  CHECK(valid_email("ada@example.com"));
  CHECK(valid_email("a.b+c@sub.example.co"));
  CHECK_FALSE(valid_email("ada"));
  CHECK_FALSE(valid_email("ada@example"));
  CHECK_FALSE(valid_email("@example.com"));
  CHECK_FALSE(valid_email("a@b@example.com"));
  CHECK_FALSE(valid_email("ada lovelace@example.com"));
  CHECK_FALSE(valid_email("ada@example."));
}

TEST_CASE("UTF-8 validation rejects overlong forms, surrogates and truncation") {
  CHECK(valid_utf8("plain"));
  CHECK(valid_utf8("Zoë 東京 🎬"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(valid_utf8("\xe6\x9d"));          // truncated
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(valid_utf8("\xff"));
}

TEST_CASE("dates must exist in the calendar") {
  CHECK(valid_date("2024-02-29"));
  CHECK_FALSE(valid_date("2023-02-29"));
  CHECK_FALSE(valid_date("2024-13-01"));
  CHECK_FALSE(valid_date("2024-1-01"));
  CHECK_FALSE(valid_date("2024-04-31"));
}

TEST_CASE("list parameters accept limits from 1 to 200 and only cursors we issued") {
  api_request req;
  const std::string id = "ct_01M90N0T48Y4J39MPP79QQ1A1P";
  req.query = {{"limit", "20"}, {"cursor", make_cursor(id)}};
  field_errors errors;
  auto p = read_list_params(req, errors);
  CHECK(errors.empty());
  CHECK(p.limit == 20);
  CHECK(p.before_id == id);

  // Base64 of something that is not an id is refused like garbage.
  req.query = {{"limit", "0"}, {"cursor", make_cursor("{\"x\":1}")}};
  field_errors bad;
  read_list_params(req, bad);
  REQUIRE(bad.list().size() == 2);
  CHECK(bad.list()[0].first == "limit");
  CHECK(bad.list()[1].first == "cursor");
}

TEST_CASE("If-Match accepts the current strong ETag, a list containing it, or *") {
  CHECK(if_match_accepts("", 3));
  CHECK(if_match_accepts("\"v3\"", 3));
  CHECK(if_match_accepts("\"v1\", \"v3\"", 3));
  CHECK(if_match_accepts("*", 3));
  CHECK_FALSE(if_match_accepts("\"v2\"", 3));
  CHECK_FALSE(if_match_accepts("W/\"v3\"", 3));
}
