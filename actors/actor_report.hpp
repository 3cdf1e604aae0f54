#pragma once

// What every supervised actor tells the ops view about itself.

#include <cstdint>
#include <string>

namespace sb::actors {

/// One node of the supervision tree, flattened: `parent` names the
/// supervisor by its path, `path` is "root/sessions/s_1a2b".
struct actor_report {
  std::string path;
  std::string name;
  std::string kind;
  std::string parent;
  std::string restart_type;  ///< permanent, transient, temporary ("" for root).
  std::string state;         ///< running, backing_off, stopped.
  std::string strategy;      ///< For supervisors; empty for workers.
  uint64_t actor_id = 0;
  int64_t restarts = 0;
  std::string last_failure;     ///< Exit reason of the last abnormal exit.
  int64_t last_failure_at = 0;  ///< Unix ms, 0 if never failed.
  int64_t started_at = 0;       ///< Unix ms of the current incarnation.
  int64_t mailbox_size = -1;    ///< -1 when the actor did not answer in time.
  int64_t processed = -1;       ///< Messages handled, -1 when unknown.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_report& x) {
  return f(x.path, x.name, x.kind, x.parent, x.restart_type, x.state, x.strategy, x.actor_id,
           x.restarts, x.last_failure, x.last_failure_at, x.started_at, x.mailbox_size,
           x.processed);
}

/// What a worker answers to (stats_atom): its own view of itself.
struct actor_stats {
  int64_t mailbox_size = 0;
  int64_t processed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_stats& x) {
  return f(x.mailbox_size, x.processed);
}

}  // namespace sb::actors
