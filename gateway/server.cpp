#include "gateway/server.hpp"

#include "gateway/detail/server_state.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <future>
#include <optional>
#include <thread>
#include <vector>

namespace sb::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace detail {

server_state::server_state(server_options opts, actors::api_service& svc)
    : options(std::move(opts)),
      service(svc),
      http_connections(observability::metrics().gauge_of(
          "switchboard_http_connections", "Open HTTP connections (before any WebSocket upgrade).")),
      ws_clients(observability::metrics().gauge_of("switchboard_websocket_clients",
                                                   "Connected WebSocket event clients.")),
      ws_slow_closes(observability::metrics().counter_of(
          "switchboard_websocket_slow_closes_total",
          "WebSocket clients closed with 1013 because they read too slowly.")) {}

void server_state::track(const std::shared_ptr<tracked_session>& s) {
  std::lock_guard lock{mtx_};
  sessions_.emplace(s.get(), s);
}

void server_state::untrack(tracked_session* s) {
  std::lock_guard lock{mtx_};
  if (sessions_.erase(s) > 0 && sessions_.empty()) {
    empty_.notify_all();
  }
}

void server_state::shutdown_all() {
  std::vector<std::weak_ptr<tracked_session>> live;
  {
    std::lock_guard lock{mtx_};
    live.reserve(sessions_.size());
    for (auto& [ptr, weak] : sessions_) {
      live.push_back(weak);
    }
  }
  // Outside the lock: a session may be destroyed right here and untrack itself.
  for (auto& weak : live) {
    if (auto s = weak.lock()) {
      s->shutdown();
    }
  }
}

bool server_state::wait_until_empty(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock{mtx_};
  return empty_.wait_until(lock, deadline, [this] { return sessions_.empty(); });
}

}  // namespace detail

struct server::impl {
  impl(server_options opts, actors::api_service& svc)
      : state(std::make_shared<detail::server_state>(std::move(opts), svc)),
        ioc(std::make_unique<net::io_context>(
            static_cast<int>(std::max<size_t>(1, state->options.threads)))),
        work(ioc->get_executor()),
        acceptor(net::make_strand(*ioc)) {}

  void do_accept() {
    acceptor->async_accept(net::make_strand(*ioc),
                           [this](boost::system::error_code ec, tcp::socket socket) {
                             on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor->is_open() || state->stopping) {
      return;
    }
    // Out of descriptors or a connection reset before accept: keep listening.
    if (!ec) {
      detail::start_http_session(std::move(socket), state);
    }
    do_accept();
  }

  // Closes the acceptor on its strand and waits for that to happen.
  void close_acceptor() {
    std::promise<void> done;
    net::post(acceptor->get_executor(), [this, &done] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
      done.set_value();
    });
    done.get_future().wait_for(std::chrono::seconds(5));
  }

  // The state outlives the io_context: sessions destroyed with the
  // io_context's pending handlers still reach it. stop() destroys the
  // io_context, which closes the connections that outlasted the grace.
  std::shared_ptr<detail::server_state> state;
  std::unique_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::mutex stop_mtx;
  bool started = false;
  bool stopped = false;
};

server::server(server_options options, actors::api_service& service)
    : impl_(std::make_unique<impl>(std::move(options), service)) {}

server::~server() {
  stop(std::chrono::milliseconds(0));
}

bool server::start(std::string& error) {
  auto& d = *impl_;
  std::lock_guard lock{d.stop_mtx};
  if (d.started || d.stopped) {
    error = "the server was already started";
    return false;
  }

  // 1. Bind and listen; every failure is one readable line.
  boost::system::error_code ec;
  auto address = net::ip::make_address(d.state->options.address, ec);
  if (ec) {
    error = "invalid listen address '" + d.state->options.address + "': " + ec.message();
    return false;
  }
  tcp::endpoint endpoint{address, d.state->options.port};
  d.acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    d.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    d.acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    d.acceptor->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    boost::system::error_code ignored;
    d.acceptor->close(ignored);
    error = ec.message();
    return false;
  }
  d.port = d.acceptor->local_endpoint(ec).port();

  // 2. Accept on the acceptor's strand, run the handlers on N threads.
  net::post(d.acceptor->get_executor(), [&d] { d.do_accept(); });
  size_t n = std::max<size_t>(1, d.state->options.threads);
  for (size_t i = 0; i < n; ++i) {
    d.threads.emplace_back([&d] { d.ioc->run(); });
  }
  d.started = true;
  return true;
}

uint16_t server::port() const {
  return impl_->port;
}

void server::stop(std::chrono::milliseconds grace) {
  auto& d = *impl_;
  std::lock_guard lock{d.stop_mtx};
  if (d.stopped) {
    return;
  }
  d.stopped = true;
  if (!d.started) {
    d.state->gate->close();
    d.acceptor.reset();
    d.work.reset();
    d.ioc.reset();
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + grace;

  // 1. No new connections; sessions see `stopping` and close after their
  // current exchange.
  d.state->stopping = true;
  d.close_acceptor();

  // 2. WebSockets get 1001, idle keep-alive connections close, in-flight
  // requests finish until the grace period ends.
  d.state->shutdown_all();
  d.state->wait_until_empty(deadline);

  // 3. Stop the threads.
  d.work.reset();
  d.ioc->stop();
  for (auto& t : d.threads) {
    t.join();
  }
  d.threads.clear();

  // 4. From now on reply handles and sinks held by actors post nowhere; then
  // the connections that outlasted the grace close with the io_context.
  d.state->gate->close();
  d.acceptor.reset();
  d.ioc.reset();
}

}  // namespace sb::gateway
