#include "actors/application.hpp"

#include "actors/accounts.hpp"
#include "actors/blocking_pool.hpp"
#include "actors/credentials.hpp"
#include "actors/event_hub.hpp"
#include "actors/handlers/cache_tags.hpp"
#include "actors/job_runner.hpp"
#include "actors/messages.hpp"
#include "actors/ops.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/services.hpp"
#include "actors/session_loader.hpp"
#include "actors/supervisor.hpp"
#include "observability/log.hpp"
#include "observability/metrics.hpp"
#include "persistence/migrations.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <mutex>

namespace sb::actors {

namespace {

// Routes each request to the actor that owns it. Runs on Asio threads, so it
// only looks things up and enqueues; it never waits.
class actor_bridge : public api_service {
 public:
  explicit actor_bridge(std::shared_ptr<services> svc) : svc_(std::move(svc)) {}

  void handle(api_request request, reply_handle reply) override {
    const auto& route = request.route;
    const auto& s = svc_->settings;
    auto* limiter = svc_->limiter.get();
    bool auth = route == "auth.signup" || route == "auth.login";

    // 1. Rate limits, unless this is a probe. Login and
    // signup count failures only, so that each client address gets a few
    // guesses per window; every other call counts per address and user.
    if (limiter != nullptr && !is_probe(route)) {
      std::vector<rate_limit> limits;
      if (auth && s.rate_limit_auth > 0) {
        limits.push_back({"auth:" + request.client_address, s.rate_limit_auth, s.rate_window});
      } else if (!auth) {
        if (s.rate_limit_address > 0) {
          limits.push_back({"addr:" + request.client_address, s.rate_limit_address, s.rate_window});
        }
        // The user behind a token is known once its session is live: the
        // request that brings a session back is counted per address only.
        if (s.rate_limit_user > 0 && !request.token.empty()) {
          if (auto user = svc_->sessions.user_of(token_hash(request.token)); !user.empty()) {
            limits.push_back({"user:" + user, s.rate_limit_user, s.rate_window});
          }
        }
      }
      if (!limits.empty()) {
        // The decision may come after this bridge is gone (shutdown): the
        // callback holds the services, and a bridge is just a view on them.
        limiter->count(limits, auth ? 0 : 1,
                       [svc = svc_, auth, limits, request = std::move(request),
                        reply = std::move(reply)](rate_decision d) mutable {
                         actor_bridge{svc}.after_limit(auth, std::move(limits), d,
                                                       std::move(request), std::move(reply));
                       });
        return;
      }
    }
    route_call(std::move(request), std::move(reply));
  }

 private:
  // Hands a call to the actor that owns it.
  void route_call(api_request request, reply_handle reply) {
    const auto& route = request.route;
    bool auth = route == "auth.signup" || route == "auth.login";

    // A logout ends the token's cached session before its 204 goes out,
    // so that no later request can bring the session back from the cache.
    if (route == "auth.logout" && svc_->cache && !request.token.empty()) {
      auto key = handlers::session_key(token_hash(request.token));
      svc_->cache->invalidate_locally({key});
      auto cache = svc_->cache;
      auto inner = std::move(reply);
      reply = reply_handle{inner.request_id(), [cache, key, inner](api_response res) {
                             cache->invalidate_async(
                                 {key}, [inner, res]() mutable { inner.deliver(std::move(res)); });
                           }};
    }

    if (auth) {
      forward(names::accounts, api_call{std::move(request), std::move(reply), nullptr, {}});
    } else if (route == "health.ready" || route.rfind("ops.", 0) == 0) {
      forward(names::ops, api_call{std::move(request), std::move(reply), nullptr, {}});
    } else {
      to_session(api_call{std::move(request), std::move(reply), nullptr, {}});
    }
  }

  // Routes that monitoring polls: never limited.
  static bool is_probe(const std::string& route) {
    return route == "health.ready" || route.rfind("ops.", 0) == 0;
  }

  // Runs on the Redis client's thread or inline: answers 429, or passes the
  // call on with the RateLimit headers added to whatever it answers.
  void after_limit(bool auth, std::vector<rate_limit> limits, rate_decision d, api_request request,
                   reply_handle reply) {
    bool refused = auth ? d.remaining == 0 : !d.allowed;
    auto headers = std::vector<std::pair<std::string, std::string>>{
        {"RateLimit-Limit", std::to_string(d.limit)},
        {"RateLimit-Remaining", std::to_string(d.remaining)},
        {"RateLimit-Reset", std::to_string(d.reset_seconds)},
    };
    if (refused) {
      observability::metrics()
          .counter_of("switchboard_rate_limited_total", "Requests refused with 429, by limit",
                      {{"limit", auth ? "auth" : "request"}})
          .inc();
      auto res =
          problem(429, "too many requests; retry in " + std::to_string(d.reset_seconds) + " s",
                  request.request_id);
      res.headers = std::move(headers);
      res.headers.emplace_back("Retry-After", std::to_string(d.reset_seconds));
      reply.deliver(std::move(res));
      return;
    }
    // A failed login or signup counts against the address afterwards.
    auto limiter = svc_->limiter;
    auto inner = std::move(reply);
    reply = reply_handle{inner.request_id(),
                         [inner, headers, auth, limiter, limits](api_response res) mutable {
                           if (auth && res.status >= 400 && res.status != 429 && limiter) {
                             limiter->count(limits, 1, [](rate_decision) {});
                           }
                           for (auto& h : headers) {
                             res.headers.push_back(h);
                           }
                           inner.deliver(std::move(res));
                         }};
    route_call(std::move(request), std::move(reply));
  }

