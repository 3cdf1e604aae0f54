#include "actors/supervisor.hpp"

#include "tests/actors/supervision_fixture.hpp"

#include <thread>

using namespace sb::test;
using sb::actors::actor_report;
using sb::actors::backoff_delay;
using sb::actors::backoff_policy;
using sb::actors::restart_type;
using sb::actors::strategy;
using std::chrono::milliseconds;

TEST_CASE("the backoff delay doubles per restart up to the cap, then adds jitter") {
  backoff_policy p;
  p.initial = 100ms;
  p.max = 1000ms;
  p.jitter = 0.2;

  struct row {
    int n;
    double u;
    milliseconds expected;
  };
  auto table = std::vector<row>{
      {1, 0.0, 100ms},  {2, 0.0, 200ms},  {3, 0.0, 400ms},  {4, 0.0, 800ms},
      {5, 0.0, 1000ms}, {6, 0.0, 1000ms}, {1, 0.5, 110ms},  {3, 0.5, 440ms},
      {5, 0.5, 1100ms}, {0, 0.0, 100ms},  {-3, 0.0, 100ms}, {1000, 0.0, 1000ms},
  };
  for (auto& r : table) {
    INFO("n=" << r.n << " u=" << r.u);
    CHECK(backoff_delay(p, r.n, r.u) == r.expected);
  }
}

TEST_CASE(
    "the backoff delay is zero without an initial delay and never exceeds max plus "
    "jitter") {
  backoff_policy none;
  none.initial = 0ms;
  CHECK(backoff_delay(none, 1, 0.9) == 0ms);
  CHECK(backoff_delay(none, 50, 0.9) == 0ms);

  backoff_policy p;
  p.initial = 3000ms;
  p.max = 30000ms;
  p.jitter = 0.2;
  CHECK(backoff_delay(p, 1, 0.0) == 3000ms);
  CHECK(backoff_delay(p, 5, 0.0) == 30000ms);
  for (int n = 1; n < 70; ++n) {
    CHECK(backoff_delay(p, n, 0.999) <= 36000ms);
    CHECK(backoff_delay(p, n, 0.0) >= 3000ms);
  }

  // An initial delay above the cap is capped.
  backoff_policy big;
  big.initial = 500ms;
  big.max = 200ms;
  big.jitter = 0.0;
  CHECK(backoff_delay(big, 1, 0.3) == 200ms);
}

TEST_CASE_METHOD(fixture,
                 "a restart waits for the backoff delay and the child shows backing_off "
                 "meanwhile") {
  auto flags = quick_flags(strategy::one_for_one);
  flags.backoff.initial = 80ms;
  flags.backoff.max = 10s;
  flags.backoff.jitter = 0.5;
  flags.backoff.reset_after = 60s;
  flags.random = [] { return 0.5; };  // jitter factor 1.25
  auto sup = spawn_sup("sup", flags, {worker_spec(log, "w")});
  log->wait_start("w", 1);

  // First restart: 80 ms * 1.25.
  auto t0 = steady::now();
  self->send(child(sup, "w"), t_crash_atom::value);
  CHECK(eventually(sup, "sup/w", [](const actor_report& r) { return r.state == "backing_off"; }));
  auto e = entry(sup, "sup/w");
  if (e.state == "backing_off") {
    CHECK(e.actor_id == 0);
    CHECK(e.last_failure == caf::to_string(caf::error{caf::exit_reason::unhandled_exception}));
  }
  auto second = log->wait_start("w", 2);
  CHECK(second.at - t0 >= 100ms);

  // Second restart in the same burst: 160 ms * 1.25.
  auto t1 = steady::now();
  self->send(child(sup, "w"), t_crash_atom::value);
  auto third = log->wait_start("w", 3);
  CHECK(third.at - t1 >= 200ms);
  CHECK(entry(sup, "sup/w").restarts == 2);
}

TEST_CASE_METHOD(fixture,
                 "a child that ran longer than reset_after starts over at the initial "
                 "delay") {
  auto flags = quick_flags(strategy::one_for_one);
  flags.backoff.initial = 50ms;
  flags.backoff.max = 10s;
  flags.backoff.jitter = 0.0;
  flags.backoff.reset_after = 120ms;
  auto sup = spawn_sup("sup", flags, {worker_spec(log, "w")});
  log->wait_start("w", 1);

  // Three quick failures: 50, 100, 200 ms; a fourth would wait 400 ms.
  for (size_t i = 2; i <= 4; ++i) {
    crash_and_wait(sup, "w", i);
  }
  // Let the child run past reset_after; this sleep is the uptime under test.
  std::this_thread::sleep_for(150ms);

  auto t0 = steady::now();
  auto fifth = crash_and_wait(sup, "w", 5);
  CHECK(fifth.at - t0 >= 50ms);
  CHECK(fifth.at - t0 < 300ms);
}

TEST_CASE_METHOD(fixture,
                 "a group restart waits for the backoff delay before starting the "
                 "children again") {
  auto flags = quick_flags(strategy::one_for_all);
  flags.backoff.initial = 100ms;
  flags.backoff.jitter = 0.0;
  auto sup = spawn_sup("sup", flags, {worker_spec(log, "a"), worker_spec(log, "b")});
  wait_all_started({"a", "b"});

  auto t0 = steady::now();
  self->send(child(sup, "b"), t_crash_atom::value);
  auto a2 = log->wait_start("a", 2);
  auto b2 = log->wait_start("b", 2);

  CHECK(a2.at - t0 >= 100ms);
  CHECK(b2.at >= a2.at);
  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"a"});
}

TEST_CASE_METHOD(fixture, "a child stopped while backing off is not restarted") {
  auto flags = quick_flags(strategy::one_for_one);
  flags.backoff.initial = 100ms;
  flags.backoff.jitter = 0.0;
  auto sup = spawn_sup("sup", flags, {worker_spec(log, "w"), worker_spec(log, "other")});
  wait_all_started({"w", "other"});

  self->send(child(sup, "w"), t_crash_atom::value);
  REQUIRE(eventually(sup, "sup/w", [](const actor_report& r) { return r.state == "backing_off"; }));
  bool ok = false;
  self->request(sup, 2s, sb::actors::stop_child_atom::value, std::string{"w"})
      .receive([&](bool x) { ok = x; }, [&](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(ok);

  // The sibling's restart timer is due after w's stale one, so once the
  // sibling is back, w's timer has fired and was ignored.
  crash_and_wait(sup, "other", 2);
  CHECK(which(sup) == std::vector<std::string>{"other"});
  CHECK(log->select("start", "w").size() == 1);
}
