#include "persistence/cache/circuit_breaker.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using sb::persistence::circuit_breaker;
using state = circuit_breaker::state;

TEST_CASE("circuit breaker opens after the configured failures in a row") {
  circuit_breaker b{3, 1000ms};
  auto t = circuit_breaker::clock_type::now();
  b.failure(t);
  b.failure(t);
  CHECK(b.current() == state::closed);
  CHECK(b.allow(t));
  b.failure(t);
  CHECK(b.current() == state::open);
  CHECK_FALSE(b.allow(t + 999ms));
  CHECK(b.openings() == 1);
}

TEST_CASE("circuit breaker forgets failures after a success") {
  circuit_breaker b{2, 1000ms};
  auto t = circuit_breaker::clock_type::now();
  b.failure(t);
  b.success();
  b.failure(t);
  CHECK(b.current() == state::closed);
}

TEST_CASE("circuit breaker lets one probe through after the pause") {
  circuit_breaker b{1, 100ms};
  auto t = circuit_breaker::clock_type::now();
  b.failure(t);
  REQUIRE(b.current() == state::open);

  CHECK(b.allow(t + 100ms));
  CHECK(b.current() == state::half_open);
  CHECK_FALSE(b.allow(t + 101ms));  // Only one probe at a time.

  SECTION("a good probe closes it") {
    b.success();
    CHECK(b.current() == state::closed);
    CHECK(b.allow(t + 102ms));
  }
  SECTION("a failed probe opens it again for a full pause") {
    b.failure(t + 150ms);
    CHECK(b.current() == state::open);
    CHECK_FALSE(b.allow(t + 249ms));
    CHECK(b.allow(t + 250ms));
    CHECK(b.openings() == 2);
  }
}