 public:
  void open_events(api_request request, std::shared_ptr<event_sink> sink,
                   reply_handle reply) override {
    to_session(api_call{std::move(request), std::move(reply), std::move(sink), {}});
  }

  void open_upload(api_request request, reply_handle reply,
                   std::function<void(std::shared_ptr<body_sink>)> accept) override {
    // The session authorises the upload and opens its sink.
    api_call call{std::move(request), std::move(reply), nullptr, {}};
    call.accept_upload = std::move(accept);
    to_session(std::move(call));
  }

 private:
  void forward(caf::atom_value name, api_call call) {
    auto dest = svc_->lookup(name);
    if (!dest) {
      call.reply.deliver(problem(503, "the service is restarting; retry", call.request.request_id));
      return;
    }
    caf::anon_send(dest, std::move(call));
  }

  void to_session(api_call call) {
    if (call.request.token.empty()) {
      auto res = problem(401, "a bearer token is required", call.request.request_id);
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
      call.reply.deliver(std::move(res));
      return;
    }
    // Fast path: the session is live. Otherwise the loader brings it back.
    if (svc_->sessions.send(token_hash(call.request.token), call)) {
      return;
    }
    forward(names::loader, std::move(call));
  }

  std::shared_ptr<services> svc_;
};

// Registers each incarnation of a child under `name` as it starts, for
// children (like supervisors) that cannot register themselves.
child_spec registered(caf::atom_value name, child_spec spec) {
  spec.start = [name, start = std::move(spec.start)](caf::local_actor* parent) {
    auto child = start(parent);
    register_as(parent->system(), name, child);
    return child;
  };
  return spec;
}

job_runner_options job_options(const config::settings& s) {
  job_runner_options o;
  o.concurrency = s.job_concurrency;
  o.lease = s.job_lease;
  // Sweep for expired leases at least twice per lease.
  o.rescue = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), s.job_lease / 2);
  return o;
}

supervisor_flags flags(strategy how, int intensity, std::chrono::milliseconds period) {
  supervisor_flags f;
  f.how = how;
  f.intensity = intensity;
  f.period = period;
  return f;
}

}  // namespace

struct application::impl {
  config::settings settings;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<services> svc;
  std::unique_ptr<actor_bridge> bridge;
  caf::actor root;
  std::mutex mtx;
  std::function<void(std::string)> on_failure;
  bool stopping = false;
};

application::application(config::settings settings) : impl_(std::make_unique<impl>()) {
  impl_->settings = std::move(settings);
}

application::~application() {
  stop();
}

