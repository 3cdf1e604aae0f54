#pragma once

// One actor per logged-in session. It answers its user's requests one at a
// time, in arrival order, keeps the user in memory, and passivates after an
// idle period; the next request brings it back from the database.

#include "actors/services.hpp"
#include "actors/session_info.hpp"
#include "actors/supervisor.hpp"

#include <memory>

namespace sb::actors {

/// A child spec for the session of `info`, to be started under the sessions
/// supervisor (transient: restarted after a crash, not after passivation).
child_spec session_child(std::shared_ptr<services> svc, session_info info, std::string id);

}  // namespace sb::actors
