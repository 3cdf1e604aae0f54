// The gateway server end to end on 127.0.0.1: a real listener and real
// sockets in front of a small api_service that echoes what it receives.

#include "gateway/server.hpp"

#include "actors/api.hpp"
#include "actors/events.hpp"
#include "observability/metrics.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using sb::actors::api_request;
using sb::actors::api_response;
using sb::actors::event_sink;
using sb::actors::reply_handle;
using sb::testing::http_connection;
using sb::testing::http_response;
using sb::testing::ws_client;
using sb::testing::ws_options;
using clock_type = std::chrono::steady_clock;

const std::string host = "127.0.0.1";
const std::string good_token = "good-token";

/// Echoes every request as JSON. Route "videos.get" with id "never" is held
/// without an answer, id "drop" drops its reply handle. Event streams are
/// authorised with good_token.
/// Takes an upload's pieces and answers 202 with what it received. With
/// `hold`, the first piece is not acknowledged until release(); with `stop`,
/// it answers 422 and stops reading after the first piece.
class test_upload final : public sb::actors::body_sink {
 public:
  test_upload(reply_handle reply, bool hold, bool stop)
      : reply_(std::move(reply)), hold_(hold), stop_(stop) {}

  void write(std::string piece, ready_handler ready) override {
    std::lock_guard lock{mtx_};
    data_ += piece;
    ++pieces_;
    if (stop_) {
      reply_.deliver(sb::actors::problem(422, "the first piece is enough", reply_.request_id()));
      ready(false);
      return;
    }
    if (hold_ && pieces_ == 1) {
      held_ = std::move(ready);
      return;
    }
    ready(true);
  }

  void finish() override {
    std::lock_guard lock{mtx_};
    finished_ = true;
    api_response res;
    res.status = 202;
    res.body = json{{"bytes", data_.size()}, {"pieces", pieces_}}.dump();
    reply_.deliver(std::move(res));
  }

  void abort() override {
    std::lock_guard lock{mtx_};
    aborted_ = true;
  }

  /// Acknowledges the held first piece.
  void release() {
    ready_handler ready;
    {
      std::lock_guard lock{mtx_};
      ready = std::move(held_);
    }
    if (ready) {
      ready(true);
    }
  }

  size_t pieces() const {
    std::lock_guard lock{mtx_};
    return pieces_;
  }
  std::string data() const {
    std::lock_guard lock{mtx_};
    return data_;
  }
  bool aborted() const {
    std::lock_guard lock{mtx_};
    return aborted_;
  }
  bool finished() const {
    std::lock_guard lock{mtx_};
    return finished_;
  }

 private:
  mutable std::mutex mtx_;
  reply_handle reply_;
  bool hold_;
  bool stop_;
  std::string data_;
  size_t pieces_ = 0;
  ready_handler held_;
  bool aborted_ = false;
  bool finished_ = false;
};

/// A body of `count` pieces "piece-<i>;"; with `fail_at`, the piece of that
/// index fails instead. Counts the gateway's cancel() calls.
class test_source final : public sb::actors::body_source {
 public:
  test_source(int count, int fail_at, std::shared_ptr<std::atomic<int>> cancels)
      : count_(count), fail_at_(fail_at), cancels_(std::move(cancels)) {}

  static std::string body(int count) {
    std::string out;
    for (int i = 0; i < count; ++i) {
      out += "piece-" + std::to_string(i) + ";";
    }
    return out;
  }

  void next(piece_handler done) override {
    int i = next_++;
    if (i == fail_at_) {
      return done(std::nullopt, false);
    }
    // From another thread, as a database worker would answer.
    std::thread{[done, i, last = i + 1 >= count_] {
      done("piece-" + std::to_string(i) + ";", last);
    }}.detach();
  }

  void cancel() override { ++*cancels_; }

 private:
  int count_;
  int fail_at_;
  int next_ = 0;
  std::shared_ptr<std::atomic<int>> cancels_;
};

class test_service final : public sb::actors::api_service {
 public:
  void open_upload(api_request req, reply_handle reply,
                   std::function<void(std::shared_ptr<sb::actors::body_sink>)> accept) override {
    if (req.token != good_token) {
      reply.deliver(sb::actors::problem(401, "the token is not valid", req.request_id));
      return;
    }
    auto sink = std::make_shared<test_upload>(reply, req.query.count("hold") > 0,
                                              req.query.count("stop") > 0);
    {
      std::lock_guard lock{mtx_};
      uploads_.push_back(sink);
      changed_.notify_all();
    }
    accept(sink);
  }

  /// Waits until the `n`-th upload (from 0) was opened.
  std::shared_ptr<test_upload> upload(size_t n) {
    std::unique_lock lock{mtx_};
    if (!changed_.wait_for(lock, 10s, [&] { return uploads_.size() > n; })) {
      FAIL("upload " << n << " was never opened");
    }
    return uploads_[n];
  }

  size_t uploads_opened() {
    std::lock_guard lock{mtx_};
    return uploads_.size();
  }

  /// How often the gateway cancelled a streamed response.
  const std::shared_ptr<std::atomic<int>> cancels = std::make_shared<std::atomic<int>>(0);

