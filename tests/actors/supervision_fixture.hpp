#pragma once

// A real actor system, test workers that record what happens to them, and
// blocking helpers that drive supervisors from the test body.

#include "actors/messages.hpp"
#include "actors/supervisor.hpp"
#include "actors/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace sb::test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

using t_crash_atom = caf::atom_constant<caf::atom("t_crash")>;
using t_quit_atom = caf::atom_constant<caf::atom("t_quit")>;
using t_hold_atom = caf::atom_constant<caf::atom("t_hold")>;
using t_noop_atom = caf::atom_constant<caf::atom("t_noop")>;

/// Something a test worker or start function did.
struct event {
  std::string what;  ///< "start" (spawned by the supervisor), "exiting", "holding".
  std::string id;
  caf::actor_id aid = 0;
  std::string reason;
  steady::time_point at;
};

/// Thread-safe record of events that tests wait on with a deadline.
class event_log {
 public:
  void push(event e) {
    e.at = steady::now();
    {
      std::lock_guard<std::mutex> guard{mtx_};
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }

  /// Waits until `pred` holds for the events so far; false at the deadline.
  bool wait(const std::function<bool(const std::vector<event>&)>& pred,
            std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] { return pred(events_); });
  }

  std::vector<event> snapshot() {
    std::lock_guard<std::mutex> guard{mtx_};
    return events_;
  }

  /// Events of one kind, optionally for one id, in the order they happened.
  std::vector<event> select(const std::string& what, const std::string& id = {}) {
    std::vector<event> out;
    for (auto& e : snapshot()) {
      if (e.what == what && (id.empty() || e.id == id)) {
        out.push_back(e);
      }
    }
    return out;
  }

  /// Waits until `id` was started at least `n` times; returns the n-th start.
  event wait_start(const std::string& id, size_t n, std::chrono::milliseconds timeout = 5s) {
    auto ok =
        wait([&](const std::vector<event>& evs) { return count(evs, "start", id) >= n; }, timeout);
    REQUIRE(ok);
    return select("start", id).at(n - 1);
  }

  /// Waits until `id` logged `what` at least `n` times.
  bool wait_for(const std::string& what, const std::string& id, size_t n = 1,
                std::chrono::milliseconds timeout = 5s) {
    return wait([&](const std::vector<event>& evs) { return count(evs, what, id) >= n; }, timeout);
  }

  static size_t count(const std::vector<event>& evs, const std::string& what,
                      const std::string& id) {
    return static_cast<size_t>(std::count_if(evs.begin(), evs.end(), [&](const event& e) {
      return e.what == what && (id.empty() || e.id == id);
    }));
  }

 private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<event> events_;
};

/// A latch a test worker blocks on, so the test controls when it is busy.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = true;
    }
    cv.notify_all();
  }

  void wait() {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return open; });
  }
};

}  // namespace sb::test

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<sb::test::gate>)

namespace sb::test {

/// How a test worker reacts to exit signals.
enum class exit_style {
  obey,    ///< Logs the exit signal and quits with its reason.
  ignore,  ///< Logs it and keeps running: only kill stops it.
};

/// A worker that crashes, quits or blocks on command and logs its exits.
inline caf::behavior test_worker(caf::event_based_actor* self, std::shared_ptr<event_log> log,
                                 std::string id, exit_style style) {
  actors::quiet_handlers(self);
  auto processed = std::make_shared<int64_t>(0);
  self->set_exit_handler([log, id, style](caf::scheduled_actor* s, caf::exit_msg& msg) {
    log->push({"exiting", id, s->id(), caf::to_string(msg.reason), {}});
    if (style == exit_style::obey && msg.reason) {
      s->quit(msg.reason);
    }
  });
  return caf::message_handler{
      [](t_crash_atom) { throw std::runtime_error("crash requested by the test"); },
      [self](t_quit_atom) { self->quit(); },
      [self, log, id, processed](t_hold_atom, std::shared_ptr<gate> g) {
        ++*processed;
        log->push({"holding", id, self->id(), {}, {}});
        g->wait();
      },
      [processed](t_noop_atom) { ++*processed; },
  }
      .or_else(actors::stats_handler(self, [processed] { return *processed; }));
}

/// A child spec for a test worker; its start function logs a "start" event in
/// start order, on the supervisor's thread.
inline actors::child_spec worker_spec(
    std::shared_ptr<event_log> log, std::string id,
    actors::restart_type restart = actors::restart_type::permanent,
    exit_style style = exit_style::obey, std::chrono::milliseconds shutdown = 2s) {
  actors::child_spec spec;
  spec.id = id;
  spec.kind = "test_worker";
  spec.restart = restart;
  spec.shutdown = shutdown;
  spec.start = [log, id, style](caf::local_actor* parent) {
    auto h = parent->system().spawn(test_worker, log, id, style);
    log->push({"start", id, h.id(), {}, {}});
    return h;
  };
  return spec;
}

/// Flags with immediate restarts and a fixed random draw.
inline actors::supervisor_flags quick_flags(actors::strategy how, int intensity = 10,
                                            std::chrono::milliseconds period = 5s) {
  actors::supervisor_flags f;
  f.how = how;
  f.intensity = intensity;
  f.period = period;
  f.backoff.initial = 0ms;
  f.random = [] { return 0.0; };
  return f;
}

struct test_config : caf::actor_system_config {
  test_config() { set("scheduler.max-threads", 2); }
};

/// The actor system and the helpers a test body uses to drive it.
struct fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<event_log> log = std::make_shared<event_log>();
  caf::scoped_actor self{sys};
  std::vector<caf::actor> supervisors;
  std::map<caf::actor_addr, caf::error> downs;

