// One WebSocket event client: frames pushed by the actors are queued on the
// connection's strand and written in order; a client that falls more than
// ws_queue_limit frames behind is closed with 1013 so that it can never hold
// up the pushing thread or other clients.

#include "gateway/detail/websocket.hpp"

#include "observability/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <deque>
#include <optional>

namespace sb::gateway::detail {

namespace {

namespace websocket = beast::websocket;
using beast::error_code;

// Client text frames are read and ignored; anything larger is a misuse.
constexpr size_t max_client_message = 64 * 1024;

class ws_session;

/// The event_sink the actors push into. It only counts and posts: the queue
/// itself lives on the connection's strand.
class ws_sink final : public actors::event_sink {
 public:
  ws_sink(std::shared_ptr<post_gate> gate, size_t limit, observability::counter& slow_closes)
      : gate_(std::move(gate)), limit_(limit), slow_closes_(slow_closes) {}

  bool push(std::shared_ptr<const std::string> frame) override;
  void close(uint16_t code, std::string reason) override;

  void attach(std::weak_ptr<ws_session> session) { session_ = std::move(session); }
  void mark_closed() { closed_.store(true); }
  void written(size_t n) { queued_.fetch_sub(n); }

 private:
  template <class Fn>
  bool post_to_session(Fn fn);

  std::shared_ptr<post_gate> gate_;
  std::weak_ptr<ws_session> session_;
  const size_t limit_;
  observability::counter& slow_closes_;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> closed_{false};
};

class ws_session final : public ws_upgrade,
                         public tracked_session,
                         public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(std::shared_ptr<server_state> state, net::any_io_executor strand,
             std::string request_id)
      : state_(std::move(state)),
        strand_(std::move(strand)),
        request_id_(std::move(request_id)),
        sink_(std::make_shared<ws_sink>(state_->gate, state_->options.ws_queue_limit,
                                        state_->ws_slow_closes)),
        close_timer_(strand_) {}

  ~ws_session() override {
    sink_->mark_closed();
    if (tracked_) {
      state_->untrack(this);
    }
    if (counted_) {
      state_->ws_clients.add(-1);
    }
  }

  void attach_sink() { sink_->attach(weak_from_this()); }

  std::shared_ptr<actors::event_sink> sink() const override { return sink_; }

  const net::any_io_executor& strand() const { return strand_; }

