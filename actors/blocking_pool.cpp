#include "actors/blocking_pool.hpp"

#include "actors/services.hpp"
#include "actors/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <deque>
#include <vector>

namespace sb::actors {

namespace {

using pool_done_atom = caf::atom_constant<caf::atom("pooldone")>;

// The pool's own error category: its only error is "queue full".
constexpr caf::atom_value pool_category = caf::atom("pool");

caf::error overloaded_error() {
  return caf::error{1, pool_category};
}

// A worker runs one job at a time on its own thread. A job that throws fails
// only that job: the requester gets the message as an error.
caf::behavior blocking_worker(caf::event_based_actor* self) {
  quiet_handlers(self);
  return {
      [](blocking_job& job) -> caf::result<bool> {
        try {
          job.run();
          return true;
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
        } catch (...) {
          return caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"});
        }
      },
  };
}

struct pool_state {
  std::vector<caf::actor> workers;
  std::vector<size_t> idle;  // Indexes into workers.
  std::deque<std::pair<blocking_job, caf::response_promise>> queue;
  int64_t processed = 0;
  int64_t worker_restarts = 0;
  static inline const char* name = "blocking_pool";
};

using pool_actor = caf::stateful_actor<pool_state>;

void start_job(pool_actor* self, size_t index, blocking_job job, caf::response_promise rp) {
  auto worker = self->state.workers[index];
  self->request(worker, caf::infinite, std::move(job))
      .then(
          [self, index, rp](bool) mutable {
            rp.deliver(true);
            self->send(self, pool_done_atom::value, static_cast<uint64_t>(index));
          },
          [self, index, rp](caf::error& err) mutable {
            rp.deliver(err);
            self->send(self, pool_done_atom::value, static_cast<uint64_t>(index));
          });
}

caf::actor spawn_worker(pool_actor* self) {
  auto w = self->system().spawn<caf::detached + caf::hidden>(blocking_worker);
  self->monitor(w);
  return w;
}

caf::behavior blocking_pool(pool_actor* self, caf::atom_value registry_name, size_t workers,
                            size_t max_queue) {
  quiet_handlers(self);
  for (size_t i = 0; i < workers; ++i) {
    self->state.workers.push_back(spawn_worker(self));
    self->state.idle.push_back(i);
  }
  register_self(self, registry_name);

  // Workers are detached threads: stop them explicitly, or the actor system
  // waits for them forever at shutdown.
  auto stop_workers = [self] {
    for (auto& w : self->state.workers) {
      self->demonitor(w);
      self->send_exit(w, caf::exit_reason::user_shutdown);
    }
  };
  self->set_exit_handler([self, stop_workers](caf::exit_msg& msg) {
    stop_workers();
    self->quit(msg.reason);
  });

  // A worker that died (its thread crashed out of a job) is replaced in place.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (size_t i = 0; i < st.workers.size(); ++i) {
      if (st.workers[i].address() == msg.source) {
        st.workers[i] = spawn_worker(self);
        ++st.worker_restarts;
      }
    }
  });

  return {
      [self, max_queue](blocking_job& job) -> caf::result<bool> {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        if (!st.idle.empty()) {
          auto index = st.idle.back();
          st.idle.pop_back();
          start_job(self, index, std::move(job), rp);
          return rp;
        }
        if (st.queue.size() >= max_queue) {
          return overloaded_error();
        }
        st.queue.emplace_back(std::move(job), rp);
        return rp;
      },
      [self](pool_done_atom, uint64_t index) {
        auto& st = self->state;
        ++st.processed;
        if (st.queue.empty()) {
          st.idle.push_back(static_cast<size_t>(index));
          return;
        }
        auto next = std::move(st.queue.front());
        st.queue.pop_front();
        start_job(self, static_cast<size_t>(index), std::move(next.first), next.second);
      },
      [self](stats_atom) {
        auto& st = self->state;
        return actor_stats{static_cast<int64_t>(self->mailbox().size() + st.queue.size()),
                           st.processed};
      },
  };
}

}  // namespace

child_spec blocking_pool_child(std::string name, caf::atom_value registry_name, size_t workers,
                               size_t max_queue) {
  child_spec spec;
  spec.id = std::move(name);
  spec.kind = "blocking_pool";
  spec.restart = restart_type::permanent;
  spec.start = [registry_name, workers, max_queue](caf::local_actor* parent) {
    return parent->system().spawn(blocking_pool, registry_name, workers, max_queue);
  };
  return spec;
}

blocking_failure classify(const caf::error& err, std::string& message) {
  if (err.category() == pool_category) {
    message = "too much work queued; try again later";
    return blocking_failure::overloaded;
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        message = "the operation timed out";
        return blocking_failure::timeout;
      case caf::sec::request_receiver_down:
        message = "worker pool is restarting";
        return blocking_failure::unavailable;
      case caf::sec::runtime_error:
        message = err.context().match_elements<std::string>() ? err.context().get_as<std::string>(0)
                                                              : std::string{"the operation failed"};
        return blocking_failure::threw;
      default:
        break;
    }
  }
  message = "the operation failed";
  return blocking_failure::unavailable;
}

}  // namespace sb::actors
