#include "persistence/redis/detail/backoff.hpp"

#include <catch2/catch.hpp>

using sb::persistence::detail::backoff_delay;
using ms = std::chrono::milliseconds;

TEST_CASE("redis reconnect backoff doubles per attempt up to the maximum") {
  CHECK(backoff_delay(0, ms{100}, ms{2000}, 0.999).count() == 99);
  CHECK(backoff_delay(1, ms{100}, ms{2000}, 0.999).count() == 199);
  CHECK(backoff_delay(3, ms{100}, ms{2000}, 0.999).count() == 799);
  CHECK(backoff_delay(5, ms{100}, ms{2000}, 0.999).count() == 1999);
  CHECK(backoff_delay(60, ms{100}, ms{2000}, 0.999).count() == 1999);
}

TEST_CASE("redis reconnect backoff jitter stays within the upper half of the ceiling") {
  CHECK(backoff_delay(0, ms{100}, ms{2000}, 0.0).count() == 50);
  CHECK(backoff_delay(2, ms{100}, ms{2000}, 0.0).count() == 200);
  CHECK(backoff_delay(2, ms{100}, ms{2000}, 0.5).count() == 300);
  CHECK(backoff_delay(9, ms{100}, ms{2000}, 0.0).count() == 1000);
}