  void handle(api_request req, reply_handle reply) override {
    if (req.route == "reports.download") {
      // /v1/reports/<count>/download[?length][&fail=<i>]
      int count = std::stoi(req.params.at(0));
      int fail_at = req.query.count("fail") > 0 ? std::stoi(req.query["fail"]) : -1;
      api_response res;
      res.content_type = "text/csv";
      res.stream = std::make_shared<test_source>(count, fail_at, cancels);
      if (req.query.count("length") > 0) {
        res.content_length = test_source::body(count).size();
      }
      reply.deliver(std::move(res));
      return;
    }
    if (req.route == "videos.get" && req.params.size() == 1) {
      if (req.params[0] == "never") {
        std::lock_guard lock{mtx_};
        held_.push_back(std::move(reply));
        changed_.notify_all();
        return;
      }
      if (req.params[0] == "drop") {
        return;  // The only copy dies here: the handle answers 500 itself.
      }
      if (req.params[0].rfind("status-", 0) == 0) {
        auto res = echo(req);
        res.status = static_cast<uint16_t>(std::stoi(req.params[0].substr(7)));
        reply.deliver(std::move(res));
        return;
      }
    }
    reply.deliver(echo(req));
  }

  void open_events(api_request req, std::shared_ptr<event_sink> sink, reply_handle reply) override {
    if (req.token != good_token) {
      auto res = sb::actors::problem(401, "the token is not valid", req.request_id);
      res.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      reply.deliver(std::move(res));
      return;
    }
    {
      std::lock_guard lock{mtx_};
      streams_.push_back({req, sink});
      changed_.notify_all();
    }
    // As the event hub may: a frame arrives before the handshake is done.
    if (req.query.count("welcome") > 0) {
      sink->push(std::make_shared<const std::string>("welcome"));
    }
    api_response res;
    res.status = 101;
    res.workspace_id = "ws-1";
    reply.deliver(std::move(res));
  }

  static api_response echo(const api_request& r) {
    json j = {{"method", r.method},
              {"route", r.route},
              {"path", r.path},
              {"params", r.params},
              {"query", r.query},
              {"body", r.body},
              {"content_type", r.content_type},
              {"token", r.token},
              {"if_match", r.if_match},
              {"request_id", r.request_id},
              {"trace_id", r.trace_id},
              {"client_address", r.client_address}};
    api_response res;
    res.status = r.route == "contacts.create" ? 201 : 200;
    res.body = j.dump();
    res.workspace_id = "ws-1";
    res.headers.emplace_back("ETag", "\"v7\"");
    return res;
  }

  /// Waits until the `n`-th event stream (from 0) was opened.
  std::pair<api_request, std::shared_ptr<event_sink>> stream(size_t n) {
    std::unique_lock lock{mtx_};
    if (!changed_.wait_for(lock, 10s, [&] { return streams_.size() > n; })) {
      FAIL("event stream " << n << " was never opened");
    }
    return streams_[n];
  }

  /// Waits until `n` requests are held unanswered.
  void wait_held(size_t n) {
    std::unique_lock lock{mtx_};
    if (!changed_.wait_for(lock, 10s, [&] { return held_.size() >= n; })) {
      FAIL("the request was never received");
    }
  }

  /// Answers the oldest held request.
  bool answer_held(api_response res) {
    reply_handle r;
    {
      std::lock_guard lock{mtx_};
      r = held_.front();
    }
    return r.deliver(std::move(res));
  }

 private:
  std::mutex mtx_;
  std::condition_variable changed_;
  std::vector<reply_handle> held_;
  std::vector<std::pair<api_request, std::shared_ptr<event_sink>>> streams_;
  std::vector<std::shared_ptr<test_upload>> uploads_;
};

sb::gateway::server_options test_options() {
  sb::gateway::server_options o;
  o.address = host;
  o.port = 0;
  o.threads = 2;
  o.body_limit = 1024;
  o.large_body_limit = 4096;
  o.upload_limit = 8 * 1024 * 1024;
  o.header_limit = 1024;
  o.url_limit = 256;
  o.read_timeout = 2s;
  o.idle_timeout = 5s;
  o.handler_timeout = 5s;
  o.ws_queue_limit = 64;
  o.ws_ping_interval = 30s;
  return o;
}

/// A started server in front of a test_service; the service outlives it.
struct fixture {
  explicit fixture(sb::gateway::server_options o = test_options()) : server(o, service) {
    std::string error;
    REQUIRE(server.start(error));
    port = server.port();
  }

  http_response get(const std::string& target, const sb::testing::header_map& headers = {}) {
    return sb::testing::request(host, port, "GET", target, {}, headers);
  }

  test_service service;
  sb::gateway::server server;
  uint16_t port = 0;
};

sb::testing::header_map bearer(const std::string& token = "t0k") {
  return {{"Authorization", "Bearer " + token}};
}

// Checks an RFC 9457 body and that it names the request id of the response.
void check_problem(const http_response& res, int status) {
  INFO(res.body);
  CHECK(res.status == status);
  CHECK(res.header("content-type") == "application/problem+json");
  CHECK(res.header("cache-control") == "no-store");
  auto j = json::parse(res.body, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["status"] == status);
  CHECK(j["type"] == "about:blank");
  CHECK_FALSE(res.header("x-request-id").empty());
  CHECK(j["request_id"] == res.header("x-request-id"));
}

