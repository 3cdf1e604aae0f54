#pragma once

// OTP-style supervision on top of CAF monitors: strategies, restart types,
// restart intensity with escalation, and exponential backoff with jitter.

#include "actors/actor_report.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sb::actors {

/// Why a supervisor refused a request or terminated; category atom "supervisor".
enum class supervision_error : uint8_t {
  gave_up = 1,      ///< More than `intensity` restarts within `period`.
  start_failed,     ///< A child's start function threw or returned no actor.
  duplicate_child,  ///< start_child with an id a sibling already uses.
  shutting_down,    ///< The supervisor is stopping and accepts no new children.
};

/// Converts a supervision_error into a caf::error (found by ADL, so the enum
/// can be used wherever CAF expects an error).
caf::error make_error(supervision_error x);

/// The exit reason of a supervisor whose restart intensity was exceeded; its
/// parent sees it as an abnormal down_msg and applies its own policy.
caf::error supervisor_gave_up();

/// Tells whether `reason` is supervisor_gave_up(), ignoring any context.
bool is_supervisor_gave_up(const caf::error& reason);

/// Which children a supervisor restarts when one of them fails.
enum class strategy {
  one_for_one,   ///< Only the failed child.
  one_for_all,   ///< Every child (stopped in reverse order, started in order).
  rest_for_one,  ///< The failed child and the children started after it.
};

/// When a child that stopped is started again.
enum class restart_type {
  permanent,  ///< Always.
  transient,  ///< Only after an abnormal exit (not normal or user_shutdown).
  temporary,  ///< Never, not even when siblings are restarted.
};

const char* to_string(strategy x);
const char* to_string(restart_type x);

/// child_spec::shutdown value that waits forever for a stopping child (OTP's
/// `infinity`, the default for child supervisors). A shutdown of 0 or less
/// kills at once (OTP's `brutal_kill`).
inline constexpr std::chrono::milliseconds infinite_shutdown = std::chrono::milliseconds::max();

/// Delay before restart n (n = 1 for the first restart in a burst):
/// min(max, initial * 2^(n-1)) * (1 + jitter * u), u drawn from [0, 1).
struct backoff_policy {
  std::chrono::milliseconds initial{0};  ///< 0 restarts at once.
  std::chrono::milliseconds max{30000};
  double jitter = 0.2;
  /// A child that ran this long without failing starts over at n = 1.
  std::chrono::milliseconds reset_after{60000};
};

/// Computes the backoff delay for restart `n` given a uniform draw `u` in [0, 1).
std::chrono::milliseconds backoff_delay(const backoff_policy& p, int n, double u);

/// How a supervisor starts one child.
struct child_spec {
  std::string id;    ///< Unique among siblings; the child's name.
  std::string kind;  ///< Actor kind for metrics, e.g. "session".
  restart_type restart = restart_type::permanent;
  bool is_supervisor = false;                ///< The child is itself a supervisor.
  std::chrono::milliseconds shutdown{5000};  ///< Grace before kill on stop.
  /// Spawns the child. Called on the supervisor's thread; must not block and
  /// must not link the child to anyone. `parent` is the supervisor.
  std::function<caf::actor(caf::local_actor* parent)> start;
};

/// The behaviour of a supervisor.
struct supervisor_flags {
  strategy how = strategy::one_for_one;
  int intensity = 3;                       ///< Restarts allowed within `period`...
  std::chrono::milliseconds period{5000};  ///< ...before the supervisor gives up.
  backoff_policy backoff;
  /// Source of uniform draws in [0, 1) for jitter; tests inject one.
  std::function<double()> random;
  /// How long a report waits for a worker's stats (child supervisors get
  /// twice as long, since they wait for their own workers first).
  std::chrono::milliseconds report_timeout{200};
};

/// Spawns a supervisor that starts `children` in order and supervises them.
///
/// Messages it understands (atoms in actors/messages.hpp):
///   (start_child_atom, child_spec) -> caf::actor    add a dynamic child
///   (stop_child_atom, std::string id) -> bool       stop one, no restart
///   (which_children_atom) -> std::vector<std::string> ids, in start order
///   (child_atom, std::string id) -> caf::actor      current handle (or invalid)
///   (report_atom) -> std::vector<actor_report>      this subtree, flattened
///   (report_atom, int64_t max_children) -> same, listing at most max_children
///       per supervisor; the rest are folded into one summary entry with kind
///       and state "omitted", path "<supervisor>/...", `processed` = number of
///       omitted children and `restarts` = the sum of their restarts
///   (stats_atom) -> actor_stats                     the supervisor's own stats
///
/// Reports list entries in pre-order (a supervisor before its children, in
/// start order). A child's state is running, stopping, backing_off or stopped.
/// A stopped child (transient after a normal exit) keeps its entry if it was
/// given at spawn time; dynamic and temporary children are removed when they
/// stop for good. A group restart (one_for_all, rest_for_one) also restarts
/// stopped transient siblings in its range, as OTP does.
///
/// When more than `intensity` restarts fall within `period`, it stops all
/// children in reverse order and exits with supervisor_gave_up, so that its
/// own supervisor decides what happens next.
caf::actor spawn_supervisor(caf::actor_system& sys, std::string name, supervisor_flags flags,
                            std::vector<child_spec> children);

/// A child spec that runs a nested supervisor.
child_spec supervisor_child(std::string name, supervisor_flags flags,
                            std::vector<child_spec> children,
                            restart_type restart = restart_type::permanent);

}  // namespace sb::actors
