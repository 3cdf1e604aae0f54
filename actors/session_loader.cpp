#include "actors/session_loader.hpp"

#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/handlers/cache_tags.hpp"
#include "actors/session.hpp"
#include "actors/worker.hpp"
#include "observability/log.hpp"
#include "persistence/repositories/accounts.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <nlohmann/json.hpp>

#include <unordered_map>
#include <vector>

namespace sb::actors {

namespace {

using lookup_result = persistence::db_result<std::optional<session_info>>;

struct loader_state {
  // Calls waiting for the same token, answered together once it is loaded.
  std::unordered_map<std::string, std::vector<api_call>> pending;
  uint64_t started = 0;
  int64_t processed = 0;
  static inline const char* name = "session_loader";
};

using loader_actor = caf::stateful_actor<loader_state>;

session_info to_info(const persistence::session_view& v) {
  session_info s;
  s.token_hash = v.session.token_hash;
  s.user_id = v.user.id;
  s.email = v.user.email;
  s.name = v.user.name;
  s.user_created_at = v.user.created_at;
  s.workspace_id = v.workspace.id;
  s.workspace_name = v.workspace.name;
  s.role = v.role;
  s.expires_at = v.session.expires_at;
  return s;
}

// The token check through the read cache. Only what a session actor keeps
// is cached (never the password hash), and a cached session is used only
// until it expires; logout invalidates it (see actor_bridge::handle).
lookup_result find_session(const std::shared_ptr<services>& svc, persistence::connection& conn,
                           const std::string& hash) {
  std::optional<persistence::db_error> failure;
  auto load = [&] {
    auto found = persistence::accounts::find_session(conn, hash, now_ms());
    if (!found) {
      failure = found.error();
      return persistence::cache_load::failed();
    }
    if (!*found) {
      return persistence::cache_load::absent();
    }
    auto s = to_info(**found);
    nlohmann::json j = {
        {"u", s.user_id},      {"e", s.email},           {"n", s.name}, {"c", s.user_created_at},
        {"w", s.workspace_id}, {"wn", s.workspace_name}, {"r", s.role}, {"x", s.expires_at}};
    return persistence::cache_load::value(j.dump());
  };
  std::optional<persistence::cache_entry> entry;
  if (svc->cache) {
    entry = svc->cache->get("session", handlers::session_key(hash), {}, load);
  } else if (auto l = load(); l.what != persistence::cache_load::kind::failed) {
    entry = persistence::cache_entry{l.what == persistence::cache_load::kind::value, l.data};
  }
  if (!entry) {
    return *failure;
  }
  if (!entry->present) {
    return std::optional<session_info>{};
  }
  auto j = nlohmann::json::parse(entry->data, nullptr, false);
  if (!j.is_object()) {
    return std::optional<session_info>{};  // Not ours: treat the token as unknown.
  }
  session_info s;
  s.token_hash = hash;
  s.user_id = j.value("u", "");
  s.email = j.value("e", "");
  s.name = j.value("n", "");
  s.user_created_at = j.value("c", int64_t{0});
  s.workspace_id = j.value("w", "");
  s.workspace_name = j.value("wn", "");
  s.role = j.value("r", "");
  s.expires_at = j.value("x", int64_t{0});
  if (s.expires_at <= now_ms()) {
    return std::optional<session_info>{};
  }
  return std::optional<session_info>{std::move(s)};
}

std::vector<api_call> take(loader_actor* self, const std::string& hash) {
  auto i = self->state.pending.find(hash);
  if (i == self->state.pending.end()) {
    return {};
  }
  auto calls = std::move(i->second);
  self->state.pending.erase(i);
  return calls;
}

void answer_all(std::vector<api_call>& calls, uint16_t status, const char* detail) {
  for (auto& c : calls) {
    auto res = problem(status, detail, c.request.request_id);
    if (status == 401) {
      res.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    }
    if (status == 503) {
      res.headers.emplace_back("Retry-After", "1");
    }
    c.reply.deliver(std::move(res));
  }
}

void start_session(loader_actor* self, const std::shared_ptr<services>& svc,
                   const std::string& hash, session_info info) {
  auto sup = svc->lookup(names::sessions);
  if (!sup) {
    auto calls = take(self, hash);
    answer_all(calls, 503, "sessions are restarting; retry");
    return;
  }
  // Child ids must be unique among siblings, also while a passivating
  // predecessor of the same session is still on its way out.
  auto id = "session:" + info.user_id + ":" + hash.substr(0, 8) + ":" +
            std::to_string(++self->state.started);
  self->request(sup, std::chrono::seconds(5), start_child_atom::value,
                session_child(svc, std::move(info), std::move(id)))
      .then(
          [self, hash](caf::actor session) {
            for (auto& c : take(self, hash)) {
              self->send(session, std::move(c));
            }
          },
          [self, hash](caf::error& err) {
            SB_LOG(actors, warn, {}, "a session could not be started: {}",
                   self->system().render(err));
            auto calls = take(self, hash);
            answer_all(calls, 503, "the session could not be started; retry");
          });
}

caf::behavior session_loader(loader_actor* self, std::shared_ptr<services> svc) {
  quiet_handlers(self);
  register_self(self, names::loader);
  return {
      [self, svc](api_call& call) {
        ++self->state.processed;
        auto hash = token_hash(call.request.token);
        // The session may have come up since the gateway looked.
        if (svc->sessions.send(hash, call)) {
          return;
        }
        auto& waiting = self->state.pending[hash];
        waiting.push_back(std::move(call));
        if (waiting.size() > 1) {
          return;
        }
        run_on_database<std::optional<session_info>>(
            self, svc, false,
            [svc, hash](persistence::connection& conn) { return find_session(svc, conn, hash); },
            [self, svc, hash](lookup_result found) {
              if (!found) {
                auto calls = take(self, hash);
                answer_all(calls, 503, "the database is unavailable; try again");
                return;
              }
              if (!*found) {
                auto calls = take(self, hash);
                answer_all(calls, 401, "the token is not valid; log in again");
                return;
              }
              start_session(self, svc, hash, std::move(**found));
            });
      },
      [self](stats_atom) { return current_stats(self, self->state.processed); },
  };
}

}  // namespace

child_spec session_loader_child(std::shared_ptr<services> svc) {
  child_spec spec;
  spec.id = "session_loader";
  spec.kind = "session_loader";
  spec.start = [svc](caf::local_actor* parent) {
    return parent->system().spawn(session_loader, svc);
  };
  return spec;
}

}  // namespace sb::actors
