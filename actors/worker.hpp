#pragma once

// Helpers every supervised actor uses.

#include <caf/fwd.hpp>

namespace sb::actors {

/// Installs handlers that never print: unexpected messages are dropped, and
/// down, exit, error and exception events follow OTP-like defaults.
void quiet_handlers(caf::scheduled_actor* self);

}  // namespace sb::actors
