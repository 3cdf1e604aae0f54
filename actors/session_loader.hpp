#pragma once

// Brings sessions back: a request whose token has no live session actor
// comes here; the loader checks the token in the database and starts the
// session under the sessions supervisor, or answers 401.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"

#include <memory>

namespace sb::actors {

/// A child spec for the session loader.
child_spec session_loader_child(std::shared_ptr<services> svc);

}  // namespace sb::actors
