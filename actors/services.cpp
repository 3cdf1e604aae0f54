#include "actors/services.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scheduled_actor.hpp>

namespace sb::actors {

caf::actor services::lookup(caf::atom_value name) const {
  return system->registry().get<caf::actor>(name);
}

void register_as(caf::actor_system& sys, caf::atom_value name, const caf::actor& handle) {
  // CAF 0.17's registry put() keeps an existing entry (it emplaces), so a
  // restarted actor would stay hidden behind its dead predecessor.
  auto& reg = sys.registry();
  reg.erase(name);
  reg.put(name, handle);
}

void register_self(caf::scheduled_actor* self, caf::atom_value name) {
  register_as(self->system(), name, caf::actor_cast<caf::actor>(self));
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
