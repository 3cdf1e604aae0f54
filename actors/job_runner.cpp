#include "actors/job_runner.hpp"

#include "actors/blocking_pool.hpp"
#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "observability/log.hpp"
#include "observability/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <random>

namespace sb::actors {

namespace jobs = persistence::jobs;

namespace {

using claim_atom = caf::atom_constant<caf::atom("claim")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using rescue_atom = caf::atom_constant<caf::atom("rescue")>;
using renew_atom = caf::atom_constant<caf::atom("renew")>;

double uniform() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
}

void count_outcome(const std::string& kind, const char* outcome) {
  observability::metrics()
      .counter_of("switchboard_jobs_total", "Job attempts finished, by kind and outcome",
                  {{"kind", kind}, {"outcome", outcome}})
      .inc();
}

// -- one job -----------------------------------------------------------------

struct job_state {
  jobs::job_record job;
  bool finished = false;
  static inline const char* name = "job";
};

using job_actor = caf::stateful_actor<job_state>;

// Completes or fails the attempt (fenced by the owner), then stops; the
// dispatcher sees the actor go down.
void finish(job_actor* self, const std::shared_ptr<services>& svc, const std::string& owner,
            std::string error) {
  auto& st = self->state;
  if (st.finished) {
    return;
  }
  st.finished = true;
  auto id = st.job.id;
  auto kind = st.job.kind;
  auto done = [self](auto&&) { self->quit(); };
  if (error.empty()) {
    count_outcome(kind, "completed");
    run_on_database<bool>(
        self, svc, false,
        [id, owner](persistence::connection& c) { return jobs::complete(c, id, owner, now_ms()); },
        done);
    return;
  }
  SB_LOG(actors, warn, (observability::log_context{{}, {}, "job", {}}),
         "job attempt failed id={} kind={} attempt={} error={}", id, kind, st.job.attempt, error);
  count_outcome(kind, "failed");
  auto u = uniform();
  run_on_database<jobs::fail_outcome>(
      self, svc, false,
      [id, owner, error, u](persistence::connection& c) {
        return jobs::fail(c, id, owner, error, now_ms(), u);
      },
      done);
}

caf::behavior job(job_actor* self, std::shared_ptr<services> svc,
                  std::shared_ptr<const job_kinds> kinds, std::string owner,
                  jobs::job_record record, job_runner_options options) {
  quiet_handlers(self);
  self->state.job = std::move(record);
  const auto& j = self->state.job;
  auto* handler = kinds->handler(j.kind);
  if (!handler) {
    finish(self, svc, owner, "no handler for job kind " + j.kind);
    return {[](stats_atom) { return actor_stats{}; }};
  }

  // The attempt: a handler that throws or overruns fails this attempt only.
  auto fn = *handler;
  auto copy = j;
  auto work = [svc, fn, copy]() -> job_result {
    auto lease = svc->database->acquire();
    if (!lease) {
      return {"database unavailable: " + lease.error().message};
    }
    return fn(copy, **lease);
  };
  run_blocking<job_result>(self, svc->lookup(names::db), kinds->timeout(j.kind), false,
                           std::move(work), [self, svc, owner](blocking_outcome<job_result> out) {
                             std::string error = out.value ? out.value->error : out.message;
                             if (out.failure == blocking_failure::threw) {
                               error = "handler threw: " + out.message;
                             }
                             finish(self, svc, owner, std::move(error));
                           });

  // Keeps the lease while the handler runs; a lost lease (cancelled, or
  // rescued after a stall) ends the actor, and the fence refuses its result.
  auto every = options.lease / 3;
  self->delayed_send(self, every, renew_atom::value);
  return {
      [self, svc, owner, options, every](renew_atom) {
        if (self->state.finished) {
          return;
        }
        auto id = self->state.job.id;
        auto lease_ms = options.lease.count();
        run_on_database<bool>(
            self, svc, false,
            [id, owner, lease_ms](persistence::connection& c) {
              return jobs::renew(c, id, owner, lease_ms, now_ms());
            },
            [self, every](persistence::db_result<bool> kept) {
              if (kept && !*kept && !self->state.finished) {
                self->state.finished = true;
                self->quit();
                return;
              }
              self->delayed_send(self, every, renew_atom::value);
            });
      },
      [self](stats_atom) { return current_stats(self, 0); },
  };
}

// -- the dispatcher ------------------------------------------------------------

struct dispatcher_state {
  std::string owner;  // Fences this process's attempts: node and incarnation.
  size_t running = 0;
  bool claiming = false;
  bool poll_pending = false;  // At most one timer chain: finished jobs also claim.
  int64_t claimed = 0;
  static inline const char* name = "job_dispatcher";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

// Claims again after the poll interval, unless a poll is already due.
void schedule_poll(dispatcher_actor* self, const job_runner_options& options) {
  if (!self->state.poll_pending) {
    self->state.poll_pending = true;
    self->delayed_send(self, options.poll, poll_atom::value);
  }
}

void claim(dispatcher_actor* self, const std::shared_ptr<services>& svc,
           const std::shared_ptr<const job_kinds>& kinds, const job_runner_options& options) {
  auto& st = self->state;
  if (st.claiming || st.running >= options.concurrency) {
    return;
  }
  st.claiming = true;
  auto owner = st.owner;
  auto names_list = kinds->names();
  auto limit = static_cast<int64_t>(options.concurrency - st.running);
  auto lease_ms = options.lease.count();
  run_on_database<std::vector<jobs::job_record>>(
      self, svc, false,
      [owner, names_list, limit, lease_ms](persistence::connection& c) {
        return jobs::claim(c, owner, names_list, limit, lease_ms, now_ms());
      },
      [self, svc, kinds, options,
       limit](persistence::db_result<std::vector<jobs::job_record>> got) {
        auto& st = self->state;
        st.claiming = false;
        auto sup = svc->lookup(names::jobs);
        if (!got || got->empty() || !sup) {
          schedule_poll(self, options);
          return;
        }
        for (auto& record : *got) {
          ++st.running;
          ++st.claimed;
          child_spec spec;
          spec.id = "job:" + record.id + ":" + std::to_string(record.attempt);
          spec.kind = "job";
          spec.restart = restart_type::temporary;
          spec.start = [svc, kinds, owner = st.owner, record, options](caf::local_actor* p) {
            return p->system().spawn(job, svc, kinds, owner, record, options);
          };
          // If the job cannot be started, its lease runs out and the rescuer
          // makes it available again.
          self->request(sup, std::chrono::seconds(5), start_child_atom::value, std::move(spec))
              .then([self](caf::actor& job_actor) { self->monitor(job_actor); },
                    [self](caf::error&) { --self->state.running; });
        }
        // A full batch suggests more work is waiting.
        if (static_cast<int64_t>(got->size()) == limit) {
          self->send(self, claim_atom::value);
        } else {
          schedule_poll(self, options);
        }
      });
}

caf::behavior dispatcher(dispatcher_actor* self, std::shared_ptr<services> svc,
                         std::shared_ptr<const job_kinds> kinds, job_runner_options options) {
  quiet_handlers(self);
  self->set_down_handler([self, svc, kinds, options](caf::down_msg&) {
    if (self->state.running > 0) {
      --self->state.running;
    }
    claim(self, svc, kinds, options);
  });
  self->state.owner = "node:" + new_id("run");
  self->send(self, claim_atom::value);
  self->send(self, rescue_atom::value);
  return {
      [self, svc, kinds, options](claim_atom) { claim(self, svc, kinds, options); },
      [self, svc, kinds, options](poll_atom) {
        self->state.poll_pending = false;
        claim(self, svc, kinds, options);
      },
      [self, svc, options](rescue_atom) {
        self->delayed_send(self, options.rescue, rescue_atom::value);
        run_on_database<int64_t>(
            self, svc, false,
            [](persistence::connection& c) { return jobs::rescue_expired(c, now_ms()); },
            [](persistence::db_result<int64_t> n) {
              if (n && *n > 0) {
                SB_LOG(actors, warn, {}, "rescued jobs with expired leases count={}", *n);
              }
            });
      },
      [self](stats_atom) { return current_stats(self, self->state.claimed); },
  };
}

}  // namespace

void job_kinds::add(std::string kind, job_handler handler, std::chrono::milliseconds timeout) {
  kinds_[std::move(kind)] = entry{std::move(handler), timeout};
}

std::vector<std::string> job_kinds::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : kinds_) {
    out.push_back(name);
  }
  return out;
}

