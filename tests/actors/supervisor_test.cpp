#include "actors/supervisor.hpp"

#include "tests/actors/supervision_fixture.hpp"

#include <caf/exit_reason.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace sb::test;
using sb::actors::actor_report;
using sb::actors::child_spec;
using sb::actors::restart_type;
using sb::actors::strategy;
namespace act = sb::actors;

namespace {

/// Current actor ids of the given children.
std::map<std::string, caf::actor_id> ids(fixture& f, const caf::actor& sup,
                                         const std::vector<std::string>& names) {
  std::map<std::string, caf::actor_id> out;
  for (auto& n : names) {
    auto h = f.child(sup, n);
    out[n] = h ? h.id() : 0;
  }
  return out;
}

std::vector<child_spec> workers(fixture& f, const std::vector<std::string>& names,
                                restart_type restart = restart_type::permanent) {
  std::vector<child_spec> out;
  for (auto& n : names) {
    out.push_back(worker_spec(f.log, n, restart));
  }
  return out;
}

std::string unhandled_exception_text() {
  return caf::to_string(caf::error{caf::exit_reason::unhandled_exception});
}

}  // namespace

// -- strategies --------------------------------------------------------------

TEST_CASE_METHOD(fixture, "one_for_one restarts only the failed child") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one), workers(*this, {"a", "b", "c"}));
  wait_all_started({"a", "b", "c"});
  auto before = ids(*this, sup, {"a", "b", "c"});

  crash_and_wait(sup, "b", 2);

  auto after = ids(*this, sup, {"a", "b", "c"});
  CHECK(after["a"] == before["a"]);
  CHECK(after["c"] == before["c"]);
  CHECK(after["b"] != before["b"]);
  CHECK(after["b"] != 0);
  CHECK(log->select("exiting").empty());
  CHECK(log->select("start").size() == 4);
}

TEST_CASE_METHOD(fixture,
                 "one_for_all stops the others in reverse order and restarts all in order") {
  auto sup =
      spawn_sup("sup", quick_flags(strategy::one_for_all), workers(*this, {"a", "b", "c", "d"}));
  wait_all_started({"a", "b", "c", "d"});
  auto before = ids(*this, sup, {"a", "b", "c", "d"});

  crash_and_wait(sup, "b", 2);
  for (auto id : {"a", "c", "d"}) {
    log->wait_start(id, 2);
  }

  // The crashed child gets no exit signal; the others are stopped last-first.
  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"d", "c", "a"});
  for (auto& e : log->select("exiting")) {
    CHECK(e.reason == caf::to_string(caf::error{caf::exit_reason::user_shutdown}));
  }
  auto starts = log->select("start");
  REQUIRE(starts.size() == 8);
  CHECK(ids_of({starts.begin() + 4, starts.end()}) == std::vector<std::string>{"a", "b", "c", "d"});
  auto after = ids(*this, sup, {"a", "b", "c", "d"});
  for (auto id : {"a", "b", "c", "d"}) {
    CHECK(after[id] != before[id]);
    CHECK(after[id] != 0);
  }
}

TEST_CASE_METHOD(fixture, "rest_for_one restarts the failed child and those started after it") {
  auto sup =
      spawn_sup("sup", quick_flags(strategy::rest_for_one), workers(*this, {"a", "b", "c", "d"}));
  wait_all_started({"a", "b", "c", "d"});
  auto before = ids(*this, sup, {"a", "b", "c", "d"});

  crash_and_wait(sup, "b", 2);
  log->wait_start("c", 2);
  log->wait_start("d", 2);

  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"d", "c"});
  auto starts = log->select("start");
  REQUIRE(starts.size() == 7);
  CHECK(ids_of({starts.begin() + 4, starts.end()}) == std::vector<std::string>{"b", "c", "d"});
  auto after = ids(*this, sup, {"a", "b", "c", "d"});
  CHECK(after["a"] == before["a"]);
  for (auto id : {"b", "c", "d"}) {
    CHECK(after[id] != before[id]);
  }
}