double requests_total(const std::string& route, const std::string& method, int status) {
  return sb::observability::metrics()
      .counter_of("switchboard_http_requests_total",
                  "HTTP requests answered, by route, method and status.",
                  {{"route", route}, {"method", method}, {"status", std::to_string(status)}})
      .value();
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 5s) {
  auto deadline = clock_type::now() + within;
  while (!pred()) {
    if (clock_type::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::shared_ptr<const std::string> frame(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

}  // namespace

// --- Request ids, tracing, request fields ------------------------------------

TEST_CASE("the gateway generates a request id when the client sends none") {
  fixture f;
  auto a = f.get("/v1/contacts/1", bearer());
  auto b = f.get("/v1/contacts/1", bearer());
  REQUIRE(a.status == 200);
  auto id = a.header("x-request-id");
  CHECK(id.size() == 32);
  CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(json::parse(a.body)["request_id"] == id);
  CHECK(b.header("x-request-id") != id);
}

TEST_CASE("the gateway keeps a valid client request id and replaces an invalid one") {
  fixture f;
  auto headers = bearer();
  headers["X-Request-Id"] = "client-1.2:3_4";
  auto kept = f.get("/v1/contacts/1", headers);
  CHECK(kept.header("x-request-id") == "client-1.2:3_4");
  CHECK(json::parse(kept.body)["request_id"] == "client-1.2:3_4");

  headers["X-Request-Id"] = "has spaces";
  auto replaced = f.get("/v1/contacts/1", headers);
  CHECK(replaced.header("x-request-id").size() == 32);

  headers["X-Request-Id"] = std::string(129, 'a');
  CHECK(f.get("/v1/contacts/1", headers).header("x-request-id").size() == 32);

  // Gateway-made errors carry the client's id too.
  auto missing = f.get("/nowhere", {{"X-Request-Id", "abc"}});
  CHECK(missing.header("x-request-id") == "abc");
  CHECK(json::parse(missing.body)["request_id"] == "abc");
}

TEST_CASE("a valid traceparent becomes the trace id and an invalid one is ignored") {
  fixture f;
  auto headers = bearer();
  headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK(json::parse(f.get("/v1/me", headers).body)["trace_id"] ==
        "4bf92f3577b34da6a3ce929d0e0e4736");

  headers["traceparent"] = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
  CHECK(json::parse(f.get("/v1/me", headers).body)["trace_id"] == "");
  headers["traceparent"] = "garbage";
  CHECK(json::parse(f.get("/v1/me", headers).body)["trace_id"] == "");
  CHECK(json::parse(f.get("/v1/me", bearer()).body)["trace_id"] == "");
}

TEST_CASE("the api service receives every field of a routed request") {
  fixture f;
  sb::testing::header_map headers = {
      {"Authorization", "Bearer secret-token"},
      {"Content-Type", "Application/JSON; charset=utf-8"},
      {"If-Match", "\"v3\""},
      {"X-Request-Id", "req-42"},
  };
  auto res = sb::testing::request(host, f.port, "POST", "/v1/contacts?x=1&y=a%20b+c&x=2",
                                  R"({"name":"Ada"})", headers);
  REQUIRE(res.status == 201);
  CHECK(res.header("content-type") == "application/json");
  CHECK(res.header("cache-control") == "no-store");
  CHECK(res.header("etag") == "\"v7\"");
  auto j = json::parse(res.body);
  CHECK(j["method"] == "POST");
  CHECK(j["route"] == "contacts.create");
  CHECK(j["path"] == "/v1/contacts");
  CHECK(j["params"].empty());
  CHECK(j["query"] == json{{"x", "1"}, {"y", "a b c"}});
  CHECK(j["body"] == R"({"name":"Ada"})");
  CHECK(j["content_type"] == "application/json");
  CHECK(j["token"] == "secret-token");
  CHECK(j["if_match"] == "\"v3\"");
  CHECK(j["request_id"] == "req-42");
  CHECK(j["client_address"] == "127.0.0.1");

  auto got = f.get("/v1/deals/a%2Fb%20c", bearer());
  auto params = json::parse(got.body)["params"];
  CHECK(params == json::array({"a/b c"}));
  CHECK(json::parse(got.body)["route"] == "deals.get");
}

// --- Routing and authentication ----------------------------------------------

TEST_CASE("an unknown path gets a 404 problem") {
  fixture f;
  double before = requests_total("unmatched", "GET", 404);
  auto res = f.get("/v1/nothing-here");
  check_problem(res, 404);
  CHECK(requests_total("unmatched", "GET", 404) == before + 1);

  // A trailing slash is another path.
  check_problem(f.get("/v1/me/", bearer()), 404);
}

TEST_CASE("a known path with a wrong method gets a 405 problem with Allow") {
  fixture f;
  auto res = sb::testing::request(host, f.port, "PUT", "/v1/contacts/9", "{}", bearer());
  check_problem(res, 405);
  CHECK(res.header("allow") == "GET, PATCH, DELETE");

  res = sb::testing::request(host, f.port, "DELETE", "/v1/contacts", {}, bearer());
  check_problem(res, 405);
  CHECK(res.header("allow") == "POST, GET");
}

TEST_CASE("a session route without a bearer token gets 401 with WWW-Authenticate") {
  fixture f;
  auto res = f.get("/v1/me");
  check_problem(res, 401);
  CHECK(res.header("www-authenticate") == "Bearer");

  res = f.get("/v1/me", {{"Authorization", "Basic dXNlcjpwdw=="}});
  check_problem(res, 401);

  // Open routes need no token; the actors decide about the rest.
  auto open = sb::testing::request(host, f.port, "POST", "/v1/auth/login", "{}");
  CHECK(open.status == 200);
  CHECK(json::parse(open.body)["route"] == "auth.login");
  CHECK(f.get("/readyz").status == 200);
}

TEST_CASE("healthz and metrics are answered by the gateway itself") {
  fixture f;
  double before = requests_total("healthz", "GET", 200);
  auto health = f.get("/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == R"({"status":"ok"})");
  CHECK(health.header("content-type") == "application/json");
  CHECK_FALSE(health.header("x-request-id").empty());
  CHECK(requests_total("healthz", "GET", 200) == before + 1);

  auto metrics = f.get("/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body.find("switchboard_http_requests_total{") != std::string::npos);
  CHECK(metrics.body.find("switchboard_http_request_duration_seconds_bucket{") !=
        std::string::npos);
  CHECK(metrics.body.find("switchboard_http_connections") != std::string::npos);
}

// --- Limits and malformed requests -------------------------------------------

TEST_CASE("a declared body over body_limit gets 413 before the body is read") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      "X-Request-Id: big-1\r\nContent-Length: 2048\r\n\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 413);
  CHECK(res->header("x-request-id") == "big-1");
  CHECK(res->header("connection") == "close");
}

TEST_CASE("a chunked body growing over body_limit gets 413") {
  fixture f;
  http_connection c{host, f.port};
  std::string chunk(600, 'a');
  std::string req =
      "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    req += "258\r\n" + chunk + "\r\n";
  }
  req += "0\r\n\r\n";
  c.send_raw(req);
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 413);
}

TEST_CASE("a chunked body within body_limit is received whole") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(json::parse(res->body)["body"] == "abcde");
}

TEST_CASE("a batch route takes bodies up to large_body_limit") {
  fixture f;
  auto auth = bearer();
  auth["Content-Type"] = "application/json";
  auto ok = sb::testing::request(host, f.port, "POST", "/v1/activity/batch", std::string(3000, 'x'),
                                 auth);
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["body"].get<std::string>().size() == 3000);

  auto big = sb::testing::request(host, f.port, "POST", "/v1/activity/batch",
                                  std::string(5000, 'x'), auth);
  check_problem(big, 413);
  // Other routes keep body_limit.
  auto small =
      sb::testing::request(host, f.port, "POST", "/v1/contacts", std::string(3000, 'x'), auth);
  check_problem(small, 413);
}

// --- Streamed uploads and responses --------------------------------------------

std::string upload_head(const std::string& target, const std::string& extra = {}) {
  return "POST " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + good_token +
         "\r\nContent-Type: text/csv\r\n" + extra;
}

TEST_CASE("an upload reaches the sink whole, in pieces, and the sink answers") {
  fixture f;
  std::string body;
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) {
    body += "row-" + std::to_string(i) + ",x\n";
  }
  http_connection c{host, f.port};
  auto res = c.request("POST", "/v1/contacts/import", body,
                       {{"Authorization", "Bearer " + good_token}, {"Content-Type", "text/csv"}});
  REQUIRE(res.status == 202);
  auto sink = f.service.upload(0);
  CHECK(sink->data() == body);
  CHECK(sink->pieces() > 1);
  CHECK(json::parse(res.body)["bytes"] == body.size());
  CHECK_FALSE(sink->aborted());

  // The connection stays usable after a completed upload.
  CHECK(c.request("GET", "/v1/me", {}, bearer()).status == 200);
}

