#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace sb::testing {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using beast::error_code;

std::string lowercase(std::string_view x) {
  std::string out{x};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Runs handlers until `done` or the deadline; false on timeout.
template <class Pred>
bool run_until(net::io_context& ioc, Pred done, clock::time_point deadline) {
  while (!done()) {
    auto now = clock::now();
    if (now >= deadline) {
      return false;
    }
    if (ioc.stopped()) {
      ioc.restart();
    }
    ioc.run_one_for(deadline - now);
  }
  return true;
}

template <class Fields>
void copy_headers(const Fields& fields, http_response& out) {
  for (const auto& f : fields) {
    auto name = lowercase(f.name_string());
    auto& slot = out.headers[name];
    slot = slot.empty() ? std::string{f.value()} : slot + ", " + std::string{f.value()};
  }
}

tcp::socket connect_to(net::io_context& ioc, const std::string& host, uint16_t port,
                       int receive_buffer) {
  error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    throw std::runtime_error("bad host " + host + ": " + ec.message());
  }
  tcp::endpoint ep{address, port};
  tcp::socket socket{ioc};
  socket.open(ep.protocol(), ec);
  if (!ec && receive_buffer > 0) {
    socket.set_option(net::socket_base::receive_buffer_size(receive_buffer), ec);
  }
  if (!ec) {
    socket.connect(ep, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  return socket;
}

}  // namespace

std::string http_response::header(std::string_view name) const {
  auto i = headers.find(lowercase(name));
  return i == headers.end() ? std::string{} : i->second;
}

// --- http_connection -------------------------------------------------------

struct http_connection::impl {
  net::io_context ioc;
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string host;
  bool head = false;  ///< The next response answers a HEAD: no body follows.

  impl(const std::string& h, uint16_t port) : socket(connect_to(ioc, h, port, 0)), host(h) {}

  // Writes `bytes`; an error is ignored because the server may have answered
  // and closed early (413), which the following read reports.
  void write(std::string_view bytes, std::chrono::milliseconds timeout) {
    bool done = false;
    net::async_write(socket, net::buffer(bytes.data(), bytes.size()),
                     [&](error_code, size_t) { done = true; });
    if (!run_until(
            ioc, [&] { return done; }, clock::now() + timeout)) {
      error_code ignored;
      socket.cancel(ignored);
      run_until(
          ioc, [&] { return done; }, clock::now() + 1s);
    }
  }

  std::optional<http_response> read(std::chrono::milliseconds timeout) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    head = false;
    bool done = false;
    error_code result;
    http::async_read(socket, buffer, parser, [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(
            ioc, [&] { return done; }, clock::now() + timeout)) {
      // The connection is unusable after an abandoned read.
      error_code ignored;
      socket.close(ignored);
      run_until(
          ioc, [&] { return done; }, clock::now() + 1s);
      return std::nullopt;
    }
    if (result) {
      return std::nullopt;
    }
    http_response out;
    out.status = static_cast<int>(parser.get().result_int());
    copy_headers(parser.get(), out);
    out.body = std::move(parser.get().body());
    return out;
  }
};

http_connection::http_connection(const std::string& host, uint16_t port)
    : impl_(std::make_unique<impl>(host, port)) {}

http_connection::~http_connection() = default;

http_response http_connection::request(const std::string& method, const std::string& target,
                                       const std::string& body, const header_map& headers,
                                       std::chrono::milliseconds timeout) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host);
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    req.prepare_payload();
  }

  impl_->head = method == "HEAD";
  bool done = false;
  http::async_write(impl_->socket, req, [&](error_code, size_t) { done = true; });
  run_until(
      impl_->ioc, [&] { return done; }, clock::now() + timeout);

  auto res = impl_->read(timeout);
  if (!res) {
    throw std::runtime_error("no response to " + method + " " + target);
  }
  return std::move(*res);
}

void http_connection::send_raw(std::string_view bytes, std::chrono::milliseconds timeout) {
  impl_->write(bytes, timeout);
}

std::optional<http_response> http_connection::read_response(std::chrono::milliseconds timeout) {
  return impl_->read(timeout);
}