TEST_CASE_METHOD(fixture, "rest_for_one after the last child restarts only that child") {
  auto sup = spawn_sup("sup", quick_flags(strategy::rest_for_one), workers(*this, {"a", "b", "c"}));
  wait_all_started({"a", "b", "c"});
  auto before = ids(*this, sup, {"a", "b", "c"});

  crash_and_wait(sup, "c", 2);

  auto after = ids(*this, sup, {"a", "b", "c"});
  CHECK(after["a"] == before["a"]);
  CHECK(after["b"] == before["b"]);
  CHECK(after["c"] != before["c"]);
  CHECK(log->select("exiting").empty());
}

// -- restart types -----------------------------------------------------------

TEST_CASE_METHOD(fixture, "a permanent child is restarted even after a normal exit") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one), workers(*this, {"p"}));
  log->wait_start("p", 1);

  self->send(child(sup, "p"), t_quit_atom::value);

  log->wait_start("p", 2);
  auto e = entry(sup, "sup/p");
  CHECK(e.state == "running");
  CHECK(e.restarts == 1);
  CHECK(e.last_failure.empty());
}

TEST_CASE_METHOD(fixture,
                 "a transient child is restarted after a crash but not after a normal "
                 "exit") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one),
                       workers(*this, {"t"}, restart_type::transient));
  log->wait_start("t", 1);

  // Crash: restarted.
  crash_and_wait(sup, "t", 2);

  // Normal exit: the entry stays, stopped, and no third start happens.
  auto h = child(sup, "t");
  self->monitor(h);
  self->send(h, t_quit_atom::value);
  CHECK(!await_down(h));
  REQUIRE(eventually(sup, "sup/t", [](const actor_report& r) { return r.state == "stopped"; }));
  CHECK(!child(sup, "t"));
  CHECK(which(sup) == std::vector<std::string>{"t"});
  CHECK(log->select("start", "t").size() == 2);
}

TEST_CASE_METHOD(fixture,
                 "a transient child stopped with user_shutdown by someone else stays "
                 "down") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one),
                       workers(*this, {"t"}, restart_type::transient));
  log->wait_start("t", 1);

  caf::anon_send_exit(child(sup, "t"), caf::exit_reason::user_shutdown);

  REQUIRE(eventually(sup, "sup/t", [](const actor_report& r) { return r.state == "stopped"; }));
  CHECK(log->select("start", "t").size() == 1);
}

TEST_CASE_METHOD(fixture, "a temporary child is never restarted and is removed when it stops") {
  auto sup =
      spawn_sup("sup", quick_flags(strategy::one_for_one),
                {worker_spec(log, "keep"), worker_spec(log, "tmp", restart_type::temporary)});
  wait_all_started({"keep", "tmp"});

  auto h = child(sup, "tmp");
  self->monitor(h);
  self->send(h, t_crash_atom::value);
  await_down(h);

  REQUIRE(eventually(sup, "sup/tmp", [](const actor_report& r) { return r.path.empty(); }));
  CHECK(which(sup) == std::vector<std::string>{"keep"});
  CHECK(log->select("start", "tmp").size() == 1);
}

TEST_CASE_METHOD(fixture, "a temporary child is stopped but not restarted by a sibling restart") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_all),
                       {worker_spec(log, "a"), worker_spec(log, "tmp", restart_type::temporary),
                        worker_spec(log, "c")});
  wait_all_started({"a", "tmp", "c"});

  crash_and_wait(sup, "a", 2);
  log->wait_start("c", 2);

  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"c", "tmp"});
  CHECK(log->select("start", "tmp").size() == 1);
  CHECK(which(sup) == std::vector<std::string>{"a", "c"});
}