  void accept(beast::tcp_stream stream, http::request<http::string_body> request) override {
    const auto& opts = state_->options;
    request_ = std::move(request);
    ws_.emplace(std::move(stream));
    beast::get_lowest_layer(*ws_).expires_never();

    // Beast pings after half of idle_timeout without traffic and drops the
    // client after the whole of it; read_timeout bounds accept and close.
    ws_->set_option(
        websocket::stream_base::timeout{opts.read_timeout, opts.ws_ping_interval, true});
    ws_->set_option(websocket::stream_base::decorator(
        [id = request_id_](websocket::response_type& res) { res.set("X-Request-Id", id); }));
    ws_->read_message_max(max_client_message);
    ws_->auto_fragment(false);

    tracked_ = true;
    state_->track(shared_from_this());
    ws_->async_accept(request_,
                      beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
  }

  void shutdown() override {
    net::post(strand_, [self = shared_from_this()] {
      // Frames already queued go out first: they are changes whose writers
      // were already told they happened.
      self->begin_close(websocket::close_code::going_away, "server shutting down", false);
    });
  }

  // On the strand: one more frame from the actors.
  void enqueue(std::shared_ptr<const std::string> frame) {
    if (close_requested_ || dead_) {
      sink_->written(1);
      return;
    }
    queue_.push_back(std::move(frame));
    do_write();
  }

  // On the strand: sends a close frame after the frame being written, and
  // after the queued ones unless `drop_pending`.
  void begin_close(uint16_t code, std::string reason, bool drop_pending) {
    if (close_requested_ || dead_) {
      return;
    }
    close_requested_ = true;
    close_reason_.code = code;
    close_reason_.reason = reason;
    sink_->mark_closed();
    if (drop_pending) {
      sink_->written(queue_.size());
      queue_.clear();
    }

    // Before the handshake, on_accept carries on.
    if (!accepted_) {
      return;
    }
    arm_close_timer();
    if (!writing_) {
      queue_.empty() ? start_close() : do_write();
    }
  }

 private:
  void on_accept(error_code ec) {
    request_ = {};
    if (ec) {
      return fail();
    }
    accepted_ = true;
    counted_ = true;
    state_->ws_clients.add(1);
    do_read();
    // The server began stopping while the actors authorised this client.
    if (state_->stopping && !close_requested_) {
      return begin_close(websocket::close_code::going_away, "server shutting down", true);
    }
    if (close_requested_) {
      arm_close_timer();
      if (queue_.empty()) {
        return start_close();
      }
    }
    do_write();
  }

  // A client that never reads never lets the close frame out: cut it off.
  void arm_close_timer() {
    close_timer_.expires_after(state_->options.read_timeout);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) {
        self->fail();
      }
    });
  }

  // Keeps a read pending: Beast answers pings and close frames while reading.
  void do_read() {
    ws_->async_read(rbuf_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, size_t) {
    rbuf_.clear();
    if (ec) {
      // websocket::error::closed means the close handshake is done.
      if (ec != websocket::error::closed) {
        fail();
      }
      return;
    }
    do_read();
  }

  void do_write() {
    if (writing_ || !accepted_ || dead_ || close_sent_ || queue_.empty()) {
      return;
    }
    writing_ = true;
    inflight_ = std::move(queue_.front());
    queue_.pop_front();
    ws_->text(true);
    ws_->async_write(net::buffer(*inflight_),
                     beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, size_t) {
    writing_ = false;
    inflight_.reset();
    sink_->written(1);
    if (ec) {
      return fail();
    }
    if (close_requested_ && queue_.empty()) {
      return start_close();
    }
    do_write();
  }

  void start_close() {
    if (close_sent_ || dead_) {
      return;
    }
    close_sent_ = true;
    ws_->async_close(close_reason_,
                     [self = shared_from_this()](error_code) { self->close_timer_.cancel(); });
  }

  // Tears the connection down; pending operations end with an error.
  void fail() {
    if (dead_) {
      return;
    }
    dead_ = true;
    sink_->mark_closed();
    close_timer_.cancel();
    if (ws_) {
      beast::get_lowest_layer(*ws_).close();
    }
  }

  std::shared_ptr<server_state> state_;
  const net::any_io_executor strand_;
  const std::string request_id_;
  const std::shared_ptr<ws_sink> sink_;
  net::steady_timer close_timer_;
  http::request<http::string_body> request_;
  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  beast::flat_buffer rbuf_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::shared_ptr<const std::string> inflight_;
  websocket::close_reason close_reason_;
  bool tracked_ = false;
  bool counted_ = false;
  bool accepted_ = false;
  bool writing_ = false;
  bool close_requested_ = false;
  bool close_sent_ = false;
  bool dead_ = false;
};

template <class Fn>
bool ws_sink::post_to_session(Fn fn) {
  return gate_->run_if_open([&] {
    auto session = session_.lock();
    if (!session) {
      return false;
    }
    net::post(session->strand(), [session, fn = std::move(fn)]() mutable { fn(*session); });
    return true;
  });
}

bool ws_sink::push(std::shared_ptr<const std::string> frame) {
  if (closed_.load()) {
    return false;
  }
  if (queued_.fetch_add(1) + 1 > limit_) {
    queued_.fetch_sub(1);
    if (!closed_.exchange(true)) {
      slow_closes_.inc();
      post_to_session([](ws_session& s) {
        s.begin_close(websocket::close_code::try_again_later, "client too slow", true);
      });
    }
    return false;
  }
  if (!post_to_session([frame = std::move(frame)](ws_session& s) { s.enqueue(frame); })) {
    queued_.fetch_sub(1);
    closed_.store(true);
    return false;
  }
  return true;
}

void ws_sink::close(uint16_t code, std::string reason) {
  if (closed_.exchange(true)) {
    return;
  }
  post_to_session([code, reason = std::move(reason)](ws_session& s) mutable {
    s.begin_close(code, std::move(reason), false);
  });
}

}  // namespace

std::shared_ptr<ws_upgrade> make_ws_upgrade(std::shared_ptr<server_state> state,
                                            net::any_io_executor strand, std::string request_id) {
  auto session =
      std::make_shared<ws_session>(std::move(state), std::move(strand), std::move(request_id));
  session->attach_sink();
  return session;
}

}  // namespace sb::gateway::detail
