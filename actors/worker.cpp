#include "actors/worker.hpp"

#include "actors/messages.hpp"
#include "observability/log.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/system_messages.hpp>

namespace sb::actors {

void quiet_handlers(caf::scheduled_actor* self) {
  // CAF's defaults print to stdout (print_and_drop, the down and exception
  // handlers), which would corrupt the JSON log stream.
  self->set_default_handler(caf::drop);
  self->set_down_handler([](caf::scheduled_actor*, caf::down_msg&) {});
  self->set_exit_handler([](caf::scheduled_actor* s, caf::exit_msg& msg) {
    // Same rule as CAF's default: a normal exit signal is not a reason to stop.
    if (msg.reason) {
      s->quit(std::move(msg.reason));
    }
  });
  self->set_error_handler([](caf::scheduled_actor* s, caf::error& err) { s->quit(err); });
  self->set_exception_handler([](caf::scheduled_actor* s, std::exception_ptr& eptr) {
    log_exception(s, eptr, {});
    return caf::error{caf::exit_reason::unhandled_exception};
  });
}

void log_exception(caf::scheduled_actor* self, const std::exception_ptr& eptr,
                   const observability::log_context& ctx) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  auto with_actor = ctx;
  with_actor.actor = self->name();
  SB_LOG(actors, err, with_actor, "actor failed, its supervisor decides what follows: {}", what);
}

actor_stats current_stats(caf::scheduled_actor* self, int64_t processed) {
  return actor_stats{static_cast<int64_t>(self->mailbox().size()), processed};
}

caf::message_handler stats_handler(caf::scheduled_actor* self, std::function<int64_t()> processed) {
  return {[self, processed = std::move(processed)](stats_atom) {
    return current_stats(self, processed ? processed() : -1);
  }};
}

}  // namespace sb::actors