TEST_CASE_METHOD(fixture,
                 "an exception thrown in a child handler counts as a failure and the "
                 "child is restarted") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one), workers(*this, {"w"}));
  auto first = log->wait_start("w", 1);

  auto second = crash_and_wait(sup, "w", 2);

  CHECK(second.aid != first.aid);
  auto e = entry(sup, "sup/w");
  CHECK(e.restarts == 1);
  CHECK(e.last_failure == unhandled_exception_text());
  CHECK(e.last_failure_at > 0);
  CHECK(e.state == "running");
}

// -- intensity and escalation ------------------------------------------------

TEST_CASE_METHOD(fixture,
                 "a supervisor gives up when restarts exceed the intensity and stops "
                 "its children") {
  auto sup =
      spawn_sup("sup", quick_flags(strategy::one_for_one, 2, 10s), workers(*this, {"a", "b", "c"}));
  wait_all_started({"a", "b", "c"});
  self->monitor(sup);

  crash_and_wait(sup, "b", 2);
  crash_and_wait(sup, "b", 3);
  self->send(child(sup, "b"), t_crash_atom::value);

  auto reason = await_down(sup);
  CHECK(reason == act::supervisor_gave_up());
  CHECK(act::is_supervisor_gave_up(reason));
  CHECK(reason != caf::exit_reason::user_shutdown);
  // The survivors were stopped in reverse order before the supervisor quit.
  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"c", "a"});
  CHECK(log->select("start", "b").size() == 3);
}

TEST_CASE_METHOD(fixture, "restarts older than the period do not count towards the intensity") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one, 1, 250ms), workers(*this, {"w"}));
  log->wait_start("w", 1);
  self->monitor(sup);

  crash_and_wait(sup, "w", 2);
  // Let the first restart leave the window; this sleep is the time passing
  // under test, not a wait for an event.
  std::this_thread::sleep_for(300ms);
  crash_and_wait(sup, "w", 3);

  // Two restarts within the window now exceed an intensity of 1.
  self->send(child(sup, "w"), t_crash_atom::value);
  CHECK(await_down(sup) == act::supervisor_gave_up());
}

TEST_CASE_METHOD(fixture,
                 "a supervisor that gives up escalates to its parent, which restarts it, "
                 "up to the root giving up") {
  // root (intensity 1) -> mid (intensity 0) -> w: every crash of w makes mid
  // give up; root restarts mid once and gives up on the second time.
  auto mid =
      act::supervisor_child("mid", quick_flags(strategy::one_for_one, 0), workers(*this, {"w"}));
  auto root = spawn_sup("root", quick_flags(strategy::one_for_one, 1, 10s),
                        {worker_spec(log, "bystander"), mid});
  wait_all_started({"bystander", "w"});
  self->monitor(root);
  auto mid1 = child(root, "mid");
  REQUIRE(mid1);

  // Level 1: mid gives up, root restarts mid, which starts w again.
  auto w1 = child(mid1, "w");
  self->send(w1, t_crash_atom::value);
  log->wait_start("w", 2);
  auto mid2 = child(root, "mid");
  CHECK(mid2 != mid1);
  auto e = entry(root, "root/mid");
  CHECK(e.restarts == 1);
  CHECK(e.last_failure == caf::to_string(act::supervisor_gave_up()));
  CHECK(e.kind == "supervisor");
  CHECK(log->select("start", "bystander").size() == 1);

  // Level 2: the second escalation exceeds root's intensity.
  self->send(child(mid2, "w"), t_crash_atom::value);
  CHECK(await_down(root) == act::supervisor_gave_up());
  CHECK(log->wait_for("exiting", "bystander"));
}

TEST_CASE_METHOD(fixture, "a supervisor whose child cannot start fails with start_failed") {
  child_spec broken;
  broken.id = "broken";
  broken.start = [](caf::local_actor*) { return caf::actor{}; };
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one), {worker_spec(log, "a"), broken});
  self->monitor(sup);

  CHECK(await_down(sup) == act::make_error(act::supervision_error::start_failed));
  CHECK(log->wait_for("exiting", "a"));
}

// -- stopping ----------------------------------------------------------------

