#include "actors/supervisor.hpp"

#include "observability/metrics.hpp"

#include "actors/messages.hpp"
#include "actors/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>

namespace sb::actors {

const char* to_string(strategy x) {
  switch (x) {
    case strategy::one_for_one:
      return "one_for_one";
    case strategy::one_for_all:
      return "one_for_all";
    case strategy::rest_for_one:
      return "rest_for_one";
  }
  return "unknown";
}

const char* to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

caf::error make_error(supervision_error x) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("supervisor")};
}

caf::error supervisor_gave_up() {
  return make_error(supervision_error::gave_up);
}

bool is_supervisor_gave_up(const caf::error& reason) {
  return reason && reason.compare(supervisor_gave_up()) == 0;
}

std::chrono::milliseconds backoff_delay(const backoff_policy& p, int n, double u) {
  if (p.initial.count() <= 0) {
    return std::chrono::milliseconds{0};
  }
  n = std::max(n, 1);
  u = std::clamp(u, 0.0, 1.0);
  auto jitter = std::max(p.jitter, 0.0);

  // Double until the cap instead of computing 2^(n-1), which overflows for
  // long failure streaks.
  auto cap = std::max(p.max.count(), int64_t{0});
  auto base = std::min(p.initial.count(), cap);
  for (int i = 1; i < n && base < cap; ++i) {
    base = base > cap / 2 ? cap : base * 2;
  }
  auto jittered = static_cast<double>(base) * (1.0 + jitter * u);
  return std::chrono::milliseconds{static_cast<int64_t>(jittered)};
}

namespace {

using steady = std::chrono::steady_clock;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Normal and user_shutdown exits do not make a transient child restart.
bool is_abnormal(const caf::error& reason) {
  return reason && reason != caf::exit_reason::normal && reason != caf::exit_reason::user_shutdown;
}

enum class child_phase { running, stopping, backing_off, stopped };

const char* to_string(child_phase x) {
  switch (x) {
    case child_phase::running:
      return "running";
    case child_phase::stopping:
      return "stopping";
    case child_phase::backing_off:
      return "backing_off";
    case child_phase::stopped:
      return "stopped";
  }
  return "unknown";
}

/// The supervisor's bookkeeping for one child.
struct child_entry {
  child_spec spec;
  bool dynamic = false;  ///< Added with start_child; removed once stopped for good.
  caf::actor handle;
  child_phase phase = child_phase::stopped;
  uint64_t gen = 0;  ///< Bumped on each phase change; stale timer messages carry an old one.
  int64_t restarts = 0;
  int backoff_n = 0;  ///< Restarts since the child last ran `reset_after` without failing.
  std::string last_failure;
  int64_t last_failure_at = 0;
  int64_t started_at = 0;
  steady::time_point started_steady;
  bool remove_on_down = false;  ///< stop_child asked: drop the entry instead of restarting.
  std::vector<caf::typed_response_promise<bool>> stop_waiters;
};

/// Children keyed by start sequence: iteration is start order, and positions
/// stay valid while neighbours come and go.
using child_map = std::map<uint64_t, child_entry>;

/// A one_for_all / rest_for_one restart in progress: every child with a
/// sequence number >= floor is stopped (in reverse order), then restarted.
struct restart_plan {
  bool active = false;
  bool waiting = false;  ///< Stop phase done; the restart message is pending.
  uint64_t floor = 0;
  uint64_t gen = 0;
  std::chrono::milliseconds delay{0};
};

struct supervisor_state {
  std::string name;  // Also the actor's name in CAF.
  supervisor_flags flags;
  int64_t started_at = 0;
  int64_t processed = 0;

  child_map children;
  uint64_t next_seq = 1;
  std::unordered_map<std::string, child_map::iterator> by_id;
  std::unordered_map<caf::actor_addr, child_map::iterator> by_addr;

  std::deque<steady::time_point> recent_restarts;
  restart_plan plan;

  // The sequential stopper, shared by group restarts and shutdown: it walks
  // down from `cursor` and waits for one child at a time, as OTP does.
  uint64_t cursor = std::numeric_limits<uint64_t>::max();
  std::optional<uint64_t> waiting_on;
  bool shutting_down = false;
  caf::error quit_reason;

