#pragma once

// Fans workspace events out to the live event streams of that workspace.
// Sinks never block; a slow client's sink closes itself.

#include "actors/services.hpp"
#include "actors/supervisor.hpp"

namespace sb::actors {

/// A child spec for the event hub.
child_spec event_hub_child();

}  // namespace sb::actors