TEST_CASE_METHOD(fixture,
                 "stopping a child that ignores user_shutdown escalates to kill after "
                 "its shutdown time") {
  auto sup =
      spawn_sup("sup", quick_flags(strategy::one_for_one),
                {worker_spec(log, "stubborn", restart_type::permanent, exit_style::ignore, 60ms)});
  log->wait_start("stubborn", 1);
  auto h = child(sup, "stubborn");
  self->monitor(h);

  auto t0 = steady::now();
  bool stopped = false;
  self->request(sup, 5s, act::stop_child_atom::value, std::string{"stubborn"})
      .receive([&](bool ok) { stopped = ok; }, [&](caf::error& err) { FAIL(caf::to_string(err)); });

  CHECK(stopped);
  CHECK(steady::now() - t0 >= 60ms);
  CHECK(await_down(h) == caf::exit_reason::kill);
  auto exits = log->select("exiting", "stubborn");
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].reason == caf::to_string(caf::error{caf::exit_reason::user_shutdown}));
  // Stopped on request: not restarted, gone from the children.
  CHECK(which(sup).empty());
  CHECK(log->select("start", "stubborn").size() == 1);
}

TEST_CASE_METHOD(fixture,
                 "a supervisor asked to exit stops its children in reverse order, kills "
                 "stubborn ones, then quits with that reason") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one),
                       {worker_spec(log, "a"),
                        worker_spec(log, "b", restart_type::permanent, exit_style::ignore, 50ms),
                        worker_spec(log, "c")});
  wait_all_started({"a", "b", "c"});
  auto b = child(sup, "b");
  self->monitor(sup);
  self->monitor(b);

  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);

  CHECK(await_down(b) == caf::exit_reason::kill);
  CHECK(await_down(sup) == caf::exit_reason::user_shutdown);
  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"c", "b", "a"});
  CHECK(log->select("start").size() == 3);
}

TEST_CASE_METHOD(fixture, "a child supervisor is given the time to stop its own children") {
  auto inner = act::supervisor_child(
      "inner", quick_flags(strategy::one_for_one),
      {worker_spec(log, "x"),
       worker_spec(log, "slow", restart_type::permanent, exit_style::ignore, 80ms)});
  auto root = spawn_sup("root", quick_flags(strategy::one_for_one), {inner});
  wait_all_started({"x", "slow"});
  auto x = child(child(root, "inner"), "x");
  self->monitor(root);
  self->monitor(x);

  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);

  CHECK(await_down(root) == caf::exit_reason::user_shutdown);
  CHECK(await_down(x) == caf::exit_reason::user_shutdown);
  CHECK(ids_of(log->select("exiting")) == std::vector<std::string>{"slow", "x"});
}

// -- dynamic children --------------------------------------------------------