  ~fixture() {
    // The system waits for every actor on destruction: stop what is left.
    for (auto& sup : supervisors) {
      caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    }
  }

  caf::actor spawn_sup(std::string name, actors::supervisor_flags flags,
                       std::vector<actors::child_spec> children) {
    auto sup =
        actors::spawn_supervisor(sys, std::move(name), std::move(flags), std::move(children));
    supervisors.push_back(sup);
    return sup;
  }

  caf::actor child(const caf::actor& sup, const std::string& id) {
    caf::actor out;
    self->request(sup, 2s, actors::child_atom::value, id)
        .receive([&](caf::actor& h) { out = std::move(h); },
                 [&](caf::error& err) { FAIL("child_atom failed: " << caf::to_string(err)); });
    return out;
  }

  std::vector<std::string> which(const caf::actor& sup) {
    std::vector<std::string> out;
    self->request(sup, 2s, actors::which_children_atom::value)
        .receive([&](std::vector<std::string>& ids) { out = std::move(ids); },
                 [&](caf::error& err) { FAIL("which_children failed: " << caf::to_string(err)); });
    return out;
  }

  std::vector<actors::actor_report> report(const caf::actor& sup, int64_t max_children = -1) {
    std::vector<actors::actor_report> out;
    self->request(sup, 5s, actors::report_atom::value, max_children)
        .receive([&](std::vector<actors::actor_report>& r) { out = std::move(r); },
                 [&](caf::error& err) { FAIL("report failed: " << caf::to_string(err)); });
    return out;
  }

  /// The report entry with `path`, or a default entry with an empty path.
  actors::actor_report entry(const caf::actor& sup, const std::string& path) {
    for (auto& r : report(sup)) {
      if (r.path == path) {
        return r;
      }
    }
    return {};
  }

  /// Polls the supervisor until `pred` holds for the entry at `path`. Used
  /// only where no event marks the change (e.g. the supervisor having
  /// processed a down_msg); every poll is a request round trip.
  bool eventually(const caf::actor& sup, const std::string& path,
                  const std::function<bool(const actors::actor_report&)>& pred,
                  std::chrono::milliseconds timeout = 5s) {
    auto deadline = steady::now() + timeout;
    while (steady::now() < deadline) {
      if (pred(entry(sup, path))) {
        return true;
      }
      self->receive(caf::after(2ms) >> [] {});
    }
    return false;
  }

  /// Waits for the down_msg of a monitored actor; returns its reason. Other
  /// down_msgs that arrive meanwhile are kept for later calls.
  caf::error await_down(const caf::actor& who, std::chrono::milliseconds timeout = 5s) {
    auto deadline = steady::now() + timeout;
    while (downs.count(who.address()) == 0 && steady::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      self->receive([&](caf::down_msg& d) { downs.emplace(d.source, d.reason); },
                    caf::after(std::max(left, 0ms)) >> [] {});
    }
    auto i = downs.find(who.address());
    REQUIRE(i != downs.end());
    return i->second;
  }

  /// Crashes a child with an exception and waits for its n-th start.
  event crash_and_wait(const caf::actor& sup, const std::string& id, size_t nth_start) {
    auto h = child(sup, id);
    REQUIRE(h);
    self->send(h, t_crash_atom::value);
    return log->wait_start(id, nth_start);
  }

  /// Waits until every id has been started at least once.
  void wait_all_started(const std::vector<std::string>& ids) {
    for (auto& id : ids) {
      log->wait_start(id, 1);
    }
  }
};

/// Ids of the events in order.
inline std::vector<std::string> ids_of(const std::vector<event>& evs) {
  std::vector<std::string> out;
  for (auto& e : evs) {
    out.push_back(e.id);
  }
  return out;
}

}  // namespace sb::test
