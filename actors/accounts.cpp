#include "actors/accounts.hpp"

#include "actors/blocking_pool.hpp"
#include "actors/database_work.hpp"
#include "actors/handlers/accounts.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

namespace sb::actors {

namespace {

using user_lookup = persistence::db_result<std::optional<persistence::user_record>>;

struct accounts_state {
  int64_t processed = 0;
  static inline const char* name = "accounts";
};

using accounts_actor = caf::stateful_actor<accounts_state>;

api_response unavailable(const std::string& message, const std::string& rid) {
  auto res = problem(503, message, rid);
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

void signup(accounts_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  using prepared = std::variant<api_response, handlers::signup_input>;
  auto req = std::move(call.request);
  auto reply = call.reply;
  auto cost = svc->settings.password_hash;
  run_blocking<prepared>(
      self, svc->lookup(names::crypto), svc->db_timeout, false,
      [req, cost] { return handlers::signup_prepare(req, cost); },
      [self, svc, req, reply](blocking_outcome<prepared> out) {
        if (!out.value) {
          reply.deliver(unavailable(out.message, reply.request_id()));
          return;
        }
        if (auto* res = std::get_if<api_response>(&*out.value)) {
          reply.deliver(std::move(*res));
          return;
        }
        auto in = std::get<handlers::signup_input>(std::move(*out.value));
        respond_from_database(self, svc, reply, [svc, req, in](persistence::connection& conn) {
          return handlers::signup_store(conn, req, in, svc->settings);
        });
      });
}

void login(accounts_actor* self, const std::shared_ptr<services>& svc, api_call& call) {
  auto req = std::move(call.request);
  auto reply = call.reply;
  auto parsed = handlers::login_parse(req);
  if (auto* res = std::get_if<api_response>(&parsed)) {
    reply.deliver(std::move(*res));
    return;
  }
  auto in = std::get<handlers::login_input>(std::move(parsed));

  // 1. Find the user.
  run_on_database<std::optional<persistence::user_record>>(
      self, svc, false,
      [in](persistence::connection& conn) { return handlers::login_lookup(conn, in); },
      [self, svc, req, in, reply](user_lookup found) {
        if (!found) {
          reply.deliver(handlers::db_failure(found.error(), req.request_id));
          return;
        }
        auto user = *found;

        // 2. Check the password (also when the user is unknown, for timing).
        run_blocking<bool>(
            self, svc->lookup(names::crypto), svc->db_timeout, false,
            [in, user] { return handlers::login_verify(in, user); },
            [self, svc, req, in, user, reply](blocking_outcome<bool> ok) {
              if (!ok.value) {
                reply.deliver(unavailable(ok.message, req.request_id));
                return;
              }
              if (!*ok.value) {
                reply.deliver(problem(401, "wrong email or password", req.request_id));
                return;
              }

              // 3. Open the session.
              respond_from_database(
                  self, svc, reply, [svc, req, in, user](persistence::connection& conn) {
                    return handlers::login_open_session(conn, req, *user, in, svc->settings);
                  });
            });
      });
}

caf::behavior accounts(accounts_actor* self, std::shared_ptr<services> svc) {
  quiet_handlers(self);
  register_self(self, names::accounts);
  return {
      [self, svc](api_call& call) {
        ++self->state.processed;
        if (call.request.route == "auth.signup") {
          signup(self, svc, call);
        } else if (call.request.route == "auth.login") {
          login(self, svc, call);
        } else {
          call.reply.deliver(problem(404, "no such route", call.request.request_id));
        }
      },
      [self](stats_atom) { return current_stats(self, self->state.processed); },
  };
}

}  // namespace

child_spec accounts_child(std::shared_ptr<services> svc) {
  child_spec spec;
  spec.id = "accounts";
  spec.kind = "accounts";
  spec.start = [svc](caf::local_actor* parent) { return parent->system().spawn(accounts, svc); };
  return spec;
}

}  // namespace sb::actors