TEST_CASE("a chunked upload is de-chunked for the sink") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(upload_head("/v1/contacts/import", "Transfer-Encoding: chunked\r\n\r\n") +
             "4\r\na,b\n\r\n6\r\n\"c,\"\nd\r\n0\r\n\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  CHECK(res->status == 202);
  CHECK(f.service.upload(0)->data() == "a,b\n\"c,\"\nd");
}

TEST_CASE("an upload is read only as fast as the sink takes it") {
  fixture f;
  http_connection c{host, f.port};
  std::string body(6 * 1024 * 1024, 'z');
  c.send_raw(upload_head("/v1/contacts/import?hold",
                         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
  // The client writes on its own thread: most of the body must stay in the
  // socket buffers while the sink holds its first piece.
  auto writer = std::async(std::launch::async, [&] { c.send_raw(body, 20s); });
  auto sink = f.service.upload(0);
  REQUIRE(eventually([&] { return sink->pieces() == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(sink->pieces() == 1);
  CHECK(sink->data().size() <= 256 * 1024);

  sink->release();
  writer.get();
  auto res = c.read_response(10s);
  REQUIRE(res);
  CHECK(res->status == 202);
  CHECK(sink->data().size() == body.size());
}

TEST_CASE("an upload the service refuses is answered before its body is read") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      "POST /v1/contacts/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bad\r\n"
      "Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 401);  // The final status, with no 100 before it.
  CHECK(res->header("connection") == "close");
  CHECK(f.service.uploads_opened() == 0);

  auto anonymous = sb::testing::request(host, f.port, "POST", "/v1/contacts/import", "a,b\n");
  check_problem(anonymous, 401);
}

TEST_CASE("an accepted upload with Expect 100-continue gets the interim response") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      upload_head("/v1/contacts/import", "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = c.read_response(5s);
  REQUIRE(interim);
  CHECK(interim->status == 100);
  c.send_raw("a,b\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  CHECK(res->status == 202);
}

TEST_CASE("an upload over upload_limit gets 413 and the sink is aborted") {
  auto o = test_options();
  o.upload_limit = 64 * 1024;
  fixture f{o};

  SECTION("declared") {
    http_connection c{host, f.port};
    c.send_raw(upload_head("/v1/contacts/import", "Content-Length: 70000\r\n\r\n"));
    auto res = c.read_response(5s);
    REQUIRE(res);
    check_problem(*res, 413);
    CHECK(f.service.uploads_opened() == 0);
  }
  SECTION("chunked") {
    http_connection c{host, f.port};
    c.send_raw(upload_head("/v1/contacts/import", "Transfer-Encoding: chunked\r\n\r\n"));
    std::string chunk(16 * 1024, 'q');
    for (int i = 0; i < 5; ++i) {
      c.send_raw("4000\r\n" + chunk + "\r\n");
    }
    auto res = c.read_response(5s);
    REQUIRE(res);
    check_problem(*res, 413);
    auto sink = f.service.upload(0);
    CHECK(eventually([&] { return sink->aborted(); }));
    CHECK_FALSE(sink->finished());
  }
}

TEST_CASE("an upload whose client goes away mid-body is aborted") {
  fixture f;
  {
    http_connection c{host, f.port};
    c.send_raw(upload_head("/v1/contacts/import", "Content-Length: 100000\r\n\r\n") +
               std::string(5000, 'a'));
    auto sink = f.service.upload(0);
    REQUIRE(eventually([&] { return sink->pieces() >= 1; }));
  }
  auto sink = f.service.upload(0);
  CHECK(eventually([&] { return sink->aborted(); }));
  CHECK_FALSE(sink->finished());
}

TEST_CASE("a sink that stops an upload answers and the connection closes") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(upload_head("/v1/contacts/import?stop", "Content-Length: 100000\r\n\r\n") +
             std::string(5000, 'a'));
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 422);
  CHECK(res->header("connection") == "close");
}

TEST_CASE("a streamed response arrives whole, with or without a Content-Length") {
  fixture f;
  http_connection c{host, f.port};
  auto chunked = c.request("GET", "/v1/reports/50/download", {}, bearer());
  CHECK(chunked.status == 200);
  CHECK(chunked.header("content-type") == "text/csv");
  CHECK(chunked.header("transfer-encoding") == "chunked");
  CHECK(chunked.body == test_source::body(50));

  // Same connection: a finished stream leaves it ready for the next request.
  auto sized = c.request("GET", "/v1/reports/7/download?length", {}, bearer());
  CHECK(sized.status == 200);
  CHECK(sized.header("content-length") == std::to_string(test_source::body(7).size()));
  CHECK(sized.body == test_source::body(7));
  CHECK(f.service.cancels->load() == 0);
}

TEST_CASE("a streamed response that fails midway cuts the connection") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      "GET /v1/reports/10/download?length&fail=3 HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer t\r\n\r\n");
  // The header and three pieces went out; then the connection closes without
  // the rest of the declared length, so the client cannot take it as whole.
  CHECK_FALSE(c.read_response(5s).has_value());
  CHECK(eventually([&] { return f.service.cancels->load() == 1; }));
}

TEST_CASE("a client that leaves mid-download cancels the source") {
  fixture f;
  {
    http_connection c{host, f.port};
    c.send_raw(
        "GET /v1/reports/100000/download HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer t\r\n\r\n");
    std::this_thread::sleep_for(50ms);
  }
  CHECK(eventually([&] { return f.service.cancels->load() == 1; }));
}

TEST_CASE("a body with a content coding gets 415") {
  fixture f;
  auto auth = bearer();
  auth["Content-Encoding"] = "gzip";
  auto res = sb::testing::request(host, f.port, "POST", "/v1/contacts", "\x1f\x8b", auth);
  check_problem(res, 415);
  auth["Content-Encoding"] = "identity";
  CHECK(sb::testing::request(host, f.port, "POST", "/v1/contacts", "{}", auth).status == 201);
}

TEST_CASE("a client that leaves mid-request is counted as 499") {
  fixture f;
  auto before = requests_total("contacts.import", "POST", 499);
  {
    http_connection c{host, f.port};
    c.send_raw(upload_head("/v1/contacts/import", "Content-Length: 100000\r\n\r\n") + "a,b\n");
    auto sink = f.service.upload(0);
    REQUIRE(eventually([&] { return sink->pieces() >= 1; }));
  }
  CHECK(eventually([&] { return requests_total("contacts.import", "POST", 499) == before + 1; }));
}

TEST_CASE("a request target over url_limit gets 414") {
  fixture f;
  // Just over url_limit, and far over the whole header allowance.
  for (size_t n : {300, 5000}) {
    auto res = f.get("/v1/contacts/" + std::string(n, 'x'), bearer());
    INFO(n);
    check_problem(res, 414);
  }
}

TEST_CASE("a header block over header_limit gets 431") {
  fixture f;
  auto headers = bearer();
  headers["X-Padding"] = std::string(1100, 'p');
  check_problem(f.get("/v1/me", headers), 431);

  // Many small fields add up as well.
  headers.clear();
  for (int i = 0; i < 40; ++i) {
    headers["X-Field-" + std::to_string(i)] = std::string(30, 'v');
  }
  check_problem(f.get("/v1/me", headers), 431);
}

TEST_CASE("a header block over header_limit after a short target gets 431, not 414") {
  auto o = test_options();
  fixture f{o};
  http_connection c{host, f.port};
  // Larger than header_limit and url_limit together: Beast has consumed the
  // start line by the time it gives up.
  c.send_raw("GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 431);
}

TEST_CASE("a header of many small fields that arrives in parts is held to header_limit") {
  fixture f;
  http_connection c{host, f.port};
  // About 1,150 bytes: over header_limit (1024), under what Beast itself
  // refuses (header_limit + url_limit), in two writes.
  std::string fields;
  for (int i = 0; i < 105; ++i) {
    fields += "X-H" + std::to_string(100 + i) + ": v\r\n";
  }
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields.substr(0, 500));
  std::this_thread::sleep_for(100ms);
  c.send_raw(fields.substr(500) + "\r\n");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 431);
}

