#include "gateway/request_meta.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace sb::gateway;

TEST_CASE("client request ids are accepted only from the safe alphabet and length") {
  CHECK(valid_request_id("a"));
  CHECK(valid_request_id("Req-1.2_3:4"));
  CHECK(valid_request_id(std::string(128, 'x')));
  CHECK_FALSE(valid_request_id(""));
  CHECK_FALSE(valid_request_id(std::string(129, 'x')));
  CHECK_FALSE(valid_request_id("has space"));
  CHECK_FALSE(valid_request_id("quote\""));
  CHECK_FALSE(valid_request_id("new\nline"));
  CHECK_FALSE(valid_request_id("slash/"));
}

TEST_CASE("generated request ids are 32 hex digits and differ") {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_request_id();
    REQUIRE(id.size() == 32);
    REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    ids.insert(id);
  }
  CHECK(ids.size() == 1000);
  CHECK(request_id_of("mine") == "mine");
  CHECK(request_id_of("not mine").size() == 32);
}

TEST_CASE("a valid traceparent yields its trace id") {
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("an invalid traceparent yields no trace id") {
  CHECK(trace_id_of("").empty());
  // All-zero trace or parent id.
  CHECK(trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").empty());
  // Upper case, wrong version, wrong lengths, wrong separators.
  CHECK(trace_id_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011").empty());
  CHECK(trace_id_of("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01").empty());
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01").empty());
}

TEST_CASE("query strings are decoded into a map") {
  auto q = parse_query("a=1&b=x%20y&c=p+q&empty=&flag&a=2&=novalue&bad=%zz");
  CHECK(q.at("a") == "1");  // The first of repeated keys wins.
  CHECK(q.at("b") == "x y");
  CHECK(q.at("c") == "p q");
  CHECK(q.at("empty").empty());
  CHECK(q.at("flag").empty());
  CHECK(q.count("") == 0);
  CHECK(q.count("bad") == 0);
  CHECK(parse_query("").empty());
  CHECK(parse_query("&&").empty());
}

TEST_CASE("percent decoding rejects truncated and non-hex escapes") {
  CHECK(percent_decode("a%2Fb", false) == std::optional<std::string>{"a/b"});
  CHECK(percent_decode("a+b", false) == std::optional<std::string>{"a+b"});
  CHECK(percent_decode("a+b", true) == std::optional<std::string>{"a b"});
  CHECK_FALSE(percent_decode("%", false));
  CHECK_FALSE(percent_decode("%4", false));
  CHECK_FALSE(percent_decode("%g0", false));
}

TEST_CASE("the bearer token is taken from the Authorization header") {
  CHECK(bearer_token("Bearer abc") == "abc");
  CHECK(bearer_token("bearer   abc  ") == "abc");
  CHECK(bearer_token("BEARER abc") == "abc");
  CHECK(bearer_token("Basic abc").empty());
  CHECK(bearer_token("Bearer").empty());
  CHECK(bearer_token("Bearerabc").empty());
  CHECK(bearer_token("").empty());
}

TEST_CASE("the media type is lowercased and stripped of parameters") {
  CHECK(media_type("Application/JSON; charset=UTF-8") == "application/json");
  CHECK(media_type("  text/plain  ") == "text/plain");
  CHECK(media_type("").empty());
}
