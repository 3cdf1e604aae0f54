#pragma once

// The actor side of Switchboard: the actor system, the supervision tree and
// the api_service the gateway calls into.

#include "actors/api.hpp"
#include "config/settings.hpp"

#include <functional>
#include <memory>
#include <string>

namespace sb::actors {

/// Owns the actor system and the supervision tree.
class application {
 public:
  explicit application(config::settings settings);
  ~application();

  /// Connects to the database, applies migrations and starts the tree.
  /// Blocking; call from main before serving. False with `error` set on failure.
  bool start(std::string& error);

  /// The service the gateway hands requests to.
  api_service& api();

  /// Called (from an actor thread) if the root supervisor gives up.
  void on_root_failure(std::function<void(std::string)> fn);

  /// Stops the tree (children in reverse order) and the actor system.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sb::actors