TEST_CASE("HEAD is answered as the GET it stands for, without the body") {
  fixture f;
  http_connection c{host, f.port};
  auto health = c.request("HEAD", "/healthz");
  CHECK(health.status == 200);
  CHECK(health.header("content-length") == "15");  // {"status":"ok"}
  CHECK(health.body.empty());

  auto routed = c.request("HEAD", "/v1/videos/v1", {}, bearer());
  CHECK(routed.status == 200);
  CHECK(routed.body.empty());
  CHECK(std::stoul(routed.header("content-length")) > 0);
  auto download = c.request("HEAD", "/v1/reports/3/download?length", {}, bearer());
  CHECK(download.status == 200);
  CHECK(download.header("content-length") == std::to_string(test_source::body(3).size()));
  CHECK(download.body.empty());

  // The connection is still in step: the service saw a GET.
  auto echoed = c.request("GET", "/v1/videos/v1", {}, bearer());
  CHECK(json::parse(echoed.body)["method"] == "GET");
}

TEST_CASE("Content-Length together with Transfer-Encoding gets 400 and a close") {
  fixture f;
  for (std::string fields : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                             "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                             "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"}) {
    INFO(fields);
    http_connection c{host, f.port};
    c.send_raw("POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n" + fields +
               "\r\n0\r\n\r\n");
    auto res = c.read_response(5s);
    REQUIRE(res);
    check_problem(*res, 400);
    CHECK(c.wait_closed(5s));
  }
}