TEST_CASE_METHOD(fixture, "dynamic children can be added, looked up and stopped") {
  auto sup = spawn_sup("sessions", quick_flags(strategy::one_for_one), workers(*this, {"fixed"}));
  log->wait_start("fixed", 1);

  std::vector<caf::actor> started;
  for (auto id : {"s1", "s2", "s3"}) {
    self->request(sup, 2s, act::start_child_atom::value,
                  worker_spec(log, id, restart_type::transient))
        .receive([&](caf::actor& h) { started.push_back(h); },
                 [&](caf::error& err) { FAIL(caf::to_string(err)); });
  }
  REQUIRE(started.size() == 3);
  CHECK(which(sup) == std::vector<std::string>{"fixed", "s1", "s2", "s3"});
  CHECK(child(sup, "s2") == started[1]);
  CHECK(!child(sup, "nobody"));

  // A duplicate id is refused.
  caf::error dup;
  self->request(sup, 2s, act::start_child_atom::value, worker_spec(log, "s1"))
      .receive([&](caf::actor&) { FAIL("duplicate accepted"); },
               [&](caf::error& err) { dup = err; });
  CHECK(dup == act::make_error(act::supervision_error::duplicate_child));

  // Stopping one: true, gone, not restarted; unknown ids answer false.
  self->monitor(started[1]);
  bool ok = false;
  self->request(sup, 2s, act::stop_child_atom::value, std::string{"s2"})
      .receive([&](bool x) { ok = x; }, [&](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(ok);
  CHECK(await_down(started[1]) == caf::exit_reason::user_shutdown);
  CHECK(which(sup) == std::vector<std::string>{"fixed", "s1", "s3"});
  self->request(sup, 2s, act::stop_child_atom::value, std::string{"s2"})
      .receive([&](bool x) { ok = x; }, [&](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(!ok);

  // A dynamic transient child that ends normally is forgotten.
  self->send(started[2], t_quit_atom::value);
  REQUIRE(eventually(sup, "sessions/s3", [](const actor_report& r) { return r.path.empty(); }));
  CHECK(which(sup) == std::vector<std::string>{"fixed", "s1"});

  // A crashing dynamic child is restarted under the same id.
  crash_and_wait(sup, "s1", 2);
  CHECK(child(sup, "s1") != started[0]);
}

TEST_CASE_METHOD(fixture, "a dynamic child whose start fails is refused") {
  auto sup = spawn_sup("sup", quick_flags(strategy::one_for_one), {});
  child_spec broken;
  broken.id = "broken";
  broken.start = [](caf::local_actor*) -> caf::actor { throw std::runtime_error("cannot start"); };
  caf::error err;
  self->request(sup, 2s, act::start_child_atom::value, broken)
      .receive([&](caf::actor&) { FAIL("start reported success"); },
               [&](caf::error& e) { err = e; });
  CHECK(err == act::make_error(act::supervision_error::start_failed));
  CHECK(which(sup).empty());
}

TEST_CASE_METHOD(fixture,
                 "a supervisor with thousands of dynamic children restarts one, reports "
                 "a bounded list and stops them all") {
  constexpr int n = 3000;
  auto sup = spawn_sup("sessions", quick_flags(strategy::one_for_one), {});
  self->monitor(sup);
  for (int i = 0; i < n; ++i) {
    self->request(sup, 5s, act::start_child_atom::value,
                  worker_spec(log, "s" + std::to_string(i), restart_type::transient))
        .receive([](caf::actor&) {}, [&](caf::error& err) { FAIL(caf::to_string(err)); });
  }
  CHECK(which(sup).size() == n);

  auto before = child(sup, "s1500");
  crash_and_wait(sup, "s1500", 2);
  CHECK(child(sup, "s1500") != before);

  auto r = report(sup, 10);
  REQUIRE(r.size() == 12);
  CHECK(r.front().path == "sessions");
  CHECK(r[1].path == "sessions/s0");
  CHECK(r.back().kind == "omitted");
  CHECK(r.back().processed == n - 10);
  CHECK(r.back().restarts == 1);

  auto t0 = steady::now();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  CHECK(await_down(sup, 30s) == caf::exit_reason::user_shutdown);
  CHECK(log->select("exiting").size() == n);
  CHECK(log->select("exiting").front().id == "s2999");
  WARN("stopping "
       << n << " children took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count()
       << " ms");
}

// -- reports -----------------------------------------------------------------

TEST_CASE_METHOD(fixture, "a report lists the tree with restart counts and failures") {
  auto inner = act::supervisor_child("inner", quick_flags(strategy::rest_for_one),
                                     workers(*this, {"x"}), restart_type::transient);
  auto root = spawn_sup("root", quick_flags(strategy::one_for_one), {worker_spec(log, "w"), inner});
  wait_all_started({"w", "x"});
  auto t_before = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  crash_and_wait(root, "w", 2);

  auto r = report(root);
  REQUIRE(r.size() == 4);
  std::vector<std::string> paths;
  for (auto& e : r) {
    paths.push_back(e.path);
  }
  CHECK(paths == std::vector<std::string>{"root", "root/w", "root/inner", "root/inner/x"});

  CHECK(r[0].kind == "supervisor");
  CHECK(r[0].parent.empty());
  CHECK(r[0].restart_type.empty());
  CHECK(r[0].strategy == "one_for_one");
  CHECK(r[0].actor_id == root.id());
  CHECK(r[0].state == "running");
  CHECK(r[0].mailbox_size >= 0);

  CHECK(r[1].name == "w");
  CHECK(r[1].kind == "test_worker");
  CHECK(r[1].parent == "root");
  CHECK(r[1].restart_type == "permanent");
  CHECK(r[1].state == "running");
  CHECK(r[1].strategy.empty());
  CHECK(r[1].actor_id == child(root, "w").id());
  CHECK(r[1].restarts == 1);
  CHECK(r[1].last_failure == unhandled_exception_text());
  CHECK(r[1].last_failure_at >= t_before);
  CHECK(r[1].started_at >= r[1].last_failure_at);
  CHECK(r[1].mailbox_size == 0);
  CHECK(r[1].processed == 0);

  CHECK(r[2].kind == "supervisor");
  CHECK(r[2].parent == "root");
  CHECK(r[2].restart_type == "transient");
  CHECK(r[2].strategy == "rest_for_one");
  CHECK(r[2].restarts == 0);
  CHECK(r[2].last_failure.empty());
  CHECK(r[2].actor_id == child(root, "inner").id());

  CHECK(r[3].parent == "root/inner");
  CHECK(r[3].name == "x");
  CHECK(r[3].actor_id == child(child(root, "inner"), "x").id());
  CHECK(r[3].restarts == 0);
}

TEST_CASE_METHOD(fixture, "a report shows the mailbox backlog of a busy child") {
  auto flags = quick_flags(strategy::one_for_one);
  flags.report_timeout = 2s;
  auto sup = spawn_sup("sup", flags, workers(*this, {"busy"}));
  log->wait_start("busy", 1);
  auto busy = child(sup, "busy");
  auto g = std::make_shared<gate>();

  // 1. Block the child.
  self->send(busy, t_hold_atom::value, g);
  REQUIRE(log->wait_for("holding", "busy"));

  // 2. Ask for a report; once a later request is answered the supervisor has
  // queued its stats probe in the child's mailbox.
  auto pending = self->request(sup, 5s, act::report_atom::value);
  which(sup);

  // 3. Queue a backlog behind the probe, then let the child go.
  for (int i = 0; i < 50; ++i) {
    self->send(busy, t_noop_atom::value);
  }
  g->release();

  std::vector<actor_report> r;
  pending.receive([&](std::vector<actor_report>& x) { r = std::move(x); },
                  [&](caf::error& err) { FAIL(caf::to_string(err)); });
  REQUIRE(r.size() == 2);
  CHECK(r[1].path == "sup/busy");
  CHECK(r[1].mailbox_size == 50);
  CHECK(r[1].processed == 1);
}

TEST_CASE_METHOD(fixture,
                 "a child blocked longer than the report timeout shows -1 and does not "
                 "block the report") {
  auto flags = quick_flags(strategy::one_for_one);
  flags.report_timeout = 100ms;
  auto sup = spawn_sup("sup", flags, workers(*this, {"ok", "stuck"}));
  wait_all_started({"ok", "stuck"});
  auto g = std::make_shared<gate>();
  self->send(child(sup, "stuck"), t_hold_atom::value, g);
  REQUIRE(log->wait_for("holding", "stuck"));

  auto t0 = steady::now();
  auto r = report(sup);
  auto took = steady::now() - t0;
  g->release();

  REQUIRE(r.size() == 3);
  CHECK(r[1].path == "sup/ok");
  CHECK(r[1].mailbox_size == 0);
  CHECK(r[2].path == "sup/stuck");
  CHECK(r[2].mailbox_size == -1);
  CHECK(r[2].processed == -1);
  CHECK(r[2].state == "running");
  CHECK(took >= 100ms);
  CHECK(took < 2s);
}
