#include "actors/services.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scheduled_actor.hpp>

namespace sb::actors {

caf::actor services::lookup(caf::atom_value name) const {
  return system->registry().get<caf::actor>(name);
}

void register_self(caf::scheduled_actor* self, caf::atom_value name) {
  auto& reg = self->system().registry();
  reg.put(name, caf::actor_cast<caf::strong_actor_ptr>(self));
  // Erase only our own entry: a restarted successor may have replaced it.
  auto me = self->address();
  auto* sys = &self->system();
  self->attach_functor([sys, name, me](const caf::error&) {
    auto& r = sys->registry();
    if (auto current = r.get(name); current && current->address() == me) {
      r.erase(name);
    }
  });
}

}  // namespace sb::actors