const job_handler* job_kinds::handler(const std::string& kind) const {
  auto i = kinds_.find(kind);
  return i == kinds_.end() ? nullptr : &i->second.handler;
}

std::chrono::milliseconds job_kinds::timeout(const std::string& kind) const {
  auto i = kinds_.find(kind);
  return i == kinds_.end() ? std::chrono::milliseconds{0} : i->second.timeout;
}

std::shared_ptr<const job_kinds> standard_job_kinds(bool debug) {
  auto kinds = std::make_shared<job_kinds>();
  kinds->add(
      "noop", [](const jobs::job_record&, persistence::connection&) { return job_result{}; },
      std::chrono::seconds(30));
  if (debug) {
    // Applies its effect and completes the job in one transaction, so a
    // crash anywhere leaves either both or neither.
    kinds->add(
        "debug.effect",
        [](const jobs::job_record& j, persistence::connection& conn) {
          auto owner = j.lease_owner.value_or("");
          std::string error;
          auto st = persistence::in_transaction(conn, [&](persistence::connection& c) {
            auto kept = jobs::complete(c, j.id, owner, now_ms());
            if (!kept) {
              return persistence::db_status{kept.error()};
            }
            if (!*kept) {
              error = "the lease was lost before the effect";
              return persistence::db_status{persistence::done{}};
            }
            auto applied =
                c.execute("INSERT INTO debug_job_effects (job_id, applied_at) VALUES (?, ?)",
                          {j.id, now_ms()});
            if (!applied) {
              return persistence::db_status{applied.error()};
            }
            return persistence::db_status{persistence::done{}};
          });
          if (!st) {
            return job_result{"effect not applied: " + st.error().message};
          }
          return job_result{error};
        },
        std::chrono::seconds(30));
    kinds->add(
        "debug.fail",
        [](const jobs::job_record&, persistence::connection&) {
          return job_result{"this job kind always fails"};
        },
        std::chrono::seconds(30));
  }
  return kinds;
}

child_spec job_dispatcher_child(std::shared_ptr<services> svc,
                                std::shared_ptr<const job_kinds> kinds,
                                job_runner_options options) {
  child_spec spec;
  spec.id = "job_dispatcher";
  spec.kind = "job_dispatcher";
  spec.start = [svc, kinds, options](caf::local_actor* parent) {
    return parent->system().spawn(dispatcher, svc, kinds, options);
  };
  return spec;
}

}  // namespace sb::actors