TEST_CASE("a malformed request gets 400 and a close") {
  fixture f;
  for (std::string raw : {"GET /v1/me HTTP/1.1\r\nHost x\r\n\r\n", "BLAH\r\n\r\n",
                          "GET /v1/me HTTP/9.9\r\nHost: x\r\n\r\n"}) {
    INFO(raw);
    http_connection c{host, f.port};
    c.send_raw(raw);
    auto res = c.read_response(5s);
    REQUIRE(res);
    check_problem(*res, 400);
    CHECK(c.wait_closed(5s));
  }
}

// --- Timeouts -----------------------------------------------------------------

TEST_CASE("a client that sends half a request is cut off after read_timeout with 408") {
  auto o = test_options();
  o.read_timeout = 300ms;
  fixture f{o};
  http_connection c{host, f.port};
  auto start = clock_type::now();
  c.send_raw("GET /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bea");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 408);
  CHECK(c.wait_closed(5s));
  auto elapsed = clock_type::now() - start;
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 300ms + 1500ms);
}

TEST_CASE("a slow body is cut off after read_timeout, counted from the first byte") {
  auto o = test_options();
  o.read_timeout = 300ms;
  fixture f{o};
  http_connection c{host, f.port};
  auto start = clock_type::now();
  c.send_raw(
      "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      "Content-Length: 10\r\n\r\nabc");
  auto res = c.read_response(5s);
  REQUIRE(res);
  check_problem(*res, 408);
  CHECK(clock_type::now() - start < 300ms + 1500ms);
}

TEST_CASE("an idle keep-alive connection is closed after idle_timeout") {
  auto o = test_options();
  o.idle_timeout = 300ms;
  fixture f{o};
  http_connection c{host, f.port};
  CHECK(c.request("GET", "/healthz").status == 200);
  auto start = clock_type::now();
  CHECK(c.wait_closed(5s));
  auto elapsed = clock_type::now() - start;
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 300ms + 1500ms);
}

