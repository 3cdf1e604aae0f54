#include "actors/worker.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scheduled_actor.hpp>

namespace sb::actors {

void quiet_handlers(caf::scheduled_actor* self) {
  self->set_default_handler(caf::drop);
  self->set_down_handler([](caf::scheduled_actor*, caf::down_msg&) {});
  self->set_error_handler([](caf::scheduled_actor* s, caf::error& err) { s->quit(err); });
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr&) -> caf::error {
    return caf::exit_reason::unhandled_exception;
  });
}

}  // namespace sb::actors