  ~supervisor_state() {
    // Only reached with live children if this supervisor was killed: tell
    // the orphans to stop instead of leaving them running unsupervised.
    for (auto& [seq, c] : children) {
      if (c.handle) {
        caf::anon_send_exit(c.handle, caf::exit_reason::user_shutdown);
      }
    }
  }
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

/// Everything a supervisor does, as plain functions over its state.
class supervisor_logic {
 public:
  explicit supervisor_logic(supervisor_actor* self) : self_(self), st_(self->state) {}

  // -- starting -------------------------------------------------------------

  /// Adds a child at the end of the start order and starts it.
  caf::expected<caf::actor> add_child(child_spec spec, bool dynamic) {
    if (st_.shutting_down) {
      return make_error(supervision_error::shutting_down);
    }
    if (st_.by_id.count(spec.id) > 0) {
      return make_error(supervision_error::duplicate_child);
    }
    auto id = spec.id;
    auto [it, added] = st_.children.emplace(st_.next_seq++, child_entry{});
    it->second.spec = std::move(spec);
    it->second.dynamic = dynamic;
    st_.by_id.emplace(std::move(id), it);
    if (!start(it, false)) {
      erase(it);
      return make_error(supervision_error::start_failed);
    }
    return it->second.handle;
  }

  /// Runs the child's start function; false if it threw or returned nothing.
  bool start(child_map::iterator it, bool is_restart) {
    auto& c = it->second;
    caf::actor handle;
    try {
      if (c.spec.start) {
        handle = c.spec.start(self_);
      }
    } catch (...) {
      // The start function is user code; its failure is the child's failure.
      handle = nullptr;
    }
    ++c.gen;
    if (!handle) {
      c.phase = child_phase::stopped;
      return false;
    }
    self_->monitor(handle);
    c.handle = handle;
    c.phase = child_phase::running;
    c.started_at = now_ms();
    c.started_steady = steady::now();
    if (is_restart) {
      ++c.restarts;
      // A counter, unlike the report, keeps the history of actors that are
      // gone (a session that passivated after its crash).
      observability::metrics()
          .counter_of("switchboard_actor_restarts_total", "Restarts by supervisors, by actor kind",
                      {{"kind", c.spec.kind}})
          .inc();
    }
    st_.by_addr[handle.address()] = it;
    return true;
  }

  // -- failures -------------------------------------------------------------

  void on_down(caf::down_msg& msg) {
    auto i = st_.by_addr.find(msg.source);
    if (i == st_.by_addr.end()) {
      return;
    }
    auto it = i->second;
    st_.by_addr.erase(i);
    auto& c = it->second;
    c.handle = nullptr;
    auto deliberate = c.phase == child_phase::stopping;
    c.phase = child_phase::stopped;
    ++c.gen;
    if (deliberate) {
      on_stopped(it);
      return;
    }
    if (msg.reason) {
      c.last_failure = caf::to_string(msg.reason);
      c.last_failure_at = now_ms();
    }
    on_unexpected_exit(it, msg.reason);
  }

  /// A child ended that we did not stop (or could not start): apply the
  /// restart type, the intensity limit and the strategy.
  void on_unexpected_exit(child_map::iterator it, const caf::error& reason) {
    auto& c = it->second;
    auto type = c.spec.restart;
    if (st_.shutting_down) {
      if (type == restart_type::temporary) {
        erase(it);
      }
      return;
    }
    auto restart =
        type == restart_type::permanent || (type == restart_type::transient && is_abnormal(reason));
    if (!restart) {
      if (type == restart_type::temporary || c.dynamic) {
        erase(it);
      }
      return;
    }

    // A group restart already covering this child will start it again.
    if (st_.plan.active && it->first >= st_.plan.floor) {
      if (st_.plan.waiting) {
        c.phase = child_phase::backing_off;
      }
      return;
    }

    auto now = steady::now();
    if (now - c.started_steady >= st_.flags.backoff.reset_after) {
      c.backoff_n = 0;
    }
    ++c.backoff_n;
    if (!note_restart(now)) {
      begin_shutdown(supervisor_gave_up());
      return;
    }
    auto delay = backoff_delay(st_.flags.backoff, c.backoff_n, st_.flags.random());
    switch (st_.flags.how) {
      case strategy::one_for_one:
        schedule_restart(it, delay);
        break;
      case strategy::one_for_all:
        begin_plan(0, delay);
        break;
      case strategy::rest_for_one:
        begin_plan(it->first, delay);
        break;
    }
  }