TEST_CASE("a request nobody answers gets 504 after handler_timeout") {
  auto o = test_options();
  o.handler_timeout = 200ms;
  fixture f{o};
  http_connection c{host, f.port};
  auto start = clock_type::now();
  auto res = c.request("GET", "/v1/videos/never", {}, bearer());
  check_problem(res, 504);
  CHECK(clock_type::now() - start >= 190ms);

  // The late reply goes nowhere: the exchange ended with the 504, and the
  // next request on the connection gets its own response.
  f.service.wait_held(1);
  api_response late;
  late.status = 418;
  f.service.answer_held(late);
  auto next = c.request("GET", "/v1/videos/1", {}, bearer());
  CHECK(next.status == 200);
  CHECK(json::parse(next.body)["params"] == json::array({"1"}));
  CHECK_FALSE(c.read_response(300ms));
}

TEST_CASE("a reply with a status that cannot end an exchange becomes a 500") {
  fixture f;
  for (auto id : {"status-42", "status-101", "status-700"}) {
    INFO(id);
    check_problem(f.get(std::string{"/v1/videos/"} + id, bearer()), 500);
  }
  CHECK(f.get("/v1/videos/status-204", bearer()).status == 204);
}

TEST_CASE("a dropped reply handle answers 500") {
  fixture f;
  auto res = f.get("/v1/videos/drop", bearer());
  check_problem(res, 500);
}

// --- Keep-alive -----------------------------------------------------------------

TEST_CASE("a keep-alive connection serves several requests in order") {
  fixture f;
  http_connection c{host, f.port};
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto res = c.request("GET", "/v1/contacts/" + std::to_string(i), {}, bearer());
    REQUIRE(res.status == 200);
    CHECK(json::parse(res.body)["params"] == json::array({std::to_string(i)}));
    ids.push_back(res.header("x-request-id"));
  }
  CHECK(ids[0] != ids[4]);

  // Pipelined requests are answered in the order they were sent.
  std::string two;
  for (int i : {10, 11, 12}) {
    two += "GET /v1/contacts/" + std::to_string(i) +
           " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n";
  }
  c.send_raw(two);
  for (int i : {10, 11, 12}) {
    auto res = c.read_response(5s);
    REQUIRE(res);
    CHECK(json::parse(res->body)["params"] == json::array({std::to_string(i)}));
  }
}

