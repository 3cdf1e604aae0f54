#include "actors/session.hpp"

#include "actors/blocking_pool.hpp"
#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/handlers/cache_tags.hpp"
#include "actors/handlers/crud.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/import/upload_sink.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"
#include "observability/log.hpp"
#include "persistence/repositories/accounts.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace sb::actors {

namespace {

using idle_check_atom = caf::atom_constant<caf::atom("idlecheck")>;
using cache_miss_atom = caf::atom_constant<caf::atom("cachemiss")>;
using steady = std::chrono::steady_clock;

struct session_state {
  session_info info;
  steady::time_point last_request = steady::now();
  bool idle_check_pending = false;
  bool logged_out = false;
  std::string request_id;  // Of the request being handled, for failure logs.
  std::string trace_id;
  std::string me_body;  // Rendered once: GET /v1/me needs no database.
  int64_t processed = 0;
  static inline const char* name = "session";
};

using session_actor = caf::stateful_actor<session_state>;

/// The outcome of a handler run on a database worker.
struct handler_result {
  api_response response;
  std::vector<event> events;
};

std::string render_me(const session_info& s) {
  nlohmann::json body = {
      {"user",
       {{"id", s.user_id},
        {"email", s.email},
        {"name", s.name},
        {"created_at", rfc3339(s.user_created_at)}}},
      {"workspace", {{"id", s.workspace_id}, {"name", s.workspace_name}, {"role", s.role}}},
      {"session", {{"expires_at", rfc3339(s.expires_at)}}},
  };
  return body.dump();
}

api_response failure_response(blocking_failure f, const std::string& message,
                              const std::string& rid) {
  if (f == blocking_failure::timeout) {
    return problem(504, "the database did not answer in time", rid);
  }
  auto res = problem(503, message, rid);
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

// Unregisters first, then queues a passivate message behind everything
// already routed here, so no accepted request is dropped.
void begin_passivation(session_actor* self, const std::shared_ptr<services>& svc) {
  svc->sessions.erase(self->state.info.token_hash, caf::actor_cast<caf::actor>(self));
  self->send(self, passivate_atom::value);
}

// Only requests count as activity: ops probes (stats) must not keep an idle
// session alive, so CAF's behavior timeout, which any message re-arms, is
// not used here.
void schedule_idle_check(session_actor* self, steady::duration in) {
  if (!self->state.idle_check_pending) {
    self->state.idle_check_pending = true;
    self->delayed_send(self, in, idle_check_atom::value);
  }
}

void publish(session_actor* self, const std::shared_ptr<services>& svc,
             std::vector<event>& events) {
  if (events.empty()) {
    return;
  }
  auto hub = svc->lookup(names::events);
  if (!hub) {
    return;
  }
  for (auto& e : events) {
    self->send(hub, publish_atom::value, std::move(e));
  }
}

void run_handler(session_actor* self, const std::shared_ptr<services>& svc, api_request request,
                 reply_handle reply, handlers::handler fn,
                 std::optional<std::string> password_hash) {
  auto info = self->state.info;
  auto work = [svc, info, request, fn, password_hash]() -> handler_result {
    // Pooled connections can have died while idle (database restart,
    // backends killed). A read that finds a dead one runs again on the next,
    // up to a fresh one; a write does not, since it may have committed.
    const size_t attempts = request.method == "GET" ? svc->settings.database_pool + 1 : 1;
    for (size_t attempt = 1;; ++attempt) {
      auto lease = svc->database->acquire();
      if (!lease) {
        return {handlers::db_failure(lease.error(), request.request_id), {}};
      }
      handlers::handler_context ctx{request, info, **lease, svc->settings, {}, password_hash, svc};
      auto res = fn(ctx);
      if ((*lease)->broken() && attempt < attempts) {
        continue;
      }
      res.workspace_id = info.workspace_id;
      return {std::move(res), std::move(ctx.events)};
    }
  };
  // Ordered: this session handles nothing else until the handler is done.
  run_blocking<handler_result>(
      self, svc->lookup(names::db), svc->db_timeout, true, std::move(work),
      [self, svc, reply](blocking_outcome<handler_result> out) {
        if (out.value) {
          // Events first: a writer told "done" may count on its event being
          // on its way, e.g. to a stream that is about to close.
          publish(self, svc, out.value->events);
          reply.deliver(std::move(out.value->response));
          return;
        }
        if (out.failure == blocking_failure::threw) {
          // The handler threw: fail this request and this actor only; the
          // sessions supervisor starts a fresh one.
          SB_LOG(actors, err,
                 (observability::log_context{
                     reply.request_id(), {}, "session", self->state.info.workspace_id}),
                 "handler failed, restarting the session: {}", out.message);
          reply.deliver(problem(500, "the request handler failed", reply.request_id()));
          self->quit(caf::exit_reason::unhandled_exception);
          return;
        }
        reply.deliver(failure_response(out.failure, out.message, reply.request_id()));
      });
}

// argon2id is slow on purpose: it runs on the crypto pool, so that it never
// holds a database worker, and the handler follows in order.
void hash_then_run(session_actor* self, const std::shared_ptr<services>& svc, api_call& call,
                   handlers::handler fn) {
  auto request = std::move(call.request);
  auto reply = call.reply;
  auto cost = svc->settings.password_hash;
  auto body = request.body;
  auto work = [body, cost]() -> std::optional<std::string> {
    handlers::json_refusal why;
    auto parsed = handlers::parse_json(body, why);
    // Only a password the handler will accept is worth the work; it reports
    // what is wrong with any other body.
    if (!parsed || !parsed->is_object() || !parsed->contains("password") ||
        !(*parsed)["password"].is_string()) {
      return std::nullopt;
    }
    const auto& password = (*parsed)["password"].get_ref<const std::string&>();
    if (password.size() < 8 || password.size() > 256) {
      return std::nullopt;
    }
    return hash_password(password, cost);
  };
  run_blocking<std::optional<std::string>>(
      self, svc->lookup(names::crypto), svc->db_timeout, true, std::move(work),
      [self, svc, request, reply, fn](blocking_outcome<std::optional<std::string>> out) mutable {
        if (!out.value) {
          reply.deliver(failure_response(out.failure, out.message, reply.request_id()));
          return;
        }
        run_handler(self, svc, std::move(request), reply, fn, std::move(*out.value));
      });
}

void logout(session_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  auto hash = self->state.info.token_hash;
  auto reply = call.reply;
  run_on_database<bool>(
      self, svc, true,
      [hash](persistence::connection& conn) {
        return persistence::accounts::delete_session(conn, hash);
      },
      [self, svc, reply](persistence::db_result<bool> gone) {
        if (!gone) {
          reply.deliver(handlers::db_failure(gone.error(), reply.request_id()));
          return;
        }
        // The token is dead before the client hears so: no request sent
        // after the 204 may still reach this session and be served.
        self->state.logged_out = true;
        begin_passivation(self, svc);
        // Streams opened with this token end with it.
        if (auto hub = svc->lookup(names::events)) {
          self->send(hub, revoke_atom::value, self->state.info.token_hash);
        }
        reply.deliver(handlers::no_content());
      });
}

// Runs a route's handler on a database worker.
void run_route(session_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  const auto& route = call.request.route;
  auto fn = handlers::find_handler(route);
  if (!fn) {
    call.reply.deliver(problem(404, "no such route", call.request.request_id));
    return;
  }
  if (!handlers::needs_password_hash(route)) {
    run_handler(self, svc, std::move(call.request), call.reply, fn, std::nullopt);
    return;
  }
  hash_then_run(self, svc, call, fn);
}

// GET of one contact, deal or video: a current entry in the read cache's
// first level is answered from there, without a database worker (the cache
// first makes sure it has heard every write announced before, as a handler's
// read would). Anything else comes back as cache_miss and runs the handler.
bool read_from_cache(session_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  auto noun = handlers::cached_entity_noun(call.request.route);
  if (noun.empty() || !svc->cache || call.request.params.size() != 1) {
    return false;
  }
  const auto& ws = self->state.info.workspace_id;
  auto key = handlers::entity_key(noun, ws, call.request.params[0]);
  svc->cache->peek(std::string{noun}, key, handlers::entity_scopes(noun, ws),
                   [me = caf::actor_cast<caf::actor>(self), call, noun,
                    ws](std::optional<persistence::cache_entry> entry) mutable {
                     if (!entry) {
                       caf::anon_send(me, cache_miss_atom::value, std::move(call));
                       return;
                     }
                     auto res =
                         handlers::cached_entity_response(*entry, noun, call.request.request_id);
                     res.workspace_id = ws;
                     call.reply.deliver(std::move(res));
                   });
  return true;
}

caf::behavior session(session_actor* self, std::shared_ptr<services> svc, session_info info) {
  self->state.info = std::move(info);
  self->state.me_body = render_me(self->state.info);
  svc->sessions.put(self->state.info.token_hash, caf::actor_cast<caf::actor>(self),
                    self->state.info.user_id);
  auto hash = self->state.info.token_hash;
  self->attach_functor([svc, hash, me = caf::actor_cast<caf::actor>(self)](const caf::error&) {
    svc->sessions.erase(hash, me);
  });
  quiet_handlers(self);
  self->set_exception_handler([self](caf::scheduled_actor*, std::exception_ptr& eptr) {
    auto& st = self->state;
    log_exception(self, eptr, {st.request_id, st.trace_id, {}, st.info.workspace_id});
    return caf::error{caf::exit_reason::unhandled_exception};
  });
  schedule_idle_check(self, svc->settings.session_idle);

  return {
      [self, svc](api_call& call) {
        auto& st = self->state;
        ++st.processed;
        st.last_request = steady::now();
        st.request_id = call.request.request_id;
        st.trace_id = call.request.trace_id;
        schedule_idle_check(self, svc->settings.session_idle);
        const auto& route = call.request.route;
        if (st.logged_out || now_ms() >= st.info.expires_at) {
          auto res = problem(401, "the session has ended; log in again", call.request.request_id);
          res.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
          call.reply.deliver(std::move(res));
          begin_passivation(self, svc);
          return;
        }
        if (route == "me.get") {
          api_response res;
          res.body = st.me_body;
          res.workspace_id = st.info.workspace_id;
          call.reply.deliver(std::move(res));
          return;
        }
        if (route == "events.stream") {
          auto hub = svc->lookup(names::events);
          if (!hub || !call.stream) {
            call.reply.deliver(
                problem(503, "events are restarting; retry", call.request.request_id));
            return;
          }
          self->send(hub, subscribe_atom::value, st.info.workspace_id, st.info.token_hash,
                     st.info.expires_at, call.stream);
          api_response res;
          res.status = 101;
          res.workspace_id = st.info.workspace_id;
          call.reply.deliver(std::move(res));
          return;
        }
        if (route == "auth.logout") {
          logout(self, svc, call);
          return;
        }
        if (route == "contacts.import") {
          imports::open_import_upload(svc, st.info, call);
          return;
        }
        if (route == "debug.crash") {
          if (!svc->settings.debug_routes) {
            call.reply.deliver(problem(404, "no such route", call.request.request_id));
            return;
          }
          // Deliberately escapes the handler: CAF terminates this actor, the
          // dropped reply answers 500, and the supervisor restarts the session.
          // TODO: requests already queued behind a crash die with it (500);
          // handing them to the restarted session needs a mailbox that
          // outlives the actor.
          throw std::runtime_error("crash requested through the debug route");
        }
        if (read_from_cache(self, svc, call)) {
          return;
        }
        run_route(self, svc, call);
      },
      [self, svc](cache_miss_atom, api_call& call) { run_route(self, svc, call); },
      [self](stats_atom) { return current_stats(self, self->state.processed); },
      [self](passivate_atom) { self->quit(); },
      [self, svc](idle_check_atom) {
        auto& st = self->state;
        st.idle_check_pending = false;
        auto idle = steady::now() - st.last_request;
        if (idle >= svc->settings.session_idle) {
          begin_passivation(self, svc);
        } else {
          schedule_idle_check(self, svc->settings.session_idle - idle);
        }
      },
  };
}

}  // namespace

child_spec session_child(std::shared_ptr<services> svc, session_info info, std::string id) {
  child_spec spec;
  spec.id = std::move(id);
  spec.kind = "session";
  spec.restart = restart_type::transient;
  spec.shutdown = std::chrono::milliseconds{1000};
  spec.start = [svc, info](caf::local_actor* parent) {
    return parent->system().spawn(session, svc, info);
  };
  return spec;
}

}  // namespace sb::actors
