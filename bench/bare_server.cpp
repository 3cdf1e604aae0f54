// The benchmark's baseline: Beast alone, with the gateway's threading model
// (N Asio threads, one strand per connection, keep-alive) and the headers of
// a real response, answering every request with the bytes of one file.
//
//   bare_server --listen 127.0.0.1:PORT --threads N --body-file F

#include "gateway/request_meta.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using beast::error_code;

constexpr auto read_timeout = std::chrono::seconds(10);
constexpr auto idle_timeout = std::chrono::seconds(60);

struct options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  size_t threads = 1;
  std::string body;
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, const std::string& body) : stream_(std::move(socket)), body_(body) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    req_ = {};
    stream_.expires_after(first_ ? read_timeout : idle_timeout);
    first_ = false;
    http::async_read(stream_, buffer_, req_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, size_t) {
    if (ec) {
      return close();
    }
    // The gateway's response shape: same headers, a copy of the body.
    res_ = {};
    res_.version(11);
    res_.result(http::status::ok);
    res_.set(http::field::content_type, "application/json");
    res_.set("X-Request-Id", sb::gateway::request_id_of(req_["X-Request-Id"]));
    res_.set(http::field::cache_control, "no-store");
    res_.body() = body_;
    res_.keep_alive(req_.keep_alive());
    res_.prepare_payload();
    stream_.expires_after(read_timeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, size_t) {
    if (ec || !res_.keep_alive()) {
      return close();
    }
    do_read();
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  const std::string& body_;
  bool first_ = true;
};

class listener {
 public:
  listener(net::io_context& ioc, tcp::acceptor& acceptor, const std::string& body)
      : ioc_(ioc), acceptor_(acceptor), body_(body) {}

  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
      if (!acceptor_.is_open()) {
        return;
      }
      if (!ec) {
        std::make_shared<session>(std::move(socket), body_)->run();
      }
      do_accept();
    });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor& acceptor_;
  const std::string& body_;
};

bool parse_args(int argc, char** argv, options& o, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) {
      error = "missing value for " + arg;
      return false;
    }
    std::string value = argv[++i];
    if (arg == "--listen") {
      auto colon = value.rfind(':');
      if (colon == std::string::npos) {
        error = "--listen needs ADDRESS:PORT";
        return false;
      }
      o.address = value.substr(0, colon);
      o.port = static_cast<uint16_t>(std::strtoul(value.c_str() + colon + 1, nullptr, 10));
    } else if (arg == "--threads") {
      o.threads = std::max<size_t>(1, std::strtoul(value.c_str(), nullptr, 10));
    } else if (arg == "--body-file") {
      std::ifstream in{value, std::ios::binary};
      if (!in) {
        error = "cannot read " + value;
        return false;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      o.body = ss.str();
    } else {
      error = "unknown argument " + arg;
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::string error;
  if (!parse_args(argc, argv, o, error)) {
    std::cerr << "bare_server: " << error
              << "\nusage: bare_server --listen 127.0.0.1:PORT --threads N --body-file F\n";
    return 2;
  }

  // 1. Bind; a failure is one line and a non-zero exit.
  net::io_context ioc{static_cast<int>(o.threads)};
  tcp::acceptor acceptor{net::make_strand(ioc)};
  error_code ec;
  auto address = net::ip::make_address(o.address, ec);
  tcp::endpoint endpoint{address, o.port};
  if (!ec) {
    acceptor.open(endpoint.protocol(), ec);
  }
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::cerr << "bare_server: cannot listen on " << o.address << ":" << o.port << ": "
              << ec.message() << "\n";
    return 1;
  }
  std::cout << "listening on " << o.address << ":" << acceptor.local_endpoint().port() << std::endl;

  // 2. Serve until SIGINT or SIGTERM.
  listener l{ioc, acceptor, o.body};
  net::post(acceptor.get_executor(), [&l] { l.do_accept(); });
  net::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](error_code, int) { ioc.stop(); });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < o.threads; ++i) {
    threads.emplace_back([&ioc] { ioc.run(); });
  }
  ioc.run();
  for (auto& t : threads) {
    t.join();
  }
  return 0;
}