TEST_CASE("Expect 100-continue gets an interim response before the body") {
  fixture f;
  http_connection c{host, f.port};
  c.send_raw(
      "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_response(5s);
  REQUIRE(interim);
  CHECK(interim->status == 100);
  c.send_raw("{}");
  auto res = c.read_response(5s);
  REQUIRE(res);
  CHECK(res->status == 201);
}

// --- WebSocket events ---------------------------------------------------------

TEST_CASE("a WebSocket client is accepted with a bearer header") {
  fixture f;
  ws_options o;
  o.headers = bearer(good_token);
  o.headers["X-Request-Id"] = "ws-req-1";
  ws_client c{host, f.port, o};
  REQUIRE(c.accepted());
  CHECK(c.response().status == 101);
  CHECK(c.response().header("x-request-id") == "ws-req-1");
  auto [req, sink] = f.service.stream(0);
  CHECK(req.route == "events.stream");
  CHECK(req.token == good_token);
  CHECK(req.request_id == "ws-req-1");
  CHECK(eventually([] {
    return sb::observability::metrics()
               .gauge_of("switchboard_websocket_clients", "Connected WebSocket event clients.")
               .value() >= 1;
  }));
}

TEST_CASE("a WebSocket client is accepted with an access_token parameter") {
  fixture f;
  ws_options o;
  o.target = "/v1/events?access_token=" + good_token;
  ws_client c{host, f.port, o};
  REQUIRE(c.accepted());
  CHECK(f.service.stream(0).first.token == good_token);
}

TEST_CASE("a WebSocket request without a token gets 401") {
  fixture f;
  ws_client c{host, f.port};
  CHECK_FALSE(c.accepted());
  check_problem(c.response(), 401);
  CHECK(c.response().header("www-authenticate") == "Bearer");
}

TEST_CASE("a WebSocket request the service refuses gets the service's response") {
  fixture f;
  ws_options o;
  o.headers = bearer("wrong");
  ws_client c{host, f.port, o};
  CHECK_FALSE(c.accepted());
  check_problem(c.response(), 401);
  CHECK(c.response().header("www-authenticate") == "Bearer error=\"invalid_token\"");
}

TEST_CASE("events pushed to a client arrive in order") {
  fixture f;
  ws_options o;
  o.target = "/v1/events?welcome=1";
  o.headers = bearer(good_token);
  ws_client c{host, f.port, o};
  REQUIRE(c.accepted());
  auto sink = f.service.stream(0).second;
  // Pushed while the actors were still authorising the client.
  CHECK(c.read_text(5s) == std::optional<std::string>{"welcome"});
  for (int i = 0; i < 50; ++i) {
    REQUIRE(sink->push(frame(R"({"n":)" + std::to_string(i) + "}")));
  }
  for (int i = 0; i < 50; ++i) {
    auto text = c.read_text(5s);
    REQUIRE(text);
    CHECK(*text == R"({"n":)" + std::to_string(i) + "}");
  }

  // Client text frames are read and ignored; the stream keeps working.
  c.write_text("hello");
  REQUIRE(sink->push(frame("after")));
  CHECK(c.read_text(5s) == std::optional<std::string>{"after"});

  // The actors may close a stream themselves, after what was queued.
  REQUIRE(sink->push(frame("last")));
  sink->close(1012, "restarting");
  CHECK(c.read_text(5s) == std::optional<std::string>{"last"});
  CHECK_FALSE(c.read_text(5s));
  CHECK(c.close_code() == std::optional<uint16_t>{1012});
  CHECK_FALSE(sink->push(frame("too late")));
}

TEST_CASE("a client that never reads is closed with 1013 while another keeps receiving") {
  auto o = test_options();
  o.ws_queue_limit = 8;
  o.read_timeout = 10s;  // The grace a closing slow client gets to read the close frame.
  fixture f{o};

  ws_options wo;
  wo.headers = bearer(good_token);
  wo.receive_buffer = 4096;
  ws_client slow{host, f.port, wo};
  REQUIRE(slow.accepted());
  wo.receive_buffer = 0;
  ws_client fast{host, f.port, wo};
  REQUIRE(fast.accepted());
  auto slow_sink = f.service.stream(0).second;
  auto fast_sink = f.service.stream(1).second;
  double slow_closes_before =
      sb::observability::metrics()
          .counter_of("switchboard_websocket_slow_closes_total",
                      "WebSocket clients closed with 1013 because they read too slowly.")
          .value();

  // The fast client reads on its own thread while big frames pile up for
  // the slow one; pushes are paced by the fast client's progress.
  std::mutex mtx;
  std::condition_variable progressed;
  int received = 0;
  bool fast_in_order = true;
  std::thread reader{[&] {
    for (int i = 0; i < 2000; ++i) {
      auto text = fast.read_text(10s);
      if (!text) {
        return;
      }
      std::lock_guard lock{mtx};
      fast_in_order = fast_in_order && *text == std::to_string(received);
      ++received;
      progressed.notify_all();
    }
  }};

  auto big = frame(std::string(64 * 1024, 'x'));
  int sent = 0;
  int refused_at = -1;
  auto longest_push = clock_type::duration::zero();
  for (; sent < 1000; ++sent) {
    REQUIRE(fast_sink->push(frame(std::to_string(sent))));
    auto t0 = clock_type::now();
    bool accepted = slow_sink->push(big);
    longest_push = std::max(longest_push, clock_type::now() - t0);
    if (!accepted && refused_at < 0) {
      refused_at = sent;
    }
    std::unique_lock lock{mtx};
    REQUIRE(progressed.wait_for(lock, 5s, [&] { return received >= sent - 4; }));
    if (refused_at >= 0 && sent >= refused_at + 20) {
      ++sent;
      break;
    }
  }
  {
    std::unique_lock lock{mtx};
    CHECK(progressed.wait_for(lock, 5s, [&] { return received == sent; }));
    CHECK(fast_in_order);
  }
  fast.close();
  reader.join();

  REQUIRE(refused_at >= 0);
  CHECK_FALSE(slow_sink->push(frame("more")));
  CHECK(longest_push < 100ms);
  CHECK(sb::observability::metrics()
            .counter_of("switchboard_websocket_slow_closes_total",
                        "WebSocket clients closed with 1013 because they read too slowly.")
            .value() == slow_closes_before + 1);

  // Reading at last, the slow client finds the frames already sent and then
  // the close frame.
  int drained = 0;
  while (slow.read_text(5s)) {
    ++drained;
  }
  CHECK(drained > 0);
  CHECK(slow.close_code() == std::optional<uint16_t>{1013});
}

// --- Stopping -------------------------------------------------------------------

TEST_CASE("stop closes WebSockets with 1001 and lets in-flight requests finish") {
  fixture f;
  ws_options wo;
  wo.headers = bearer(good_token);
  ws_client events{host, f.port, wo};
  REQUIRE(events.accepted());

  // An in-flight request, answered only once stop() has begun.
  http_connection busy{host, f.port};
  auto in_flight = std::async(
      std::launch::async, [&] { return busy.request("GET", "/v1/videos/never", {}, bearer()); });
  f.service.wait_held(1);

  auto start = clock_type::now();
  auto stopped = std::async(std::launch::async, [&] { f.server.stop(5s); });
  CHECK_FALSE(events.read_text(5s));
  CHECK(events.close_code() == std::optional<uint16_t>{1001});

  api_response late;
  late.body = R"({"late":true})";
  CHECK(f.service.answer_held(late));
  auto res = in_flight.get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"late":true})");
  CHECK(res.header("connection") == "close");

  stopped.get();
  CHECK(clock_type::now() - start < 4s);

  // Stopped means stopped: no listener, and a second stop is harmless.
  CHECK_THROWS(http_connection{host, f.port});
  f.server.stop(1s);
}

TEST_CASE("stop gives up on requests that outlast the grace period") {
  fixture f;
  http_connection busy{host, f.port};
  auto in_flight = std::async(std::launch::async, [&] {
    try {
      return busy.request("GET", "/v1/videos/never", {}, bearer(), 5s).status;
    } catch (const std::exception&) {
      return 0;
    }
  });
  f.service.wait_held(1);
  auto start = clock_type::now();
  f.server.stop(200ms);
  auto took = clock_type::now() - start;
  CHECK(took >= 190ms);
  CHECK(took < 2s);
  CHECK(in_flight.get() == 0);
}
