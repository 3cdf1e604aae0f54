#pragma once

// The product API as the actor layer sees it: a request that the gateway has
// already parsed and routed, the response an actor produces, and the handle
// that carries the response back. Nothing here knows about HTTP libraries.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sb::actors {

/// Who may call a route: anyone, a bearer-token session, or ops.
enum class access { open, session, ops };

/// A routed API request; plain data so it can cross nodes one day.
struct api_request {
  std::string method;                        ///< "GET", "POST", ...
  std::string route;                         ///< Operation name, e.g. "contacts.get".
  std::string path;                          ///< Raw path without the query.
  std::vector<std::string> params;           ///< Path parameters in pattern order.
  std::map<std::string, std::string> query;  ///< Decoded query parameters.
  std::string body;                          ///< Request body bytes.
  std::string content_type;                  ///< Content-Type of the body, lowercased.
  std::string token;                         ///< Bearer token, empty when absent.
  std::string if_match;                      ///< If-Match header value, if any.
  std::string request_id;                    ///< X-Request-Id (accepted or generated).
  std::string trace_id;                      ///< W3C trace id from traceparent.
  std::string client_address;                ///< Peer address, for audit and limits.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_request& x) {
  return f(x.method, x.route, x.path, x.params, x.query, x.body, x.content_type, x.token,
           x.if_match, x.request_id, x.trace_id, x.client_address);
}

/// A response body produced piece by piece (a report download): the gateway
/// asks for the next piece only after it has written the previous one, so a
/// slow client holds back the producer instead of filling memory.
class body_source {
 public:
  /// Receives one piece; `last` ends the body. A nullopt piece means the
  /// producer failed mid-body: the gateway cuts the connection, since the
  /// status line is already sent.
  using piece_handler = std::function<void(std::optional<std::string> piece, bool last)>;

  virtual ~body_source() = default;

  /// Produces the next piece and calls `done` once, from any thread.
  virtual void next(piece_handler done) = 0;

  /// The client went away; no more pieces will be asked for.
  virtual void cancel() {}
};

/// A response to an API request; the body is JSON unless content_type says otherwise.
struct api_response {
  uint16_t status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Extra headers (ETag, ...).
  std::string workspace_id;                                  ///< For the access log.
  /// When set, the body comes from here instead of `body` (local to one
  /// process, never serialized); sent chunked unless content_length is known.
  std::shared_ptr<body_source> stream;
  std::optional<uint64_t> content_length;  ///< Total size of a streamed body, if known.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_response& x) {
  return f(x.status, x.content_type, x.body, x.headers, x.workspace_id);
}

/// Receives a request body piece by piece, for routes whose bodies are too
/// large to hold in memory (a CSV import). Implemented by the actor layer.
class body_sink {
 public:
  /// Called once per piece: true to get the next piece, false to stop
  /// reading (the sink then answers, or has answered, through its reply).
  using ready_handler = std::function<void(bool more)>;

  virtual ~body_sink() = default;

  /// Takes the next piece; calls `ready` once, from any thread, when it can
  /// take another. The gateway sends nothing more until then.
  virtual void write(std::string piece, ready_handler ready) = 0;

  /// The body is complete; the sink answers through the reply handle it was
  /// opened with.
  virtual void finish() = 0;

  /// The client went away or broke the framing; the sink discards what it
  /// stored. No response is expected.
  virtual void abort() = 0;
};

/// Builds an RFC 9457 problem+json response.
api_response problem(uint16_t status, std::string_view detail, std::string_view request_id,
                     std::string_view errors_json = {});

/// Carries exactly one response back to whoever issued the request.
///
/// Copies share one slot. The first `deliver` wins; later calls are ignored. If
/// every copy is destroyed without a delivery (the actor holding it died, or
/// the message was dropped), the slot answers 500 with the request id, so a
/// client never waits on a request that nobody will answer.
class reply_handle {
 public:
  using callback = std::function<void(api_response)>;

  reply_handle() = default;

  /// Creates a handle that calls `fn` once, from whichever thread delivers.
  reply_handle(std::string request_id, callback fn);

  /// Sends the response; returns false if one was already sent.
  bool deliver(api_response response) const;

  /// Tells whether a response was already sent.
  bool delivered() const;

  /// The request id the fallback response names.
  const std::string& request_id() const;

  friend bool operator==(const reply_handle& a, const reply_handle& b) {
    return a.slot_ == b.slot_;
  }

 private:
  struct slot;
  std::shared_ptr<slot> slot_;
};

class event_sink;

/// A request together with the handle that answers it; local to one process.
struct api_call {
  api_request request;
  reply_handle reply;
  std::shared_ptr<event_sink> stream;  ///< Set for event-stream requests only.
  /// Set for streamed uploads only: hands the gateway the sink for the body.
  std::function<void(std::shared_ptr<body_sink>)> accept_upload;
};

}  // namespace sb::actors

namespace sb::actors {

class event_sink;

/// What the gateway calls into; implemented on top of the actor system.
class api_service {
 public:
  virtual ~api_service() = default;

  /// Handles one routed request; the reply may be delivered on any thread.
  virtual void handle(api_request request, reply_handle reply) = 0;

  /// Authenticates an event-stream request. On success replies 101 and starts
  /// pushing the workspace's events into `sink`; otherwise replies a problem.
  virtual void open_events(api_request request, std::shared_ptr<event_sink> sink,
                           reply_handle reply) = 0;

  /// Opens a streamed request body (`request.body` is empty). Either replies
  /// at once through `reply` (401, 413, 415, ...) or calls `accept` with the
  /// sink that takes the pieces and later replies; from any thread.
  virtual void open_upload(api_request request, reply_handle reply,
                           std::function<void(std::shared_ptr<body_sink>)> accept) = 0;
};

}  // namespace sb::actors