  /// Records a restart; false when that makes more than `intensity` within
  /// `period`.
  bool note_restart(steady::time_point now) {
    auto& recent = st_.recent_restarts;
    recent.push_back(now);
    while (!recent.empty() && now - recent.front() > st_.flags.period) {
      recent.pop_front();
    }
    return static_cast<int64_t>(recent.size()) <= st_.flags.intensity;
  }

  // -- one_for_one restarts -------------------------------------------------

  void schedule_restart(child_map::iterator it, std::chrono::milliseconds delay) {
    auto& c = it->second;
    c.phase = child_phase::backing_off;
    ++c.gen;
    // Always through the mailbox, even without delay: a start function that
    // keeps failing then cannot recurse, and intensity still bounds it.
    if (delay.count() <= 0) {
      self_->send(self_, restart_atom::value, it->first, c.gen);
    } else {
      self_->delayed_send(self_, delay, restart_atom::value, it->first, c.gen);
    }
  }

  void on_restart_timer(uint64_t seq, uint64_t gen) {
    auto it = st_.children.find(seq);
    if (it == st_.children.end() || it->second.phase != child_phase::backing_off ||
        it->second.gen != gen || st_.shutting_down) {
      return;
    }
    if (!start(it, true)) {
      start_failed(it);
    }
  }

  void start_failed(child_map::iterator it) {
    auto& c = it->second;
    c.last_failure = caf::to_string(make_error(supervision_error::start_failed));
    c.last_failure_at = now_ms();
    on_unexpected_exit(it, make_error(supervision_error::start_failed));
  }

  // -- group restarts -------------------------------------------------------

  /// Starts (or widens) a group restart of every child at or after `floor`.
  void begin_plan(uint64_t floor, std::chrono::milliseconds delay) {
    auto& plan = st_.plan;
    if (plan.active) {
      plan.floor = std::min(plan.floor, floor);
      plan.delay = std::max(plan.delay, delay);
    } else {
      plan.active = true;
      plan.floor = floor;
      plan.delay = delay;
    }
    // A pending restart message of a merged plan becomes stale.
    plan.waiting = false;
    ++plan.gen;
    st_.cursor = std::numeric_limits<uint64_t>::max();
    if (!st_.waiting_on) {
      stop_next();
    }
  }

  void on_plan_timer(uint64_t gen) {
    auto& plan = st_.plan;
    if (!plan.active || !plan.waiting || plan.gen != gen || st_.shutting_down) {
      return;
    }
    plan.active = false;
    plan.waiting = false;
    std::vector<uint64_t> failed;
    for (auto it = st_.children.lower_bound(plan.floor); it != st_.children.end(); ++it) {
      if (it->second.phase == child_phase::backing_off && !start(it, true)) {
        failed.push_back(it->first);
      }
    }
    for (auto seq : failed) {
      auto it = st_.children.find(seq);
      if (it != st_.children.end() && it->second.phase == child_phase::stopped) {
        start_failed(it);
      }
    }
  }

  // -- stopping -------------------------------------------------------------

  /// OTP shutdown: user_shutdown, then kill once the grace period is over.
  void begin_stop(child_map::iterator it) {
    auto& c = it->second;
    c.phase = child_phase::stopping;
    ++c.gen;
    auto grace = c.spec.shutdown;
    if (grace.count() <= 0) {
      self_->send_exit(c.handle, caf::exit_reason::kill);
      return;
    }
    self_->send_exit(c.handle, caf::exit_reason::user_shutdown);
    if (grace != infinite_shutdown) {
      self_->delayed_send(self_, grace, shutdown_timeout_atom::value, it->first, c.gen);
    }
  }

  void on_shutdown_timer(uint64_t seq, uint64_t gen) {
    auto it = st_.children.find(seq);
    if (it == st_.children.end() || it->second.phase != child_phase::stopping ||
        it->second.gen != gen) {
      return;
    }
    self_->send_exit(it->second.handle, caf::exit_reason::kill);
  }

