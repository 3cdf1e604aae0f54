#include "persistence/redis/reply.hpp"

#include <catch2/catch.hpp>

using sb::persistence::redis_errc;
using sb::persistence::redis_reply;

TEST_CASE("redis reply values report their kind and contents") {
  CHECK(redis_reply{}.is_nil());
  CHECK(redis_reply::integer(42).as_integer() == 42);
  CHECK(redis_reply::string("v").type() == redis_reply::kind::string);
  CHECK(redis_reply::status("OK").text() == "OK");

  auto arr = redis_reply::array({redis_reply::integer(1), redis_reply{}});
  REQUIRE(arr.elements().size() == 2);
  CHECK(arr.describe() == "array[integer(1), nil]");

  auto err = redis_reply::error(redis_errc::timeout, "no reply within 200 ms");
  CHECK(err.is_error());
  CHECK(err.error_code() == redis_errc::timeout);
  CHECK(err.describe() == "error(timeout: no reply within 200 ms)");
}
