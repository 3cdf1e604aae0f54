#pragma once

// Internal to gateway/: how the HTTP session hands an upgraded connection to
// the WebSocket session.

#include "actors/events.hpp"
#include "gateway/detail/server_state.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <string>

namespace sb::gateway::detail {

namespace beast = boost::beast;
namespace http = beast::http;

/// A WebSocket client in the making. Its sink exists before the handshake, so
/// events published while the actors authorise the client are queued.
class ws_upgrade {
 public:
  virtual ~ws_upgrade() = default;

  /// The sink handed to the actors.
  virtual std::shared_ptr<actors::event_sink> sink() const = 0;

  /// Completes the handshake on `stream` with the already read `request` and
  /// starts delivering; called on the connection's strand.
  virtual void accept(beast::tcp_stream stream, http::request<http::string_body> request) = 0;
};

/// Creates the client for a connection running on `strand`.
std::shared_ptr<ws_upgrade> make_ws_upgrade(std::shared_ptr<server_state> state,
                                            net::any_io_executor strand, std::string request_id);

}  // namespace sb::gateway::detail
