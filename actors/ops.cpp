#include "actors/ops.hpp"

#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/jobs.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "observability/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace sb::actors {

namespace {

using json = nlohmann::json;
using sample_atom = caf::atom_constant<caf::atom("sample")>;

constexpr auto sample_interval = std::chrono::seconds(5);
constexpr auto report_timeout = std::chrono::seconds(3);

struct ops_state {
  int64_t processed = 0;
  static inline const char* name = "ops";
};

using ops_actor = caf::stateful_actor<ops_state>;

json to_json(const actor_report& r) {
  if (r.state == "omitted") {
    // The supervisor's summary of the children past ?limit=.
    auto parent = r.path.substr(0, r.path.rfind('/'));
    return {{"path", r.path},
            {"parent", parent},
            {"kind", "omitted"},
            {"omitted", r.processed},
            {"restarts", r.restarts}};
  }
  json node = {
      {"name", r.name},
      {"path", r.path},
      {"kind", r.kind},
      {"parent", r.parent.empty() ? json(nullptr) : json(r.parent)},
      {"restart_type", r.restart_type.empty() ? json(nullptr) : json(r.restart_type)},
      {"state", r.state},
      {"actor_id", r.actor_id},
      {"restarts", r.restarts},
      {"last_failure", r.last_failure.empty()
                           ? json(nullptr)
                           : json{{"reason", r.last_failure}, {"at", rfc3339(r.last_failure_at)}}},
      {"started_at", r.started_at > 0 ? json(rfc3339(r.started_at)) : json(nullptr)},
      {"uptime_ms", r.started_at > 0 ? now_ms() - r.started_at : 0},
      {"mailbox_size", r.mailbox_size >= 0 ? json(r.mailbox_size) : json(nullptr)},
      {"processed", r.processed >= 0 ? json(r.processed) : json(nullptr)},
  };
  if (!r.strategy.empty()) {
    node["strategy"] = r.strategy;
    node["children"] = json::array();
  }
  return node;
}

// Nests the flat report (parents listed before their children) into a tree.
json build_tree(const std::vector<actor_report>& reports) {
  std::map<std::string, json> nodes;
  std::vector<std::string> order;
  for (const auto& r : reports) {
    nodes[r.path] = to_json(r);
    order.push_back(r.path);
  }
  // Attach children bottom-up so every subtree is complete when moved.
  json root = nullptr;
  for (auto i = order.rbegin(); i != order.rend(); ++i) {
    auto& node = nodes[*i];
    const auto parent = node["parent"];
    if (parent.is_string() && nodes.count(parent.get<std::string>())) {
      auto& siblings = nodes[parent.get<std::string>()]["children"];
      siblings.insert(siblings.begin(), std::move(node));
    } else {
      root = std::move(node);
    }
  }
  return root;
}

void update_metrics(const std::vector<actor_report>& reports) {
  struct totals {
    double live = 0, restarts = 0, mailbox = 0;
  };
  // Kinds seen in earlier samples stay listed: when their last actor is gone
  // they read 0 instead of keeping a stale value.
  static std::mutex mtx;
  static std::map<std::string, totals> by_kind;
  std::lock_guard<std::mutex> guard{mtx};
  for (auto& [kind, t] : by_kind) {
    t = totals{};
  }
  for (const auto& r : reports) {
    if (r.state == "omitted") {
      continue;  // A summary of children left out of the report, not an actor.
    }
    auto& t = by_kind[r.kind];
    t.live += r.state == "running" ? 1 : 0;
    t.restarts += static_cast<double>(r.restarts);
    t.mailbox += r.mailbox_size > 0 ? static_cast<double>(r.mailbox_size) : 0;
  }
  auto& reg = observability::metrics();
  for (const auto& [kind, t] : by_kind) {
    observability::labels ls{{"kind", kind}};
    reg.gauge_of("switchboard_actors", "Live supervised actors by kind", ls).set(t.live);
    reg.gauge_of("switchboard_actor_restarts", "Restarts of the actors alive now, by kind", ls)
        .set(t.restarts);
    reg.gauge_of("switchboard_actor_mailbox_depth", "Queued messages by actor kind", ls)
        .set(t.mailbox);
  }
}

// Publishes the queue's depth by kind and state, and how long the oldest due
// job has waited, so that alerts need not poll /ops/jobs.
void update_queue_metrics(const persistence::jobs::queue_counts& counts) {
  static std::mutex mtx;
  static std::map<std::pair<std::string, std::string>, double> seen;
  std::lock_guard<std::mutex> guard{mtx};
  for (auto& [key, n] : seen) {
    n = 0;
  }
  for (const auto& c : counts.by_kind_state) {
    seen[{c.kind, c.state}] = static_cast<double>(c.count);
  }
  auto& reg = observability::metrics();
  for (const auto& [key, n] : seen) {
    reg.gauge_of("switchboard_jobs_queued", "Jobs in the queue by kind and state",
                 {{"kind", key.first}, {"state", key.second}})
        .set(n);
  }
  reg.gauge_of("switchboard_jobs_oldest_waiting_seconds",
               "How long the oldest due, unclaimed job has waited")
      .set(static_cast<double>(counts.oldest_waiting_age_ms) / 1000.0);
}

// The ops token guards everything but readiness; an empty setting disables
// the endpoints altogether.
std::optional<api_response> check_ops_token(const services& svc, const api_request& req) {
  if (svc.settings.ops_token.empty()) {
    return problem(403, "ops endpoints are disabled: no ops token is configured", req.request_id);
  }
  if (req.token.empty()) {
    auto res = problem(401, "an ops bearer token is required", req.request_id);
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    return res;
  }
  if (!equal_secrets(req.token, svc.settings.ops_token)) {
    return problem(403, "the ops token is wrong", req.request_id);
  }
  return std::nullopt;
}

// Children listed per supervisor unless ?limit= says otherwise: the sessions
// supervisor may hold tens of thousands.
constexpr int64_t default_children = 1000;

void supervision(ops_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  auto root = svc->lookup(names::root);
  auto reply = call.reply;
  int64_t limit = default_children;
  if (auto i = call.request.query.find("limit"); i != call.request.query.end()) {
    char* end = nullptr;
    limit = std::strtoll(i->second.c_str(), &end, 10);
    if (i->second.empty() || *end != '\0' || limit < 1 || limit > 1'000'000) {
      auto errors = json::array({{{"field", "limit"}, {"detail", "must be from 1 to 1000000"}}});
      reply.deliver(problem(422, "1 field is invalid", reply.request_id(), errors.dump()));
      return;
    }
  }
  if (!root) {
    reply.deliver(problem(503, "the supervision tree is restarting", reply.request_id()));
    return;
  }
  self->request(root, report_timeout, report_atom::value, limit)
      .then(
          [reply](std::vector<actor_report>& reports) {
            // A complete report is as good as a sample; a cut one is not.
            auto cut = std::any_of(reports.begin(), reports.end(),
                                   [](const actor_report& r) { return r.state == "omitted"; });
            if (!cut) {
              update_metrics(reports);
            }
            json body = {{"generated_at", rfc3339(now_ms())},
                         {"actors", reports.size()},
                         {"tree", build_tree(reports)}};
            api_response res;
            res.body = body.dump();
            reply.deliver(std::move(res));
          },
          [reply](caf::error&) {
            reply.deliver(
                problem(504, "the supervision tree did not answer in time", reply.request_id()));
          });
}

// Gathers the readiness checks, which finish on different threads (the
// database answer on this actor, Redis on its client's I/O thread); the last
// one to finish answers.
class readiness_probe {
 public:
  readiness_probe(reply_handle reply, int checks) : reply_(std::move(reply)), pending_(checks) {}

