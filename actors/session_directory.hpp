#pragma once

// Maps a session's token hash to its live actor, shared by the gateway
// threads (lookups) and the session actors (register, passivate).

#include "actors/api.hpp"

#include <caf/actor.hpp>

#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace sb::actors {

/// Thread-safe directory of live session actors.
class session_directory {
 public:
  /// Sends `call` to the session registered for `hash`. The send happens
  /// under the read lock, so a session that unregisters itself (exclusive
  /// lock) knows that no later call can reach it. Returns false, leaving
  /// `call` untouched, when no session is registered.
  bool send(const std::string& hash, api_call& call) const;

  /// Registers (or replaces) the actor of a session of user `user_id`.
  void put(const std::string& hash, caf::actor session, std::string user_id = {});

  /// The user of the live session registered for `hash`, or "" when none is.
  std::string user_of(const std::string& hash) const;

  /// Removes the entry only if it still names `session`.
  void erase(const std::string& hash, const caf::actor& session);

  /// Number of live sessions.
  size_t size() const;

 private:
  mutable std::shared_mutex mtx_;
  struct entry {
    caf::actor session;
    std::string user_id;
  };
  std::unordered_map<std::string, entry> sessions_;
};

}  // namespace sb::actors