bool application::start(std::string& error) {
  auto& s = impl_->settings;

  // 1. The database: connect once and bring the schema up to date.
  persistence::pool_options po;
  po.connection_string = s.database;
  po.max_size = s.database_pool;
  auto pool = std::make_shared<persistence::connection_pool>(po);
  {
    auto lease = pool->acquire();
    if (!lease) {
      error = "database: " + lease.error().message;
      return false;
    }
    auto version = persistence::migrate(**lease, persistence::schema_migrations());
    if (!version) {
      error = "database migration: " + version.error().message;
      return false;
    }
    SB_LOG(persistence, info, {}, "schema ready dialect={} version={}",
           persistence::to_string((*lease)->dialect()), *version);
  }

  // 2. Redis, when configured: optional, so it may be down at start-up; the
  // client reconnects by itself and readiness reports it.
  std::shared_ptr<persistence::redis_client> redis;
  std::optional<persistence::redis_endpoint> redis_at;
  if (!s.redis.empty()) {
    auto endpoint = persistence::parse_redis_url(s.redis);
    if (!endpoint.value) {
      error = "invalid configuration: SWITCHBOARD_REDIS: " + endpoint.error;
      return false;
    }
    SB_LOG(persistence, info, {}, "redis endpoint={}", persistence::redact(*endpoint.value));
    // Reconnects come quickly: a process that lags behind the others after
    // Redis returns cannot tell them about its writes (see read_cache).
    persistence::redis_options ro;
    ro.backoff_max = std::chrono::milliseconds(250);
    redis = std::make_shared<persistence::redis_client>(*endpoint.value, ro);
    redis_at = endpoint.value;
  }

  // 2b. The read cache (Redis is its second level when configured) and the
  // rate limits (counted in Redis when configured, in process otherwise).
  persistence::cache_options co;
  co.enabled = s.cache;
  co.l1_capacity = s.cache_l1_size;
  co.l1_ttl = s.cache_l1_ttl;
  co.l2_ttl = s.cache_l2_ttl;
  co.negative_ttl = s.cache_negative_ttl;
  co.subscriber.backoff_max = std::chrono::milliseconds(250);
  auto cache = redis ? std::make_shared<persistence::read_cache>(co, redis, *redis_at)
                     : std::make_shared<persistence::read_cache>(co);
  std::shared_ptr<rate_limiter> limiter;
  if (s.rate_limit_user > 0 || s.rate_limit_address > 0 || s.rate_limit_auth > 0) {
    limiter = std::make_shared<rate_limiter>(redis);
  }

  // 3. The actor system. No INI file is read: our settings are the only
  // source of configuration.
  impl_->cfg.set("scheduler.max-threads", s.actor_threads);
  register_message_types(impl_->cfg);
  impl_->sys = std::make_unique<caf::actor_system>(impl_->cfg);
  impl_->svc = std::make_shared<services>();
  impl_->svc->settings = s;
  impl_->svc->database = pool;
  impl_->svc->redis = std::move(redis);
  impl_->svc->cache = std::move(cache);
  impl_->svc->limiter = std::move(limiter);
  impl_->svc->system = impl_->sys.get();

  // 4. The supervision tree.
  auto svc = impl_->svc;
  std::vector<child_spec> storage = {
      blocking_pool_child("db", names::db, s.database_pool, 10000),
      blocking_pool_child("crypto", names::crypto, 2, 1000),
  };
  std::vector<child_spec> gateway = {
      event_hub_child(),
      accounts_child(svc),
      session_loader_child(svc),
      ops_child(svc),
  };
  std::vector<child_spec> top = {
      supervisor_child("storage", flags(strategy::one_for_one, 5, std::chrono::seconds(10)),
                       std::move(storage)),
      supervisor_child("gateway", flags(strategy::one_for_one, 5, std::chrono::seconds(10)),
                       std::move(gateway)),
      // Sessions fail one user at a time: a crash is that user's problem,
      // and restarting every session would not cure it. So this supervisor
      // never gives up (a million restarts a second), or one user crashing
      // their session in a loop could take the whole tree down.
      registered(
          names::sessions,
          supervisor_child("sessions",
                           flags(strategy::one_for_one, 1'000'000, std::chrono::seconds(1)), {})),
      // The dispatcher and one temporary child per running job; a job's
      // failure is its attempt's, so this never gives up either.
      registered(
          names::jobs,
          supervisor_child(
              "jobs", flags(strategy::one_for_one, 1'000'000, std::chrono::seconds(1)),
              {job_dispatcher_child(svc, standard_job_kinds(s.debug_routes), job_options(s))})),
      // TODO: the HubSpot and Vimeo connections will run under this one.
      supervisor_child("integrations", flags(strategy::one_for_one, 5, std::chrono::seconds(10)),
                       {}),
  };
  impl_->root =
      spawn_supervisor(*impl_->sys, "root",
                       flags(strategy::one_for_one, 3, std::chrono::seconds(10)), std::move(top));
  register_as(*impl_->sys, names::root, impl_->root);

  // The root giving up means the process cannot serve: tell main.
  auto* owner = impl_.get();
  impl_->root->attach_functor([owner, sys = impl_->sys.get()](const caf::error& reason) {
    std::function<void(std::string)> fn;
    {
      std::lock_guard<std::mutex> guard{owner->mtx};
      if (owner->stopping) {
        return;
      }
      fn = owner->on_failure;
    }
    if (fn) {
      fn(sys->render(reason));
    }
  });

  impl_->bridge = std::make_unique<actor_bridge>(svc);
  return true;
}

api_service& application::api() {
  return *impl_->bridge;
}

void application::on_root_failure(std::function<void(std::string)> fn) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->on_failure = std::move(fn);
}

void application::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->stopping || !impl_->sys) {
      return;
    }
    impl_->stopping = true;
  }
  auto& reg = impl_->sys->registry();
  for (auto name : {names::root, names::sessions, names::jobs}) {
    reg.erase(name);
  }
  caf::anon_send_exit(impl_->root, caf::exit_reason::user_shutdown);
  impl_->root = nullptr;
  impl_->bridge.reset();
  impl_->sys->await_all_actors_done();
  impl_->svc.reset();
  impl_->sys.reset();
}

}  // namespace sb::actors
