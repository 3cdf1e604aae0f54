#pragma once

// Helpers every supervised actor uses: quiet default handlers and the answer
// to the supervisor's (stats_atom) probe.

#include "actors/actor_report.hpp"
#include "observability/log.hpp"

#include <caf/fwd.hpp>
#include <caf/message_handler.hpp>

#include <cstdint>
#include <exception>
#include <functional>

namespace sb::actors {

/// Installs handlers that never print: unexpected messages are dropped, and
/// down, exit, error and exception events follow OTP-like defaults.
void quiet_handlers(caf::scheduled_actor* self);

/// Logs an exception that is about to end `self`, with `ctx` as context.
void log_exception(caf::scheduled_actor* self, const std::exception_ptr& eptr,
                   const observability::log_context& ctx);

/// Samples the calling actor's own view of itself. The mailbox can only be
/// read by its owner, so call this from one of `self`'s handlers only.
actor_stats current_stats(caf::scheduled_actor* self, int64_t processed = -1);

/// A handler answering (stats_atom) with current_stats(self, processed()).
/// Combine it with the actor's own handlers:
///   `return caf::message_handler{...}.or_else(stats_handler(self, counter));`
caf::message_handler stats_handler(caf::scheduled_actor* self,
                                   std::function<int64_t()> processed = {});

}  // namespace sb::actors
