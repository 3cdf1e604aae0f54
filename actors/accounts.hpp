#pragma once

// Sign-up and login. Hashing runs on the crypto pool and storage on the
// database pool, so neither blocks an actor thread or the other.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"

#include <memory>

namespace sb::actors {

/// A child spec for the accounts actor.
child_spec accounts_child(std::shared_ptr<services> svc);

}  // namespace sb::actors
