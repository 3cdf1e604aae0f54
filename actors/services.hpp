#pragma once

// What the product's actors share: settings, the database pool, the session
// directory, and well-known actors looked up by name (they change when a
// supervisor restarts them).

#include "actors/session_directory.hpp"
#include "config/settings.hpp"
#include "persistence/cache/read_cache.hpp"
#include "persistence/connection_pool.hpp"
#include "persistence/redis/client.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <memory>

namespace sb::actors {

class rate_limiter;

/// Registry names of the well-known actors.
namespace names {
constexpr caf::atom_value root = caf::atom("root");
constexpr caf::atom_value db = caf::atom("db");
constexpr caf::atom_value crypto = caf::atom("crypto");
constexpr caf::atom_value events = caf::atom("events");
constexpr caf::atom_value sessions = caf::atom("sessions");
constexpr caf::atom_value jobs = caf::atom("jobs");
constexpr caf::atom_value accounts = caf::atom("accounts");
constexpr caf::atom_value loader = caf::atom("loader");
constexpr caf::atom_value ops = caf::atom("ops");
}  // namespace names

/// Shared by every product actor; thread-safe after construction.
struct services {
  config::settings settings;
  std::shared_ptr<persistence::connection_pool> database;
  /// Optional: null when no Redis is configured. Its callbacks run on its own
  /// I/O thread, never on an actor's.
  std::shared_ptr<persistence::redis_client> redis;
  /// Hot reads (L1 only without Redis); null where no cache is wanted (tests).
  std::shared_ptr<persistence::read_cache> cache;
  /// Request rate limits; null when none is configured.
  std::shared_ptr<rate_limiter> limiter;
  session_directory sessions;
  caf::actor_system* system = nullptr;

  /// The current actor registered under `name` (invalid while restarting).
  caf::actor lookup(caf::atom_value name) const;

  /// How long a database job may take before the caller gives up.
  std::chrono::milliseconds db_timeout{10000};
};

/// Registers `handle` under `name`, replacing whatever was there.
void register_as(caf::actor_system& sys, caf::atom_value name, const caf::actor& handle);

/// Registers `self` under `name` until it terminates.
void register_self(caf::scheduled_actor* self, caf::atom_value name);

}  // namespace sb::actors
