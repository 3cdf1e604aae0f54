#include "actors/job_runner.hpp"

#include "actors/blocking_pool.hpp"
#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/events.hpp"
#include "actors/handlers/jobs.hpp"
#include "actors/import/import_job.hpp"
#include "actors/messages.hpp"
#include "actors/reports/report_job.hpp"
#include "actors/worker.hpp"
#include "observability/log.hpp"
#include "observability/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include <iterator>
#include <random>
#include <thread>

namespace sb::actors {

namespace jobs = persistence::jobs;

namespace {

using claim_atom = caf::atom_constant<caf::atom("claim")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using rescue_atom = caf::atom_constant<caf::atom("rescue")>;

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

using tick_atom = caf::atom_constant<caf::atom("tick")>;

// How often a running job stores its progress, or checks its lease when it
// reports none; a cancelled job stops within about this long.
constexpr auto tick_interval = std::chrono::seconds(1);

// The latest progress a handler reported, picked up by the job actor's tick.
struct progress_slot {
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> total{0};
  std::atomic<bool> dirty{false};
};

struct job_state {
  jobs::job_record job;
  job_kind_options options;
  bool finished = false;
  bool writing = false;  // A progress or lease write is on its way.
  std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<progress_slot> progress = std::make_shared<progress_slot>();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point renewed = started;
  static inline const char* name = "job";
};

using job_actor = caf::stateful_actor<job_state>;

// Tells the job's workspace about it ("report.completed" and the like), for
// kinds registered with an event prefix.
void publish_job(job_actor* self, const std::shared_ptr<services>& svc, const char* what,
                 const jobs::job_record& j) {
  const auto& prefix = self->state.options.event_prefix;
  if (prefix.empty() || !j.workspace_id) {
    return;
  }
  auto hub = svc->lookup(names::events);
  if (!hub) {
    return;
  }
  event e{prefix + "." + what, j.id, *j.workspace_id, handlers::member_job_view(j).dump(),
          now_ms()};
  self->send(hub, publish_atom::value, std::move(e));
}

// The attempt has ended without this actor's doing (cancelled, or rescued
// after a stall): the handler is told to stop and the fence refuses its result.
void lose_lease(job_actor* self) {
  auto& st = self->state;
  st.stop->store(true);
  if (!st.finished) {
    st.finished = true;
    count_outcome(st.job.kind, "lease_lost");
    SB_LOG(actors, info, (observability::log_context{{}, {}, "job", {}}),
           "job attempt stopped: cancelled or lease lost id={} kind={}", st.job.id, st.job.kind);
    self->quit();
  }
}

void observe_duration(job_actor* self) {
  auto& st = self->state;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - st.started;
  observability::metrics()
      .histogram_of("switchboard_job_duration_seconds", "Job attempts' run time, by kind",
                    {{"kind", st.job.kind}})
      .observe(took.count());
}

// Completes or fails the attempt (fenced by the owner), then stops; the
// dispatcher sees the actor go down.
void finish(job_actor* self, const std::shared_ptr<services>& svc, const std::string& owner,
            job_result outcome) {
  auto& st = self->state;
  if (st.finished) {
    return;
  }
  st.finished = true;
  st.stop->store(true);
  observe_duration(self);
  auto id = st.job.id;
  auto kind = st.job.kind;
  if (outcome.error.empty()) {
    // A handler may have completed the job itself, in the transaction of its
    // own writes; then complete() finds nothing to do and the stored job tells.
    auto result = std::move(outcome.result);
    bool reported = st.progress->dirty.exchange(false);
    int64_t done = st.progress->done.load();
    int64_t total = st.progress->total.load();
    run_on_database<std::optional<jobs::job_details>>(
        self, svc, false,
        [id, owner, result, reported, done, total](persistence::connection& c)
            -> persistence::db_result<std::optional<jobs::job_details>> {
          // The last progress report, so that a finished job reads done/total.
          if (reported) {
            if (auto kept = jobs::set_progress(c, id, owner, done, total, now_ms()); !kept) {
              return kept.error();
            }
          }
          auto kept = jobs::complete(c, id, owner, now_ms(), result);
          if (!kept) {
            return kept.error();
          }
          return jobs::get(c, id);
        },
        [self, svc, kind, owner](persistence::db_result<std::optional<jobs::job_details>> got) {
          if (got && *got && (*got)->job.state == jobs::job_state::completed &&
              (*got)->job.lease_owner == owner) {
            count_outcome(kind, "completed");
            publish_job(self, svc, "completed", (*got)->job);
          } else if (got) {
            count_outcome(kind, "lease_lost");
          }
          self->quit();
        });
    return;
  }
  auto error = std::move(outcome.error);
  bool final = outcome.final;
  SB_LOG(actors, warn, (observability::log_context{{}, {}, "job", {}}),
         "job attempt failed id={} kind={} attempt={} error={}", id, kind, st.job.attempt, error);
  count_outcome(kind, "failed");
  auto u = uniform();
  run_on_database<std::optional<jobs::job_details>>(
      self, svc, false,
      [id, owner, error, u, final](
          persistence::connection& c) -> persistence::db_result<std::optional<jobs::job_details>> {
        auto moved =
            jobs::fail(c, id, owner, error, now_ms(), u, jobs::default_backoff_cap_ms, final);
        if (!moved) {
          return moved.error();
        }
        if (*moved != jobs::fail_outcome::dead) {
          return std::optional<jobs::job_details>{};
        }
        return jobs::get(c, id);
      },
      [self, svc, kind](persistence::db_result<std::optional<jobs::job_details>> got) {
        if (got && *got) {
          count_outcome(kind, "dead");
          publish_job(self, svc, "failed", (*got)->job);
        }
        self->quit();
      });
}

// Stores fresh progress (and tells the workspace), or renews the lease when
// it is due; either write answers false once the job was cancelled.
void tick(job_actor* self, const std::shared_ptr<services>& svc, const std::string& owner,
          const job_runner_options& options) {
  auto& st = self->state;
  if (st.finished || st.writing) {
    return;
  }
  auto now = std::chrono::steady_clock::now();
  bool report = st.progress->dirty.exchange(false);
  if (!report && now - st.renewed < options.lease / 3) {
    return;
  }
  st.writing = true;
  auto id = st.job.id;
  auto lease_ms = options.lease.count();
  int64_t done = st.progress->done.load();
  int64_t total = st.progress->total.load();
  run_on_database<bool>(
      self, svc, false,
      [id, owner, lease_ms, report, done,
       total](persistence::connection& c) -> persistence::db_result<bool> {
        // Progress writes extend the lease too, so a job that reports
        // progress needs no separate renewal.
        auto kept = jobs::renew(c, id, owner, lease_ms, now_ms());
        if (!kept || !*kept || !report) {
          return kept;
        }
        return jobs::set_progress(c, id, owner, done, total, now_ms());
      },
      [self, svc, now, report, done, total](persistence::db_result<bool> kept) {
        auto& st = self->state;
        st.writing = false;
        if (!kept) {
          return;  // The database is unwell; the lease has slack for another try.
        }
        if (!*kept) {
          lose_lease(self);
          return;
        }
        st.renewed = now;
        if (report && !st.finished) {
          auto j = st.job;
          j.progress_done = done;
          j.progress_total = total;
          j.state = jobs::job_state::running;
          publish_job(self, svc, "progress", j);
        }
      });
}

caf::behavior job(job_actor* self, std::shared_ptr<services> svc,
                  std::shared_ptr<const job_kinds> kinds, std::string owner,
                  jobs::job_record record, job_runner_options options) {
  quiet_handlers(self);
  self->state.job = std::move(record);
  self->state.options = kinds->options(self->state.job.kind);
  const auto& j = self->state.job;
  auto* handler = kinds->handler(j.kind);
  if (!handler) {
    finish(self, svc, owner, {"no handler for job kind " + j.kind, {}});
    return {[](stats_atom) { return actor_stats{}; }};
  }

  // The attempt: a handler that throws or overruns fails this attempt only.
  auto fn = *handler;
  auto copy = j;
  copy.lease_owner = owner;
  auto stop = self->state.stop;
  auto slot = self->state.progress;
  auto work = [svc, fn, copy, stop, slot]() -> job_result {
    auto lease = svc->database->acquire();
    if (!lease) {
      return {"database unavailable: " + lease.error().message, {}};
    }
    job_context ctx{copy, **lease,
                    [slot](int64_t done, int64_t total) {
                      slot->done.store(done);
                      slot->total.store(total);
                      slot->dirty.store(true);
                    },
                    stop, svc};
    return fn(ctx);
  };
  run_blocking<job_result>(self, svc->lookup(names::db), self->state.options.timeout, false,
                           std::move(work), [self, svc, owner](blocking_outcome<job_result> out) {
                             if (out.value) {
                               finish(self, svc, owner, std::move(*out.value));
                               return;
                             }
                             auto error = out.message;
                             if (out.failure == blocking_failure::threw) {
                               error = "handler threw: " + out.message;
                             } else if (out.failure == blocking_failure::timeout) {
                               error = "timed out: " + out.message;
                             }
                             finish(self, svc, owner, {std::move(error), {}});
                           });

  auto every = std::min<std::chrono::milliseconds>(tick_interval, options.lease / 3);
  self->delayed_send(self, every, tick_atom::value);
  return {
      [self, svc, owner, options, every](tick_atom) {
        if (self->state.finished) {
          return;
        }
        tick(self, svc, owner, options);
        self->delayed_send(self, every, tick_atom::value);
      },
      [self](stats_atom) { return current_stats(self, 0); },
  };
}

// -- the dispatcher ------------------------------------------------------------

struct dispatcher_state {
  std::string owner;  // Fences this process's attempts: node and incarnation.
  size_t running = 0;
  std::map<std::string, size_t> running_by_kind;
  std::map<caf::actor_addr, std::string> kind_of;  // Monitored job actors.
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

// What one claim may take: kinds without a limit of their own share the
// process-wide room, and each limited kind gets at most its own room.
struct claim_plan {
  std::vector<std::string> shared_kinds;
  std::vector<std::pair<std::string, int64_t>> limited;  // Kind and its room.
  int64_t room = 0;
};

claim_plan plan_claim(const dispatcher_state& st, const job_kinds& kinds,
                      const job_runner_options& options) {
  claim_plan plan;
  plan.room = static_cast<int64_t>(options.concurrency - st.running);
  for (const auto& kind : kinds.names()) {
    auto limit = kinds.options(kind).concurrency;
    if (limit == 0) {
      plan.shared_kinds.push_back(kind);
      continue;
    }
    auto i = st.running_by_kind.find(kind);
    size_t busy = i == st.running_by_kind.end() ? 0 : i->second;
    if (busy < limit) {
      plan.limited.emplace_back(kind, static_cast<int64_t>(limit - busy));
    }
  }
  return plan;
}

void claim(dispatcher_actor* self, const std::shared_ptr<services>& svc,
           const std::shared_ptr<const job_kinds>& kinds, const job_runner_options& options) {
  auto& st = self->state;
  if (st.claiming || st.running >= options.concurrency) {
    return;
  }
  auto plan = plan_claim(st, *kinds, options);
  if (plan.shared_kinds.empty() && plan.limited.empty()) {
    return;  // Every kind is at its limit; a finishing job claims again.
  }
  st.claiming = true;
  auto owner = st.owner;
  auto lease_ms = options.lease.count();
  run_on_database<std::vector<jobs::job_record>>(
      self, svc, false,
      [owner, plan, lease_ms](
          persistence::connection& c) -> persistence::db_result<std::vector<jobs::job_record>> {
        std::vector<jobs::job_record> got;
        auto room = plan.room;
        auto take = [&](const std::vector<std::string>& ks,
                        int64_t limit) -> persistence::db_status {
          if (ks.empty() || limit < 1) {
            return persistence::done{};
          }
          auto batch = jobs::claim(c, owner, ks, limit, lease_ms, now_ms());
          if (!batch) {
            return batch.error();
          }
          room -= static_cast<int64_t>(batch->size());
          std::move(batch->begin(), batch->end(), std::back_inserter(got));
          return persistence::done{};
        };
        if (auto st = take(plan.shared_kinds, room); !st) {
          return st.error();
        }
        for (const auto& [kind, kind_room] : plan.limited) {
          if (auto st = take({kind}, std::min(room, kind_room)); !st) {
            return got.empty() ? persistence::db_result<std::vector<jobs::job_record>>{st.error()}
                               : persistence::db_result<std::vector<jobs::job_record>>{got};
          }
        }
        return got;
      },
      [self, svc, kinds, options,
       room = plan.room](persistence::db_result<std::vector<jobs::job_record>> got) {
        auto& st = self->state;
        st.claiming = false;
        auto sup = svc->lookup(names::jobs);
        if (!got || got->empty() || !sup) {
          schedule_poll(self, options);
          return;
        }
        for (auto& record : *got) {
          ++st.running;
          ++st.running_by_kind[record.kind];
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
          auto kind = record.kind;
          self->request(sup, std::chrono::seconds(5), start_child_atom::value, std::move(spec))
              .then(
                  [self, kind](caf::actor& job_actor) {
                    self->state.kind_of[job_actor.address()] = kind;
                    self->monitor(job_actor);
                  },
                  [self, kind](caf::error&) {
                    --self->state.running;
                    --self->state.running_by_kind[kind];
                  });
        }
        // A full batch suggests more work is waiting.
        if (static_cast<int64_t>(got->size()) == room) {
          self->send(self, claim_atom::value);
        } else {
          schedule_poll(self, options);
        }
      });
}

void publish_running(const dispatcher_state& st) {
  for (const auto& [kind, n] : st.running_by_kind) {
    observability::metrics()
        .gauge_of("switchboard_jobs_running", "Job attempts running in this process, by kind",
                  {{"kind", kind}})
        .set(static_cast<double>(n));
  }
}

caf::behavior dispatcher(dispatcher_actor* self, std::shared_ptr<services> svc,
                         std::shared_ptr<const job_kinds> kinds, job_runner_options options) {
  quiet_handlers(self);
  self->set_down_handler([self, svc, kinds, options](caf::down_msg& down) {
    auto& st = self->state;
    if (st.running > 0) {
      --st.running;
    }
    if (auto i = st.kind_of.find(down.source); i != st.kind_of.end()) {
      auto& n = st.running_by_kind[i->second];
      n = n > 0 ? n - 1 : 0;
      st.kind_of.erase(i);
    }
    publish_running(st);
    claim(self, svc, kinds, options);
  });
  self->state.owner = "node:" + new_id("run");
  self->send(self, claim_atom::value);
  self->send(self, rescue_atom::value);
  return {
      [self, svc, kinds, options](claim_atom) { claim(self, svc, kinds, options); },
      [self, svc, kinds, options](poll_atom) {
        self->state.poll_pending = false;
        publish_running(self->state);
        claim(self, svc, kinds, options);
      },
      [self, svc, kinds, options](rescue_atom) {
        self->delayed_send(self, options.rescue, rescue_atom::value);
        run_on_database<int64_t>(
            self, svc, false,
            [](persistence::connection& c) { return jobs::rescue_expired(c, now_ms()); },
            [](persistence::db_result<int64_t> n) {
              if (n && *n > 0) {
                SB_LOG(actors, warn, {}, "rescued jobs with expired leases count={}", *n);
              }
            });
        // Retention: finished jobs past it go, a batch per sweep.
        auto retention =
            std::chrono::duration_cast<std::chrono::milliseconds>(svc->settings.job_retention);
        run_on_database<int64_t>(
            self, svc, false,
            [retention](persistence::connection& c) {
              return jobs::purge_finished(c, now_ms() - retention.count());
            },
            [](persistence::db_result<int64_t> n) {
              if (n && *n > 0) {
                observability::metrics()
                    .counter_of("switchboard_jobs_purged_total",
                                "Finished jobs deleted after the retention period.")
                    .inc(static_cast<double>(*n));
              }
            });
        // What the kinds keep outside the jobs table and no job needs.
        for (auto& [kind, sweep] : kinds->sweeps()) {
          run_on_database<int64_t>(
              self, svc, false, sweep, [kind = kind](persistence::db_result<int64_t> n) {
                if (n && *n > 0) {
                  SB_LOG(actors, info, {}, "swept what finished jobs left kind={} count={}", kind,
                         *n);
                } else if (!n) {
                  SB_LOG(actors, warn, {}, "sweep failed kind={} error={}", kind,
                         n.error().message);
                }
              });
        }
      },
      [self](stats_atom) { return current_stats(self, self->state.claimed); },
  };
}

}  // namespace

void job_kinds::add(std::string kind, job_handler handler, job_kind_options options) {
  kinds_[std::move(kind)] = entry{std::move(handler), std::move(options)};
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

const job_kind_options& job_kinds::options(const std::string& kind) const {
  static const job_kind_options defaults;
  auto i = kinds_.find(kind);
  return i == kinds_.end() ? defaults : i->second.options;
}

std::vector<std::pair<std::string, job_kind_options::sweep_fn>> job_kinds::sweeps() const {
  std::vector<std::pair<std::string, job_kind_options::sweep_fn>> out;
  for (const auto& [name, e] : kinds_) {
    if (e.options.sweep) {
      out.emplace_back(name, e.options.sweep);
    }
  }
  return out;
}

std::shared_ptr<const job_kinds> standard_job_kinds(bool debug) {
  auto kinds = std::make_shared<job_kinds>();
  kinds->add(
      "noop", [](job_context&) { return job_result{}; }, job_kind_options{});
  reports::add_report_jobs(*kinds);
  imports::add_import_jobs(*kinds);
  if (debug) {
    // Applies its effect and completes the job in one transaction, so a
    // crash anywhere leaves either both or neither.
    kinds->add(
        "debug.effect",
        [](job_context& ctx) {
          const auto& j = ctx.job();
          auto& conn = ctx.conn();
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
            return job_result{"effect not applied: " + st.error().message, {}};
          }
          return job_result{error, {}};
        },
        job_kind_options{});
    kinds->add(
        "debug.fail",
        [](job_context&) {
          return job_result{"this job kind always fails", {}};
        },
        job_kind_options{});
    // Works for {"steps": n, "step_ms": ms}, reporting progress after each
    // step and stopping early when cancelled: tests of progress events,
    // cancellation and per-kind limits (one at a time per process).
    job_kind_options slow;
    slow.concurrency = 1;
    slow.event_prefix = "debug";
    slow.timeout = std::chrono::minutes(5);
    kinds->add(
        "debug.slow",
        [](job_context& ctx) {
          auto payload = nlohmann::json::parse(ctx.job().payload, nullptr, false);
          int64_t steps = payload.is_object() ? payload.value("steps", 10) : 10;
          int64_t step_ms = payload.is_object() ? payload.value("step_ms", 100) : 100;
          for (int64_t i = 0; i < steps; ++i) {
            if (ctx.stopping()) {
              return job_result{"stopped at step " + std::to_string(i), {}};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
            ctx.progress(i + 1, steps);
          }
          return job_result{{}, nlohmann::json{{"steps", steps}}.dump()};
        },
        slow);
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
