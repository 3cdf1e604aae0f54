#pragma once

// Atoms and message-type declarations shared by the actors. Include this, not
// caf/all.hpp, in actor sources.

#include "actors/actor_report.hpp"
#include "actors/api.hpp"
#include "actors/events.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include <functional>
#include <memory>

namespace sb::actors {

struct child_spec;

// Supervision.
using start_child_atom = caf::atom_constant<caf::atom("startchild")>;
using stop_child_atom = caf::atom_constant<caf::atom("stopchild")>;
using which_children_atom = caf::atom_constant<caf::atom("children")>;
using child_atom = caf::atom_constant<caf::atom("child")>;
using report_atom = caf::atom_constant<caf::atom("report")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using shutdown_timeout_atom = caf::atom_constant<caf::atom("shuttmo")>;

// Sessions and events.
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;

/// Work for a blocking worker: runs on the worker's own thread. Whatever it
/// computes it stores through its captures; a throw is reported as an error.
struct blocking_job {
  std::function<void()> run;
};

/// Registers every type that travels in messages; call on the config before
/// the actor system is created.
void register_message_types(caf::actor_system_config& cfg);

}  // namespace sb::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sb::actors::api_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sb::actors::blocking_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sb::actors::child_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<sb::actors::event_sink>)