  /// A child we asked to stop is down.
  void on_stopped(child_map::iterator it) {
    auto seq = it->first;
    auto& c = it->second;
    for (auto& rp : c.stop_waiters) {
      rp.deliver(true);
    }
    c.stop_waiters.clear();
    if (c.remove_on_down || c.spec.restart == restart_type::temporary) {
      erase(it);
    }
    if (st_.waiting_on == seq) {
      st_.waiting_on.reset();
      stop_next();
    }
  }

  /// One step of the sequential stopper: stop the next child below the
  /// cursor, or finish the group restart or the shutdown.
  void stop_next() {
    auto& plan = st_.plan;
    auto stopping_plan = plan.active && !plan.waiting;
    if (!st_.shutting_down && !stopping_plan) {
      return;
    }
    auto floor = st_.shutting_down ? uint64_t{0} : plan.floor;
    if (auto it = next_to_stop(floor); it != st_.children.end()) {
      st_.waiting_on = it->first;
      if (it->second.phase == child_phase::running) {
        begin_stop(it);
      }
      return;
    }
    if (st_.shutting_down) {
      self_->quit(st_.quit_reason);
      return;
    }

    // Everything in range is down: wait out the backoff, then start them.
    for (auto it = st_.children.lower_bound(plan.floor); it != st_.children.end(); ++it) {
      auto& c = it->second;
      if (c.phase == child_phase::stopped || c.phase == child_phase::backing_off) {
        c.phase = child_phase::backing_off;
        ++c.gen;
      }
    }
    plan.waiting = true;
    ++plan.gen;
    if (plan.delay.count() <= 0) {
      self_->send(self_, restart_atom::value, plan.gen);
    } else {
      self_->delayed_send(self_, plan.delay, restart_atom::value, plan.gen);
    }
  }

  /// The highest child below the cursor and at or above `floor` that is
  /// still alive, or end().
  child_map::iterator next_to_stop(uint64_t floor) {
    auto it = st_.children.lower_bound(st_.cursor);
    while (it != st_.children.begin()) {
      --it;
      if (it->first < floor) {
        break;
      }
      auto phase = it->second.phase;
      if (phase == child_phase::running || phase == child_phase::stopping) {
        st_.cursor = it->first;
        return it;
      }
    }
    return st_.children.end();
  }

  /// Stops every child in reverse start order, then quits with `reason`.
  void begin_shutdown(caf::error reason) {
    if (st_.shutting_down) {
      return;
    }
    st_.shutting_down = true;
    st_.quit_reason = std::move(reason);
    st_.plan.active = false;
    ++st_.plan.gen;
    for (auto& [seq, c] : st_.children) {
      if (c.phase == child_phase::backing_off) {
        c.phase = child_phase::stopped;
        ++c.gen;
      }
    }
    st_.cursor = std::numeric_limits<uint64_t>::max();
    if (!st_.waiting_on) {
      stop_next();
    }
  }

  caf::result<bool> stop_child(const std::string& id) {
    auto i = st_.by_id.find(id);
    if (i == st_.by_id.end()) {
      return false;
    }
    auto it = i->second;
    auto& c = it->second;
    if (c.phase != child_phase::running && c.phase != child_phase::stopping) {
      erase(it);
      return true;
    }
    c.remove_on_down = true;
    if (c.phase == child_phase::running) {
      begin_stop(it);
    }
    auto rp = self_->make_response_promise<bool>();
    c.stop_waiters.push_back(rp);
    return rp;
  }

  void erase(child_map::iterator it) {
    auto& c = it->second;
    if (c.handle) {
      st_.by_addr.erase(c.handle.address());
    }
    st_.by_id.erase(c.spec.id);
    st_.children.erase(it);
  }

  // -- queries --------------------------------------------------------------

  std::vector<std::string> which_children() const {
    std::vector<std::string> ids;
    ids.reserve(st_.children.size());
    for (auto& [seq, c] : st_.children) {
      ids.push_back(c.spec.id);
    }
    return ids;
  }

  caf::actor child(const std::string& id) const {
    auto i = st_.by_id.find(id);
    return i == st_.by_id.end() ? caf::actor{} : i->second->second.handle;
  }

  caf::result<std::vector<actor_report>> report(int64_t max_children);

