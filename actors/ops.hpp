#pragma once

// The operator's view: readiness, the supervision tree as JSON, and the
// actor metrics sampled from that tree.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"

#include <memory>

namespace sb::actors {

/// A child spec for the ops actor.
child_spec ops_child(std::shared_ptr<services> svc);

}  // namespace sb::actors
