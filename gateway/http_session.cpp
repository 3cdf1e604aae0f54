// One HTTP/1.1 connection: reads requests with explicit limits and deadlines,
// answers protocol errors and the gateway's own endpoints, routes everything
// else to the api_service and writes the replies in order. The WebSocket
// upgrade of /v1/events is handed to ws_session.cpp.
//
// Bodies come in three sizes (route::body_kind): most are held whole up to
// body_limit, batch routes up to large_body_limit, and uploads are streamed
// piece by piece into a body_sink, reading the next piece only when the sink
// took the last. Responses with a body_source are written the same way.

#include "gateway/detail/server_state.hpp"
#include "gateway/detail/websocket.hpp"
#include "gateway/request_meta.hpp"
#include "gateway/routes.hpp"
#include "observability/log.hpp"
#include "observability/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace sb::gateway::detail {

namespace {

namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using beast::error_code;

constexpr std::string_view route_unmatched = "unmatched";
constexpr std::string_view json_type = "application/json";

// Lingering close (RFC 9112 §9.6): after an error reply, read and discard
// what the client still sends for a moment, so that closing with unread data
// does not reset the connection before the client has read our reply.
constexpr auto linger_time = std::chrono::seconds(2);
constexpr size_t linger_bytes = 4 * 1024 * 1024;

// Request metrics, cached per thread by label values so that the hot path
// takes no registry lock after a label set was seen once. The registry keeps
// every metric alive for the whole process, so the pointers stay valid.
observability::counter& request_counter(std::string_view route, std::string_view method,
                                        unsigned status) {
  thread_local std::unordered_map<std::string, observability::counter*> cache;
  thread_local std::string key;
  key.assign(route);
  key += ' ';
  key += method;
  key += ' ';
  key += std::to_string(status);
  auto i = cache.find(key);
  if (i != cache.end()) {
    return *i->second;
  }
  auto& c = observability::metrics().counter_of(
      "switchboard_http_requests_total", "HTTP requests answered, by route, method and status.",
      {{"route", std::string{route}},
       {"method", std::string{method}},
       {"status", std::to_string(status)}});
  cache.emplace(key, &c);
  return c;
}

// Latency by route and status class ("2xx", "4xx", ...): a failing route's
// fast errors must not hide in its successful requests' latency.
observability::histogram& request_histogram(std::string_view route, unsigned status) {
  thread_local std::unordered_map<std::string, observability::histogram*> cache;
  thread_local std::string key;
  std::string status_class = std::to_string(status / 100) + "xx";
  key.assign(route);
  key += ' ';
  key += status_class;
  auto i = cache.find(key);
  if (i != cache.end()) {
    return *i->second;
  }
  auto& h = observability::metrics().histogram_of(
      "switchboard_http_request_duration_seconds",
      "Time from a request's first byte until its "
      "reply is ready to send, by route and status "
      "class.",
      {{"route", std::string{route}}, {"status", status_class}});
  cache.emplace(key, &h);
  return h;
}

class http_session final : public tracked_session,
                           public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket socket, std::shared_ptr<server_state> state)
      : state_(std::move(state)),
        opts_(state_->options),
        stream_(std::move(socket)),
        strand_(stream_.get_executor()),
        deadline_(strand_) {
    error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      client_address_ = peer.address().to_string();
    }
    state_->http_connections.add(1);
  }

  ~http_session() override {
    state_->untrack(this);
    state_->http_connections.add(-1);
  }

  void run() {
    state_->track(shared_from_this());
    net::dispatch(strand_,
                  beast::bind_front_handler(&http_session::wait_request, shared_from_this()));
  }

  void shutdown() override {
    net::post(strand_, [self = shared_from_this()] { self->on_shutdown(); });
  }

 private:
  enum class phase { idle, reading, handling, writing, upgraded, closed };

  // --- Reading -------------------------------------------------------------

  // Waits for the first bytes of the next request; an idle connection times
  // out silently (a server may close idle keep-alive connections at will).
  void wait_request() {
    if (state_->stopping) {
      return close();
    }
    phase_ = phase::idle;
    if (buffer_.size() > 0) {
      return start_request();  // Pipelined: the next request is already here.
    }
    stream_.expires_after(first_ ? opts_.read_timeout : opts_.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(8192),
        beast::bind_front_handler(&http_session::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(error_code ec, size_t n) {
    if (ec) {
      return close();
    }
    buffer_.commit(n);
    start_request();
  }

  void start_request() {
    first_ = false;
    phase_ = phase::reading;
    started_ = clock::now();
    timed_out_ = false;
    close_after_ = false;
    read_deadline_armed_ = false;
    header_checked_ = false;
    request_id_.clear();
    trace_id_.clear();
    method_ = "OTHER";
    path_.clear();
    route_ = route_unmatched;
    match_ = {};
    header_bytes_ = 0;
    head_ = false;
    streamed_body_ = false;
    expect_continue_ = false;

    // The start line counts against header_limit in Beast, so the parser
    // gets room for both and check_header() tells 414 from 431 itself. The
    // body limit depends on the route: check_header() narrows this one.
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(opts_.header_limit + opts_.url_limit));
    parser_->body_limit(largest_body_limit());
    parse();
  }

  uint64_t largest_body_limit() const {
    return std::max<uint64_t>({opts_.body_limit, opts_.large_body_limit, opts_.upload_limit});
  }

  uint64_t body_limit_of(const route* r) const {
    if (r == nullptr || r->body == route::body_kind::buffered) {
      return opts_.body_limit;
    }
    return r->body == route::body_kind::large ? opts_.large_body_limit : opts_.upload_limit;
  }

  // Feeds buffered bytes to the parser until the request is complete, more
  // bytes are needed, or the request is refused.
  void parse() {
    if (sink_) {
      return pump_upload();
    }
    for (;;) {
      if (parser_->is_done()) {
        return on_request();
      }
      if (buffer_.size() == 0) {
        return read_more();
      }
      error_code ec;
      size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (!header_checked_) {
        // Beast consumes the start line and whole fields as they arrive, so
        // a header that came in several reads is parsed in several puts.
        header_bytes_ += n;
      }
      if (ec == http::error::need_more) {
        return read_more();
      }
      if (ec) {
        return on_parse_error(ec);
      }
      if (!header_checked_ && parser_->is_header_done()) {
        header_checked_ = true;
        if (!check_header(header_bytes_)) {
          return;
        }
        parser_->eager(true);
        continue;
      }
      if (n == 0) {
        return read_more();
      }
    }
  }

  void read_more() {
    // The whole request must arrive within read_timeout of its first byte; a
    // streamed upload instead within read_timeout of its last piece.
    if (!read_deadline_armed_ || sink_) {
      read_deadline_armed_ = true;
      stream_.expires_never();
      arm_deadline(opts_.read_timeout, [](http_session& self) {
        self.timed_out_ = true;
        error_code ignored;
        self.stream_.socket().cancel(ignored);
      });
    }
    size_t chunk = header_checked_ ? 65536 : 8192;
    stream_.async_read_some(
        buffer_.prepare(chunk),
        beast::bind_front_handler(&http_session::on_read_more, shared_from_this()));
  }

  void on_read_more(error_code ec, size_t n) {
    if (timed_out_) {
      abort_upload();
      return reply_error(408, "the request was not received in time", true);
    }
    if (ec) {
      return close();  // The client went away mid-request.
    }
    buffer_.commit(n);
    parse();
  }

  // Checks the header before any body byte is read. Returns false when the
  // request was refused or parsing resumes later.
  bool check_header(size_t header_bytes) {
    const auto& req = parser_->get();
    take_header_fields();
    if (req.target().size() > opts_.url_limit) {
      reply_error(414, "the request target is too long", true);
      return false;
    }
    if (header_bytes - req.target().size() > opts_.header_limit) {
      reply_error(431, "the request header is too large", true);
      return false;
    }
    // RFC 9112 §6.1 and §6.3: Content-Length with Transfer-Encoding, or a
    // final coding other than chunked, leaves the body length unreliable.
    if (req.count(http::field::transfer_encoding) > 0) {
      if (req.count(http::field::content_length) > 0) {
        reply_error(400, "Content-Length and Transfer-Encoding must not be combined", true);
        return false;
      }
      if (!parser_->chunked()) {
        reply_error(400, "the transfer coding is not supported", true);
        return false;
      }
    }

    // The route decides the body limit, checked here before any body byte.
    match_ = match_route(routing_method(), path_);
    if (match_.found) {
      route_ = match_.found->name;
    }
    auto limit = body_limit_of(match_.found);
    auto declared = parser_->content_length();
    if (declared && *declared > limit) {
      reply_error(413, "the request body is too large", true);
      return false;
    }
    parser_->body_limit(limit);

    // Bodies are taken as sent: a content coding (gzip, ...) would reach the
    // handlers undecoded (RFC 9110 §8.4).
    auto coding = req[http::field::content_encoding];
    if (!coding.empty() && !beast::iequals(coding, std::string_view{"identity"})) {
      reply_error(415, "content codings are not accepted; send the body as it is", true);
      return false;
    }

    expect_continue_ = !parser_->is_done() &&
                       beast::iequals(req[http::field::expect], std::string_view{"100-continue"});
    if (match_.found && match_.found->body == route::body_kind::streamed) {
      open_upload();
      return false;
    }
    if (expect_continue_) {
      send_continue();
      return false;
    }
    return true;
  }

  // curl and others wait for this before sending a body (RFC 9110 §10.1.1).
  void send_continue() {
    static constexpr std::string_view line = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(opts_.read_timeout);
    net::async_write(stream_, net::buffer(line.data(), line.size()),
                     [self = shared_from_this()](error_code ec, size_t) {
                       if (ec) {
                         return self->close();
                       }
                       self->stream_.expires_never();
                       self->parser_->eager(true);
                       self->parse();
                     });
  }

  void on_parse_error(error_code ec) {
    abort_upload();
    // Fields parsed before the error still name the request (e.g. for a 413
    // on Content-Length, which Beast reports as soon as the header is read).
    if (request_id_.empty()) {
      take_header_fields();
    }
    if (ec == http::error::header_limit) {
      return reply_error(start_line_too_long() ? 414 : 431,
                         start_line_too_long() ? "the request target is too long"
                                               : "the request header is too large",
                         true);
    }
    if (ec == http::error::body_limit) {
      return reply_error(413, "the request body is too large", true);
    }
    reply_error(400, "malformed request: " + ec.message(), true);
  }

  // When the header overflowed before it was parsed: is it the start line?
  bool start_line_too_long() const {
    // Beast consumes the start line before the fields: once it is parsed,
    // the buffer holds field lines only.
    auto parsed_target = parser_->get().target();
    if (!parsed_target.empty()) {
      return parsed_target.size() > opts_.url_limit;
    }
    auto data = static_cast<const char*>(buffer_.data().data());
    std::string_view head{data, buffer_.size()};
    auto eol = head.find('\n');
    auto line = head.substr(0, eol);
    auto first_space = line.find(' ');
    if (first_space == std::string_view::npos) {
      return line.size() > opts_.url_limit;
    }
    auto target = line.substr(first_space + 1);
    target = target.substr(0, target.find(' '));
    return target.size() > opts_.url_limit;
  }

  // Request id, trace id, method and path, as soon as the header is parsed.
  void take_header_fields() {
    const auto& req = parser_->get();
    request_id_ = request_id_of(req["X-Request-Id"]);
    trace_id_ = trace_id_of(req["traceparent"]);
    method_ = req.method() == http::verb::unknown ? std::string_view{"OTHER"} : req.method_string();
    head_ = req.method() == http::verb::head;
    auto target = req.target();
    path_ = std::string{target.substr(0, target.find('?'))};
  }

  // --- Handling ------------------------------------------------------------

  void on_request() {
    phase_ = phase::handling;
    if (read_deadline_armed_) {
      cancel_deadline();
    }
    if (request_id_.empty()) {
      take_header_fields();
    }
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive();

    // 1. The gateway's own endpoints: no actor involved.
    bool get = req.method() == http::verb::get || head_;
    if (get && path_ == "/healthz") {
      route_ = "healthz";
      return reply(200, std::string{json_type}, R"({"status":"ok"})");
    }
    if (get && path_ == "/metrics") {
      route_ = "metrics";
      return reply(200, "text/plain; version=0.0.4; charset=utf-8",
                   observability::metrics().render());
    }

    // 2. Routing (done by check_header, unless the header was never checked).
    if (!header_checked_) {
      match_ = match_route(routing_method(), path_);
    }
    auto& match = match_;
    if (!match.found) {
      if (match.allow.empty()) {
        return reply_error(404, "no route for " + path_, false);
      }
      auto res = actors::problem(405, "the method is not allowed here", request_id_);
      res.headers.emplace_back("Allow", match.allow);
      return send(std::move(res));
    }
    route_ = match.found->name;

    // 3. The request as the actors see it.
    auto ar = routed_request();
    ar.body = std::move(parser_->get().body());

    if (match.found->name == "events.stream") {
      return open_events(std::move(ar));
    }
    if (match.found->who == actors::access::session && ar.token.empty()) {
      return reply_unauthorized();
    }

    // 4. Hand over; the reply may come from any thread.
    auto reply = new_reply_handle();
    arm_handler_timeout();
    state_->service.handle(std::move(ar), std::move(reply));
  }

  // HEAD is routed, and seen by the actors, as the GET it stands for.
  std::string_view routing_method() const {
    return head_ ? std::string_view{"GET"} : parser_->get().method_string();
  }

  // The routed request as the actors see it, without its body.
  actors::api_request routed_request() {
    const auto& req = parser_->get();
    auto target = req.target();
    auto query_pos = target.find('?');
    actors::api_request ar;
    ar.method = std::string{routing_method()};
    ar.route = std::string{match_.found->name};
    ar.path = path_;
    ar.params = std::move(match_.params);
    if (query_pos != std::string_view::npos) {
      ar.query = parse_query(target.substr(query_pos + 1));
    }
    ar.content_type = media_type(req[http::field::content_type]);
    ar.token = bearer_token(req[http::field::authorization]);
    ar.if_match = std::string{req[http::field::if_match]};
    ar.request_id = request_id_;
    ar.trace_id = trace_id_;
    ar.client_address = client_address_;
    return ar;
  }

  // --- Streamed uploads ----------------------------------------------------

  // A streamed route: the service authorises and opens a sink before any body
  // byte is read, so a refused upload costs the client one round trip (with
  // Expect: 100-continue) and us nothing.
  void open_upload() {
    phase_ = phase::handling;
    streamed_body_ = true;
    keep_alive_ = parser_->get().keep_alive();
    route_ = match_.found->name;
    if (match_.found->who == actors::access::session &&
        bearer_token(parser_->get()[http::field::authorization]).empty()) {
      close_after_ = true;  // The body stays unread.
      return reply_unauthorized();
    }
    auto ar = routed_request();
    auto reply = new_reply_handle();
    auto seq = exchange_;
    auto accept = [post = strand_poster(), seq](std::shared_ptr<actors::body_sink> sink) {
      if (!post([seq, sink](http_session& s) { s.on_upload_accepted(seq, sink); })) {
        sink->abort();
      }
    };
    arm_handler_timeout();
    state_->service.open_upload(std::move(ar), std::move(reply), std::move(accept));
  }

  void on_upload_accepted(uint64_t seq, std::shared_ptr<actors::body_sink> sink) {
    if (seq != exchange_ || phase_ != phase::handling) {
      return sink->abort();  // Answered or timed out meanwhile.
    }
    cancel_deadline();
    sink_ = std::move(sink);
    parser_->eager(true);
    if (expect_continue_) {
      return send_continue();
    }
    pump_upload();
  }

  // Moves parsed body bytes into the sink one piece at a time; reads from the
  // socket only when the sink has taken the previous piece.
  void pump_upload() {
    for (;;) {
      auto& body = parser_->get().body();
      if (!body.empty()) {
        std::string piece;
        piece.swap(body);
        return write_piece(std::move(piece));
      }
      if (parser_->is_done()) {
        return finish_upload();
      }
      if (buffer_.size() == 0) {
        return read_more();
      }
      error_code ec;
      size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec == http::error::need_more) {
        if (parser_->get().body().empty()) {
          return read_more();
        }
        continue;
      }
      if (ec) {
        return on_parse_error(ec);
      }
    }
  }

  void write_piece(std::string piece) {
    if (read_deadline_armed_) {
      cancel_deadline();
    }
    arm_deadline(opts_.handler_timeout, [](http_session& self) {
      self.abort_upload();
      self.reply_error(504, "the upload was not stored in time", true);
    });
    auto seq = exchange_;
    auto ready = [post = strand_poster(), seq](bool more) {
      post([seq, more](http_session& s) { s.on_piece_taken(seq, more); });
    };
    sink_->write(std::move(piece), std::move(ready));
  }

  void on_piece_taken(uint64_t seq, bool more) {
    if (seq != exchange_ || !sink_) {
      return;
    }
    cancel_deadline();
    if (!more) {
      // The sink stopped the upload and answers through its reply.
      sink_.reset();
      close_after_ = true;
      return arm_handler_timeout();
    }
    pump_upload();
  }

  void finish_upload() {
    auto sink = std::move(sink_);
    arm_handler_timeout();
    sink->finish();
  }

  // Tells the sink the upload failed, and retires the exchange so that a late
  // reply from the sink is dropped.
  void abort_upload() {
    if (!sink_) {
      return;
    }
    auto sink = std::move(sink_);
    ++exchange_;
    sink->abort();
  }

  // GET /v1/events: the actors authorise, and a 101 reply turns this
  // connection into a WebSocket.
  void open_events(actors::api_request ar) {
    const auto& req = parser_->get();
    if (!websocket::is_upgrade(req)) {
      auto res = actors::problem(426, "this route needs a WebSocket upgrade", request_id_);
      res.headers.emplace_back("Upgrade", "websocket");
      return send(std::move(res));
    }
    // Browsers cannot set headers on a WebSocket, hence the query parameter.
    if (ar.token.empty()) {
      auto i = ar.query.find("access_token");
      if (i != ar.query.end()) {
        ar.token = i->second;
      }
    }
    if (ar.token.empty()) {
      return reply_unauthorized();
    }
    upgrade_ = make_ws_upgrade(state_, strand_, request_id_);
    auto reply = new_reply_handle();
    arm_handler_timeout();
    state_->service.open_events(std::move(ar), upgrade_->sink(), std::move(reply));
  }

  // Runs work on this connection's strand from any thread, while the server
  // and the connection live; false when it cannot. It holds the session
  // weakly: actors and workers may keep it after the client is gone.
  struct poster {
    std::shared_ptr<post_gate> gate;
    std::weak_ptr<http_session> weak;

    template <class Fn>
    bool operator()(Fn fn) const {
      return gate->run_if_open([&] {
        auto self = weak.lock();
        if (!self) {
          return false;
        }
        net::post(self->strand_, [self, fn = std::move(fn)]() mutable { fn(*self); });
        return true;
      });
    }
  };

  poster strand_poster() { return {state_->gate, weak_from_this()}; }

  // A handle whose callback hops onto this connection's strand. The session
  // keeps no copy, or a dropped handle could never answer 500.
  actors::reply_handle new_reply_handle() {
    auto seq = ++exchange_;
    auto callback = [post = strand_poster(), seq](actors::api_response res) {
      post([seq, res = std::move(res)](http_session& s) mutable {
        s.on_reply(seq, std::move(res));
      });
    };
    return actors::reply_handle{request_id_, std::move(callback)};
  }

  // No reply in time: answer 504 as if the handle had delivered it. on_reply
  // retires the exchange, so a late reply from the actor is dropped and
  // exactly one response goes out.
  void arm_handler_timeout() {
    arm_deadline(opts_.handler_timeout, [](http_session& self) {
      self.on_reply(self.exchange_,
                    actors::problem(504, "the request was not handled in time", self.request_id_));
    });
  }

  void on_reply(uint64_t seq, actors::api_response res) {
    if (seq != exchange_ || phase_ != phase::handling) {
      return;
    }
    ++exchange_;
    cancel_deadline();
    if (upgrade_) {
      return on_events_reply(std::move(res));
    }
    if (streamed_body_ && !parser_->is_done()) {
      // An upload answered before its end (refused, or failed): no more of
      // its body is read, so the connection cannot carry another request.
      if (sink_) {
        sink_.reset();
      }
      close_after_ = true;
    }
    send(std::move(res));
  }

  void on_events_reply(actors::api_response res) {
    auto upgrade = std::move(upgrade_);
    if (res.status != 101) {
      return send(std::move(res));
    }
    status_ = 101;
    bytes_ = 0;
    workspace_id_ = res.workspace_id;
    record();
    phase_ = phase::upgraded;
    upgrade->accept(std::move(stream_), parser_->release());
  }

  // --- Writing -------------------------------------------------------------

  void reply(unsigned status, std::string content_type, std::string body) {
    actors::api_response res;
    res.status = static_cast<uint16_t>(status);
    res.content_type = std::move(content_type);
    res.body = std::move(body);
    send(std::move(res));
  }

  void reply_unauthorized() {
    auto res = actors::problem(401, "a bearer token is required", request_id_);
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    send(std::move(res));
  }

  void reply_error(unsigned status, const std::string& detail, bool close_after) {
    if (request_id_.empty()) {
      request_id_ = new_request_id();
    }
    close_after_ = close_after_ || close_after;
    send(actors::problem(static_cast<uint16_t>(status), detail, request_id_));
  }

  void send(actors::api_response res) {
    phase_ = phase::writing;

    // Beast throws on an out-of-range status and on a 1xx with a body; a 1xx
    // is never a final response anyway.
    if (res.status < 200 || res.status > 599) {
      res = actors::problem(500, "the handler produced an invalid status", request_id_);
    }
    if (res.stream && head_) {
      // HEAD of a download: the header only, and no piece is produced.
      res.stream->cancel();
      res.stream.reset();
    }
    if (res.stream && res.status != 204 && res.status != 304) {
      return send_stream(std::move(res));
    }
    res_ = {};
    res_.version(11);
    res_.result(res.status);
    bool bodiless = res.status == 204 || res.status == 304;
    if (!bodiless) {
      res_.set(http::field::content_type, res.content_type);
      res_.body() = std::move(res.body);
    }
    res_.set("X-Request-Id", request_id_);
    res_.set(http::field::cache_control, "no-store");
    for (auto& [name, value] : res.headers) {
      res_.insert(name, value);
    }
    res_.keep_alive(keep_alive_ && !close_after_ && !state_->stopping);
    res_.prepare_payload();
    if (head_ && !bodiless) {
      // Content-Length stays: what a GET would send.
      auto length = res.content_length.value_or(res_.body().size());
      res_.body().clear();
      res_.content_length(length);
    }
    status_ = res.status;
    bytes_ = res_.body().size();
    workspace_id_ = std::move(res.workspace_id);
    // Recorded before writing, so a client that has read the reply sees it counted.
    record();

    // A client that does not read its reply is cut off like a slow sender.
    stream_.expires_after(opts_.read_timeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&http_session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, size_t) {
    if (ec) {
      return close();
    }
    if (!res_.keep_alive()) {
      // After a refused request the client may still be sending.
      return close_after_ && !state_->stopping ? linger() : close();
    }
    wait_request();
  }

  // --- Streamed responses ---------------------------------------------------

  // Writes the header, then asks the source for one piece at a time: the next
  // piece is asked for only once the previous one is on the wire.
  void send_stream(actors::api_response res) {
    source_ = std::move(res.stream);
    sres_.emplace();
    sres_->version(11);
    sres_->result(res.status);
    sres_->set(http::field::content_type, res.content_type);
    sres_->set("X-Request-Id", request_id_);
    sres_->set(http::field::cache_control, "no-store");
    for (auto& [name, value] : res.headers) {
      sres_->insert(name, value);
    }
    sres_->keep_alive(keep_alive_ && !close_after_ && !state_->stopping);
    if (res.content_length) {
      sres_->content_length(*res.content_length);
    } else {
      sres_->chunked(true);
    }
    sres_->body().data = nullptr;
    sres_->body().more = true;
    stream_declared_ = res.content_length;
    stream_sent_ = 0;
    stream_last_ = false;
    status_ = res.status;
    bytes_ = res.content_length.value_or(0);
    workspace_id_ = std::move(res.workspace_id);
    record();

    serializer_.emplace(*sres_);
    stream_.expires_after(opts_.read_timeout);
    http::async_write_header(stream_, *serializer_,
                             [self = shared_from_this()](error_code ec, size_t) {
                               if (ec) {
                                 return self->close();
                               }
                               self->next_piece();
                             });
  }

  void next_piece() {
    arm_deadline(opts_.handler_timeout, [](http_session& self) {
      SB_LOG(gateway, warn,
             (observability::log_context{self.request_id_, self.trace_id_, "gateway", {}}),
             "a streamed response stalled; closing the connection");
      self.close();
    });
    auto seq = ++piece_seq_;
    source_->next([post = strand_poster(), seq](std::optional<std::string> piece, bool last) {
      post([seq, piece = std::move(piece), last](http_session& s) mutable {
        s.on_piece(seq, std::move(piece), last);
      });
    });
  }

  void on_piece(uint64_t seq, std::optional<std::string> piece, bool last) {
    if (seq != piece_seq_ || !source_) {
      return;
    }
    cancel_deadline();
    if (!piece) {
      // The status line is out: cutting the connection is the only way left
      // to tell the client that the body is incomplete.
      SB_LOG(gateway, warn, (observability::log_context{request_id_, trace_id_, "gateway", {}}),
             "a streamed response failed after {} bytes; closing the connection", stream_sent_);
      return close();
    }
    piece_ = std::move(*piece);
    stream_sent_ += piece_.size();
    stream_last_ = last;
    if (stream_declared_ &&
        (stream_sent_ > *stream_declared_ || (last && stream_sent_ != *stream_declared_))) {
      SB_LOG(gateway, err, (observability::log_context{request_id_, trace_id_, "gateway", {}}),
             "a streamed response has {} bytes, not the {} it declared", stream_sent_,
             *stream_declared_);
      return close();
    }
    if (piece_.empty()) {
      return last ? write_piece_end() : next_piece();
    }
    sres_->body().data = piece_.data();
    sres_->body().size = piece_.size();
    sres_->body().more = true;
    stream_.expires_after(opts_.read_timeout);
    http::async_write(
        stream_, *serializer_,
        beast::bind_front_handler(&http_session::on_piece_written, shared_from_this()));
  }

  void write_piece_end() {
    sres_->body().data = nullptr;
    sres_->body().size = 0;
    sres_->body().more = false;
    stream_last_ = false;
    stream_.expires_after(opts_.read_timeout);
    http::async_write(
        stream_, *serializer_,
        beast::bind_front_handler(&http_session::on_piece_written, shared_from_this()));
  }

  void on_piece_written(error_code ec, size_t) {
    // need_buffer: the piece is out and the serializer wants the next one.
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      return close();
    }
    if (serializer_->is_done()) {
      bool keep = sres_->keep_alive();
      source_.reset();  // Finished: nothing to cancel.
      end_stream();
      return keep ? wait_request() : close();
    }
    if (stream_last_) {
      return write_piece_end();
    }
    next_piece();
  }

  // Drops the response stream; a source that did not finish is cancelled.
  void end_stream() {
    auto source = std::move(source_);
    serializer_.reset();
    sres_.reset();
    piece_.clear();
    ++piece_seq_;
    if (source) {
      source->cancel();
    }
  }

  // One access log line and the request metrics.
  void record() {
    double seconds = std::chrono::duration<double>(clock::now() - started_).count();
    request_counter(route_, method_, status_).inc();
    request_histogram(route_, status_).observe(seconds);
    if (!observability::log_enabled(observability::layer::access, spdlog::level::info)) {
      return;
    }
    using observability::json_escape;
    auto fields = fmt::format(
        R"("method":"{}","route":"{}","path":"{}","status":{},"duration_ms":{:.3f},)"
        R"("bytes":{})",
        json_escape(method_), route_, json_escape(path_), status_, seconds * 1000.0, bytes_);
    observability::log_context ctx{request_id_, trace_id_, "gateway", workspace_id_};
    observability::write_log(observability::layer::access, spdlog::level::info, ctx, "request",
                             fields);
  }

  // --- Closing -------------------------------------------------------------

  void linger() {
    phase_ = phase::closed;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min<std::chrono::milliseconds>(
        opts_.read_timeout, std::chrono::duration_cast<std::chrono::milliseconds>(linger_time)));
    buffer_.clear();
    drain();
  }

  void drain() {
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > linger_bytes) {
                                return self->close();
                              }
                              self->drain();
                            });
  }

  void close() {
    if (phase_ == phase::reading || phase_ == phase::handling) {
      // The client left mid-request or before its answer: logged and counted
      // as 499 (nginx's "client closed request"), so no request goes unseen.
      status_ = 499;
      bytes_ = 0;
      record();
    }
    abort_upload();
    if (source_ || serializer_) {
      end_stream();
    }
    phase_ = phase::closed;
    cancel_deadline();
    stream_.close();
  }

  void on_shutdown() {
    // Only an idle connection is interrupted; the others close after their
    // current reply because `stopping` turns keep-alive off.
    if (phase_ == phase::idle) {
      stream_.cancel();
    }
  }

  // --- Deadlines -----------------------------------------------------------

  // One timer serves the read deadline and the handler timeout; the sequence
  // number discards an expiry that raced with a cancel.
  template <class Fn>
  void arm_deadline(std::chrono::milliseconds after, Fn on_expiry) {
    auto seq = ++deadline_seq_;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), seq, on_expiry](error_code ec) {
      if (ec || seq != self->deadline_seq_) {
        return;
      }
      on_expiry(*self);
    });
  }

  void cancel_deadline() {
    ++deadline_seq_;
    deadline_.cancel();
  }

  std::shared_ptr<server_state> state_;
  const server_options& opts_;
  beast::tcp_stream stream_;
  const net::any_io_executor strand_;  // A copy other threads may read.
  net::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string client_address_;
  route_match match_;

  // A streamed upload: the sink taking its pieces, while it is open.
  std::shared_ptr<actors::body_sink> sink_;
  bool streamed_body_ = false;
  bool expect_continue_ = false;

  // A streamed response: its source, the response and its serializer.
  std::shared_ptr<actors::body_source> source_;
  std::optional<http::response<http::buffer_body>> sres_;
  std::optional<http::response_serializer<http::buffer_body>> serializer_;
  std::string piece_;
  uint64_t piece_seq_ = 0;
  std::optional<uint64_t> stream_declared_;
  uint64_t stream_sent_ = 0;
  bool stream_last_ = false;

  phase phase_ = phase::idle;
  bool first_ = true;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool timed_out_ = false;
  bool read_deadline_armed_ = false;
  bool header_checked_ = false;
  size_t header_bytes_ = 0;  // Of the current request's header, as parsed so far.
  bool head_ = false;
  uint64_t deadline_seq_ = 0;
  uint64_t exchange_ = 0;
  size_t drained_ = 0;

  // The current exchange.
  std::shared_ptr<ws_upgrade> upgrade_;
  clock::time_point started_;
  std::string request_id_;
  std::string trace_id_;
  std::string_view method_ = "OTHER";
  std::string path_;
  std::string_view route_ = route_unmatched;
  unsigned status_ = 0;
  size_t bytes_ = 0;
  std::string workspace_id_;
};

}  // namespace

void start_http_session(tcp::socket socket, std::shared_ptr<server_state> state) {
  std::make_shared<http_session>(std::move(socket), std::move(state))->run();
}

}  // namespace sb::gateway::detail