 private:
  supervisor_actor* self_;
  supervisor_state& st_;
};

/// Collects the answers of one report request; delivers when all are in.
struct report_collector {
  caf::typed_response_promise<std::vector<actor_report>> rp;
  actor_report own;
  std::vector<std::vector<actor_report>> parts;  ///< One subtree per listed child.
  std::optional<actor_report> summary;
  size_t pending = 0;

  void done_one() {
    if (--pending == 0) {
      deliver();
    }
  }

  void deliver() {
    std::vector<actor_report> out;
    out.push_back(std::move(own));
    for (auto& part : parts) {
      std::move(part.begin(), part.end(), std::back_inserter(out));
    }
    if (summary) {
      out.push_back(std::move(*summary));
    }
    rp.deliver(std::move(out));
  }
};

/// Fits the subtree a child supervisor reported (rooted at its own name) into
/// this supervisor's tree under `mine`, which holds what the parent knows.
std::vector<actor_report> splice(actor_report mine, std::vector<actor_report> subtree) {
  if (subtree.empty()) {
    return {std::move(mine)};
  }
  auto& theirs = subtree.front();
  auto old_prefix = theirs.path;
  mine.strategy = theirs.strategy;
  mine.mailbox_size = theirs.mailbox_size;
  mine.processed = theirs.processed;
  theirs = std::move(mine);
  auto rebase = [&](std::string& p) {
    if (p.compare(0, old_prefix.size(), old_prefix) == 0) {
      p = theirs.path + p.substr(old_prefix.size());
    }
  };
  for (size_t i = 1; i < subtree.size(); ++i) {
    rebase(subtree[i].path);
    rebase(subtree[i].parent);
  }
  return subtree;
}

caf::result<std::vector<actor_report>> supervisor_logic::report(int64_t max_children) {
  auto col = std::make_shared<report_collector>();
  col->rp = self_->make_response_promise<std::vector<actor_report>>();

  // 1. This supervisor's own entry; its parent fills in what only it knows.
  auto& own = col->own;
  own.path = st_.name;
  own.name = st_.name;
  own.kind = "supervisor";
  own.state = st_.shutting_down ? "stopping" : "running";
  own.strategy = to_string(st_.flags.how);
  own.actor_id = self_->id();
  own.started_at = st_.started_at;
  own.mailbox_size = static_cast<int64_t>(self_->mailbox().size());
  own.processed = st_.processed;

  // 2. One entry per listed child from the bookkeeping; the rest summarized.
  auto limit = max_children < 0 ? st_.children.size() : static_cast<size_t>(max_children);
  std::vector<std::pair<caf::actor, bool>> asks;
  for (auto& [seq, c] : st_.children) {
    if (col->parts.size() >= limit) {
      if (!col->summary) {
        col->summary.emplace();
        col->summary->path = st_.name + "/...";
        col->summary->name = "...";
        col->summary->kind = "omitted";
        col->summary->state = "omitted";
        col->summary->parent = st_.name;
        col->summary->processed = 0;
      }
      ++col->summary->processed;
      col->summary->restarts += c.restarts;
      continue;
    }
    actor_report r;
    r.path = st_.name + "/" + c.spec.id;
    r.name = c.spec.id;
    r.kind = !c.spec.kind.empty() ? c.spec.kind : c.spec.is_supervisor ? "supervisor" : "worker";
    r.parent = st_.name;
    r.restart_type = to_string(c.spec.restart);
    r.state = to_string(c.phase);
    r.actor_id = c.handle ? c.handle.id() : 0;
    r.restarts = c.restarts;
    r.last_failure = c.last_failure;
    r.last_failure_at = c.last_failure_at;
    r.started_at = c.handle ? c.started_at : 0;
    col->parts.push_back({std::move(r)});
    asks.emplace_back(c.handle, c.spec.is_supervisor);
  }

  // 3. Ask live children, never waiting longer than the timeout: a busy child
  // shows -1 instead of blocking the report.
  col->pending = 1;
  auto timeout = st_.flags.report_timeout;
  for (size_t i = 0; i < asks.size(); ++i) {
    auto& [handle, is_sup] = asks[i];
    if (!handle) {
      continue;
    }
    ++col->pending;
    if (is_sup) {
      self_->request(handle, timeout * 2, report_atom::value, max_children)
          .then(
              [col, i](std::vector<actor_report>& subtree) {
                col->parts[i] = splice(std::move(col->parts[i].front()), std::move(subtree));
                col->done_one();
              },
              [col](caf::error&) { col->done_one(); });
    } else {
      self_->request(handle, timeout, stats_atom::value)
          .then(
              [col, i](actor_stats& s) {
                col->parts[i].front().mailbox_size = s.mailbox_size;
                col->parts[i].front().processed = s.processed;
                col->done_one();
              },
              [col](caf::error&) { col->done_one(); });
    }
  }
  auto rp = col->rp;
  col->done_one();
  return rp;
}

caf::behavior supervisor(supervisor_actor* self, std::string name, supervisor_flags flags,
                         std::vector<child_spec> children) {
  auto& st = self->state;
  st.name = std::move(name);
  st.flags = std::move(flags);
  st.started_at = now_ms();
  if (!st.flags.random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    st.flags.random = [rng] { return std::uniform_real_distribution<double>{0.0, 1.0}(*rng); };
  }

  quiet_handlers(self);
  // A stray error message must not take the tree down: every request the
  // supervisor makes has its own error callback, so nothing else needs it.
  self->set_error_handler([](caf::scheduled_actor*, caf::error&) {});
  self->set_down_handler([self](caf::scheduled_actor*, caf::down_msg& msg) {
    ++self->state.processed;
    supervisor_logic{self}.on_down(msg);
  });
  self->set_exit_handler([self](caf::scheduled_actor*, caf::exit_msg& msg) {
    ++self->state.processed;
    // A normal exit signal does not stop an actor in CAF; keep that rule.
    if (msg.reason) {
      supervisor_logic{self}.begin_shutdown(std::move(msg.reason));
    }
  });

  // Start the children in order; if one cannot start, undo and fail, so that
  // our own supervisor sees it.
  for (auto& spec : children) {
    if (!supervisor_logic{self}.add_child(std::move(spec), false)) {
      supervisor_logic{self}.begin_shutdown(make_error(supervision_error::start_failed));
      break;
    }
  }

  return {
      [self](start_child_atom, child_spec& spec) -> caf::result<caf::actor> {
        ++self->state.processed;
        auto started = supervisor_logic{self}.add_child(std::move(spec), true);
        if (!started) {
          return std::move(started.error());
        }
        return std::move(*started);
      },
      [self](stop_child_atom, const std::string& id) {
        ++self->state.processed;
        return supervisor_logic{self}.stop_child(id);
      },
      [self](which_children_atom) {
        ++self->state.processed;
        return supervisor_logic{self}.which_children();
      },
      [self](child_atom, const std::string& id) {
        ++self->state.processed;
        return supervisor_logic{self}.child(id);
      },
      [self](report_atom) {
        ++self->state.processed;
        return supervisor_logic{self}.report(-1);
      },
      [self](report_atom, int64_t max_children) {
        ++self->state.processed;
        return supervisor_logic{self}.report(max_children);
      },
      [self](stats_atom) { return current_stats(self, ++self->state.processed); },
      [self](restart_atom, uint64_t seq, uint64_t gen) {
        ++self->state.processed;
        supervisor_logic{self}.on_restart_timer(seq, gen);
      },
      [self](restart_atom, uint64_t gen) {
        ++self->state.processed;
        supervisor_logic{self}.on_plan_timer(gen);
      },
      [self](shutdown_timeout_atom, uint64_t seq, uint64_t gen) {
        ++self->state.processed;
        supervisor_logic{self}.on_shutdown_timer(seq, gen);
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, std::string name, supervisor_flags flags,
                            std::vector<child_spec> children) {
  return sys.spawn(supervisor, std::move(name), std::move(flags), std::move(children));
}

child_spec supervisor_child(std::string name, supervisor_flags flags,
                            std::vector<child_spec> children, restart_type restart) {
  child_spec spec;
  spec.id = name;
  spec.kind = "supervisor";
  spec.restart = restart;
  spec.is_supervisor = true;
  // A supervisor needs as long as its own children take to stop; killing it
  // early would orphan them (OTP's default for supervisors is infinity too).
  spec.shutdown = infinite_shutdown;
  spec.start = [name = std::move(name), flags = std::move(flags),
                children = std::move(children)](caf::local_actor* parent) {
    return spawn_supervisor(parent->system(), name, flags, children);
  };
  return spec;
}

}  // namespace sb::actors