bool http_connection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  char scratch[4096];
  for (;;) {
    bool done = false;
    error_code result;
    impl_->socket.async_read_some(net::buffer(scratch), [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(
            impl_->ioc, [&] { return done; }, deadline)) {
      error_code ignored;
      impl_->socket.cancel(ignored);
      run_until(
          impl_->ioc, [&] { return done; }, clock::now() + 1s);
      return false;
    }
    if (result) {
      return true;  // EOF or reset: closed either way.
    }
  }
}

http_response request(const std::string& host, uint16_t port, const std::string& method,
                      const std::string& target, const std::string& body, const header_map& headers,
                      std::chrono::milliseconds timeout) {
  http_connection conn{host, port};
  return conn.request(method, target, body, headers, timeout);
}

// --- ws_client -------------------------------------------------------------

struct ws_client::impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws;
  http_response response;
  bool accepted = false;
  bool closed = false;
  std::optional<uint16_t> close_code;

  // A read that outlived its read_text call.
  bool reading = false;
  bool read_done = false;
  error_code read_result;
  beast::flat_buffer buffer;

  impl(const std::string& host, uint16_t port, const ws_options& opts)
      : ws(connect_to(ioc, host, port, opts.receive_buffer)) {
    ws.set_option(
        websocket::stream_base::decorator([headers = opts.headers](websocket::request_type& req) {
          for (const auto& [name, value] : headers) {
            req.set(name, value);
          }
        }));
    websocket::response_type res;
    bool done = false;
    error_code result;
    ws.async_handshake(res, host + ":" + std::to_string(port), opts.target, [&](error_code ec) {
      result = ec;
      done = true;
    });
    if (!run_until(
            ioc, [&] { return done; }, clock::now() + opts.timeout)) {
      throw std::runtime_error("WebSocket handshake timed out");
    }
    response.status = static_cast<int>(res.result_int());
    copy_headers(res, response);
    response.body = res.body();
    accepted = !result;
    closed = !accepted;
  }

  void on_end(error_code ec) {
    closed = true;
    if (ec == websocket::error::closed) {
      close_code = static_cast<uint16_t>(ws.reason().code);
    }
  }
};

ws_client::ws_client(const std::string& host, uint16_t port, ws_options options)
    : impl_(std::make_unique<impl>(host, port, options)) {}

ws_client::~ws_client() {
  if (!impl_->closed) {
    error_code ignored;
    impl_->ws.next_layer().close(ignored);
  }
}

bool ws_client::accepted() const {
  return impl_->accepted;
}

const http_response& ws_client::response() const {
  return impl_->response;
}

std::optional<std::string> ws_client::read_text(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (d.closed && !d.reading) {
    return std::nullopt;
  }
  if (!d.reading) {
    d.reading = true;
    d.read_done = false;
    d.ws.async_read(d.buffer, [&d](error_code ec, size_t) {
      d.read_result = ec;
      d.read_done = true;
    });
  }
  if (!run_until(
          d.ioc, [&d] { return d.read_done; }, clock::now() + timeout)) {
    return std::nullopt;
  }
  d.reading = false;
  if (d.read_result) {
    d.on_end(d.read_result);
    return std::nullopt;
  }
  std::string text = beast::buffers_to_string(d.buffer.data());
  d.buffer.consume(d.buffer.size());
  return text;
}

void ws_client::write_text(const std::string& text) {
  auto& d = *impl_;
  bool done = false;
  d.ws.text(true);
  d.ws.async_write(net::buffer(text), [&](error_code, size_t) { done = true; });
  run_until(
      d.ioc, [&] { return done; }, clock::now() + 10s);
}

std::optional<uint16_t> ws_client::close_code() const {
  return impl_->close_code;
}

bool ws_client::closed() const {
  return impl_->closed;
}

void ws_client::close(uint16_t code) {
  auto& d = *impl_;
  if (d.closed) {
    return;
  }
  bool done = false;
  d.ws.async_close(websocket::close_reason{static_cast<websocket::close_code>(code)},
                   [&](error_code) { done = true; });
  run_until(
      d.ioc, [&] { return done && (!d.reading || d.read_done); }, clock::now() + 5s);
  d.closed = true;
}

}  // namespace sb::testing
