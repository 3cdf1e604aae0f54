#include "actors/event_hub.hpp"

#include "actors/credentials.hpp"
#include "actors/messages.hpp"
#include "actors/worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <unordered_map>
#include <vector>

namespace sb::actors {

namespace {

// One client's stream, tied to the session that opened it: it ends when that
// session logs out or expires.
struct subscription {
  std::weak_ptr<event_sink> sink;
  std::string token_hash;
  int64_t expires_at = 0;
};

struct hub_state {
  std::unordered_map<std::string, std::vector<subscription>> streams;
  int64_t processed = 0;
  static inline const char* name = "event_hub";
};

using hub_actor = caf::stateful_actor<hub_state>;

caf::behavior event_hub(hub_actor* self) {
  quiet_handlers(self);
  register_self(self, names::events);
  // Clients keep no state here: when the hub stops, tell them to reconnect
  // (1012 "service restart") instead of leaving them silently subscribed
  // to nothing.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [ws, sinks] : self->state.streams) {
      for (auto& sub : sinks) {
        if (auto sink = sub.sink.lock()) {
          sink->close(1012, "event hub restarting");
        }
      }
    }
    self->quit(msg.reason);
  });
  return {
      [self](subscribe_atom, const std::string& workspace_id, const std::string& token_hash,
             int64_t expires_at, std::shared_ptr<event_sink> sink) {
        self->state.streams[workspace_id].push_back({sink, token_hash, expires_at});
      },
      [self](revoke_atom, const std::string& token_hash) {
        // A logout: close every stream the token opened, in any workspace.
        for (auto& [ws, subs] : self->state.streams) {
          std::erase_if(subs, [&](const subscription& sub) {
            if (sub.token_hash != token_hash) {
              return false;
            }
            if (auto sink = sub.sink.lock()) {
              sink->close(1008, "logged out");
            }
            return true;
          });
        }
      },
      [self](publish_atom, const event& e) {
        ++self->state.processed;
        auto i = self->state.streams.find(e.workspace_id);
        if (i == self->state.streams.end()) {
          return;
        }
        // One rendering shared by every client of the workspace.
        auto frame = std::make_shared<const std::string>(to_json(e));
        auto now = now_ms();
        auto& subs = i->second;
        std::erase_if(subs, [&](const subscription& sub) {
          auto sink = sub.sink.lock();
          if (sink && now >= sub.expires_at) {
            sink->close(1008, "session expired");
            return true;
          }
          return !sink || !sink->push(frame);
        });
        if (subs.empty()) {
          self->state.streams.erase(i);
        }
      },
      [self](stats_atom) { return current_stats(self, self->state.processed); },
  };
}

}  // namespace

child_spec event_hub_child() {
  child_spec spec;
  spec.id = "event_hub";
  spec.kind = "event_hub";
  spec.start = [](caf::local_actor* parent) { return parent->system().spawn(event_hub); };
  return spec;
}

}  // namespace sb::actors
