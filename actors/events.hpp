#pragma once

// Workspace change events and the sink that carries them to a live client.
// Plain types: the hub in actors/ pushes, the gateway's WebSocket drains.

#include <cstdint>
#include <memory>
#include <string>

namespace sb::actors {

/// One change in a workspace, e.g. type "contact.created".
struct event {
  std::string type;
  std::string id;  ///< Id of the changed entity.
  std::string workspace_id;
  std::string data;         ///< The entity as a JSON object ("null" on delete).
  int64_t occurred_at = 0;  ///< Unix time in milliseconds.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(x.type, x.id, x.workspace_id, x.data, x.occurred_at);
}

/// Renders the event as the JSON text clients receive.
std::string to_json(const event& x);

/// Receives event frames for one client; implemented by the gateway.
///
/// `push` is called from actor threads and must never block: an
/// implementation queues the frame and, when its bounded queue is full,
/// closes the stream itself.
class event_sink {
 public:
  virtual ~event_sink() = default;

  /// Queues one frame; returns false once the sink is closed.
  virtual bool push(std::shared_ptr<const std::string> frame) = 0;

  /// Closes the stream with a WebSocket close code and reason.
  virtual void close(uint16_t code, std::string reason) = 0;
};

}  // namespace sb::actors
