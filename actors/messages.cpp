#include "actors/messages.hpp"

#include "actors/session_info.hpp"

#include <caf/actor_system_config.hpp>

namespace sb::actors {

void register_message_types(caf::actor_system_config& cfg) {
  // Names are the wire format: a node that joins must register the same.
  cfg.add_message_type<api_request>("sb.api_request");
  cfg.add_message_type<api_response>("sb.api_response");
  cfg.add_message_type<event>("sb.event");
  cfg.add_message_type<session_info>("sb.session_info");
  cfg.add_message_type<actor_report>("sb.actor_report");
  cfg.add_message_type<actor_stats>("sb.actor_stats");
}

}  // namespace sb::actors