  /// Records the database check: empty `problem` means it answered.
  void database(std::string problem) {
    std::unique_lock<std::mutex> guard{mtx_};
    database_ = std::move(problem);
    finish(guard);
  }

  /// Records the Redis check: empty `problem` means it answered.
  void redis(std::string problem) {
    std::unique_lock<std::mutex> guard{mtx_};
    redis_ = problem.empty() ? "ok" : "degraded: " + problem;
    finish(guard);
  }

 private:
  // Only the database decides the status: Redis accelerates reads, and the
  // service answers correctly without it.
  void finish(std::unique_lock<std::mutex>& guard) {
    if (--pending_ > 0) {
      return;
    }
    bool ok = database_.empty();
    json body = {{"status", ok ? "ready" : "unavailable"},
                 {"checks", {{"database", ok ? "ok" : database_}, {"redis", redis_}}}};
    guard.unlock();
    api_response res;
    res.status = ok ? 200 : 503;
    res.body = body.dump();
    reply_.deliver(std::move(res));
  }

  std::mutex mtx_;
  reply_handle reply_;
  int pending_;
  std::string database_;
  std::string redis_ = "not configured";
};

void readiness(ops_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  auto probe = std::make_shared<readiness_probe>(call.reply, svc->redis ? 2 : 1);
  if (svc->redis) {
    svc->redis->command({"PING"}, [probe](persistence::redis_reply r) {
      probe->redis(r.is_error()
                       ? std::string{persistence::to_string(r.error_code())} + ": " + r.text()
                       : std::string{});
    });
  }
  run_on_database<bool>(
      self, svc, false,
      [](persistence::connection& conn) { return persistence::db_result<bool>{conn.ping()}; },
      [probe](persistence::db_result<bool> answered) {
        probe->database(!answered   ? answered.error().message
                        : *answered ? std::string{}
                                    : std::string{"the database does not answer"});
      },
      std::chrono::seconds(3));
}

caf::behavior ops(ops_actor* self, std::shared_ptr<services> svc) {
  quiet_handlers(self);
  register_self(self, names::ops);
  self->send(self, sample_atom::value);
  return {
      [self, svc](api_call& call) {
        ++self->state.processed;
        if (call.request.route == "health.ready") {
          readiness(self, svc, call);
          return;
        }
        if (auto denied = check_ops_token(*svc, call.request)) {
          call.reply.deliver(std::move(*denied));
          return;
        }
        if (call.request.route == "ops.supervision") {
          supervision(self, svc, call);
          return;
        }
        if (auto fn = handlers::find_ops_job_handler(call.request.route)) {
          respond_from_database(self, svc, call.reply,
                                [fn, request = std::move(call.request)](
                                    persistence::connection& conn) { return fn(request, conn); });
          return;
        }
        call.reply.deliver(problem(404, "no such route", call.request.request_id));
      },
      [self, svc](sample_atom) {
        self->delayed_send(self, sample_interval, sample_atom::value);
        if (auto root = svc->lookup(names::root)) {
          self->request(root, report_timeout, report_atom::value)
              .then([](std::vector<actor_report>& reports) { update_metrics(reports); },
                    [](caf::error&) {});
        }
        run_on_database<persistence::jobs::queue_counts>(
            self, svc, false,
            [](persistence::connection& c) { return persistence::jobs::counts(c, now_ms()); },
            [](persistence::db_result<persistence::jobs::queue_counts> got) {
              if (got) {
                update_queue_metrics(*got);
              }
            });
      },
      [self](stats_atom) { return current_stats(self, self->state.processed); },
  };
}

}  // namespace

child_spec ops_child(std::shared_ptr<services> svc) {
  child_spec spec;
  spec.id = "ops";
  spec.kind = "ops";
  spec.start = [svc](caf::local_actor* parent) { return parent->system().spawn(ops, svc); };
  return spec;
}

}  // namespace sb::actors
