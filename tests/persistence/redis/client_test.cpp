#include "persistence/redis/client.hpp"

#include "redis_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using sb::persistence::parse_redis_url;
using sb::persistence::redis_client;
using sb::persistence::redis_errc;
using sb::persistence::redis_options;
using sb::persistence::redis_reply;
using sb::test::redis_server;
using steady = std::chrono::steady_clock;

namespace {

std::unique_ptr<redis_client> make_client(const std::string& url, redis_options opts = {}) {
  auto ep = parse_redis_url(url);
  REQUIRE(ep.value);
  return std::make_unique<redis_client>(*ep.value, opts);
}

// Sends one command and waits for its completion, at most `limit`.
redis_reply run(redis_client& c, std::vector<std::string> args,
                std::chrono::milliseconds limit = 2s) {
  auto done = std::make_shared<std::promise<redis_reply>>();
  auto reply = done->get_future();
  c.command(std::move(args), [done](redis_reply r) { done->set_value(std::move(r)); });
  REQUIRE(reply.wait_for(limit) == std::future_status::ready);
  return reply.get();
}

// Pings until a connection answers; the client fails fast until one is up.
bool wait_until_up(redis_client& c, std::chrono::milliseconds limit = 3s) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    auto r = run(c, {"PING"});
    if (r.type() == redis_reply::kind::status && r.text() == "PONG") {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

long long elapsed_ms(steady::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - since).count();
}

}  // namespace

TEST_CASE("redis client round-trips SET, GET, INCR and DEL") {
  redis_server server;
  auto client = make_client(server.url());
  REQUIRE(wait_until_up(*client));

  auto set = run(*client, {"SET", "greeting", "hello world"});
  CHECK(set.type() == redis_reply::kind::status);
  CHECK(set.text() == "OK");
  auto get = run(*client, {"GET", "greeting"});
  CHECK(get.type() == redis_reply::kind::string);
  CHECK(get.text() == "hello world");

  // Binary-safe: arguments and replies may hold NUL bytes.
  std::string binary("a\0b", 3);
  run(*client, {"SET", "bin", binary});
  CHECK(run(*client, {"GET", "bin"}).text() == binary);

  CHECK(run(*client, {"INCR", "counter"}).as_integer() == 1);
  CHECK(run(*client, {"INCRBY", "counter", "41"}).as_integer() == 42);
  CHECK(run(*client, {"DEL", "greeting", "counter", "absent"}).as_integer() == 2);
  CHECK(run(*client, {"GET", "greeting"}).is_nil());

  run(*client, {"RPUSH", "list", "x", "y"});
  auto range = run(*client, {"LRANGE", "list", "0", "-1"});
  REQUIRE(range.type() == redis_reply::kind::array);
  REQUIRE(range.elements().size() == 2);
  CHECK(range.elements()[1].text() == "y");
}

TEST_CASE("redis client answers 1000 pipelined INCRs in order on one connection") {
  redis_server server;
  redis_options opts;
  opts.connections = 1;
  opts.command_timeout = 2000ms;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));

  constexpr int n = 1000;
  std::mutex mutex;
  std::vector<int64_t> seen;  // Values in completion order.
  int errors = 0;
  std::promise<void> all_done;
  auto start = steady::now();
  for (int i = 0; i < n; ++i) {
    client->command({"INCR", "pipelined"}, [&](redis_reply r) {
      std::lock_guard<std::mutex> lock(mutex);
      r.type() == redis_reply::kind::integer ? seen.push_back(r.as_integer()) : void(++errors);
      if (seen.size() + errors == n) {
        all_done.set_value();
      }
    });
  }
  REQUIRE(all_done.get_future().wait_for(5s) == std::future_status::ready);
  WARN("1000 pipelined INCRs took " << elapsed_ms(start) << " ms");

  std::lock_guard<std::mutex> lock(mutex);
  CHECK(errors == 0);
  REQUIRE(seen.size() == n);
  for (int i = 0; i < n; ++i) {
    if (seen[i] != i + 1) {
      FAIL("reply " << i << " was " << seen[i]);
    }
  }
}

TEST_CASE("redis client spreads commands over its pool and answers each exactly once") {
  redis_server server;
  redis_options opts;
  opts.connections = 4;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));
  auto deadline = steady::now() + 2s;
  while (client->connected() < 4 && steady::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(client->connected() == 4);

  constexpr int n = 400;
  std::mutex mutex;
  std::vector<int> hits(n + 1, 0);
  std::atomic<int> completions{0};
  std::promise<void> all_done;
  for (int i = 0; i < n; ++i) {
    client->command({"INCR", "pooled"}, [&](redis_reply r) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (r.type() == redis_reply::kind::integer && r.as_integer() >= 1 && r.as_integer() <= n) {
          ++hits[r.as_integer()];
        }
      }
      if (++completions == n) {
        all_done.set_value();
      }
    });
  }
  REQUIRE(all_done.get_future().wait_for(5s) == std::future_status::ready);
  std::lock_guard<std::mutex> lock(mutex);
  for (int v = 1; v <= n; ++v) {
    CHECK(hits[v] == 1);
  }
  // The server sees exactly the pool's connections.
  auto list = run(*client, {"CLIENT", "LIST"}).text();
  CHECK(std::count(list.begin(), list.end(), '\n') == 4);
}

TEST_CASE("redis client surfaces a RESP error reply as server_error with its message") {
  redis_server server;
  auto client = make_client(server.url());
  REQUIRE(wait_until_up(*client));

  run(*client, {"SET", "text", "v"});
  auto r = run(*client, {"LPUSH", "text", "x"});
  REQUIRE(r.is_error());
  CHECK(r.error_code() == redis_errc::server_error);
  CHECK(r.text().rfind("WRONGTYPE", 0) == 0);

  auto unknown = run(*client, {"NOSUCHCOMMAND"});
  CHECK(unknown.error_code() == redis_errc::server_error);
  CHECK(unknown.text().find("unknown command") != std::string::npos);

  // The connection stays usable after an error reply.
  CHECK(run(*client, {"GET", "text"}).text() == "v");
}

TEST_CASE("redis client refuses empty and connection-state commands locally") {
  // No server is needed: these never leave the process.
  auto client = make_client("redis://127.0.0.1:1/0");
  auto empty = run(*client, {});
  CHECK(empty.error_code() == redis_errc::protocol);
  auto select = run(*client, {"select", "2"});
  CHECK(select.error_code() == redis_errc::protocol);
  CHECK(select.text().find("not supported") != std::string::npos);
  CHECK(run(*client, {"SUBSCRIBE", "c"}).error_code() == redis_errc::protocol);
}

TEST_CASE("redis client with no server answers unavailable at once") {
  redis_options opts;
  opts.command_timeout = 1000ms;
  auto client = make_client("redis://127.0.0.1:1/0", opts);
  auto start = steady::now();
  auto r = run(*client, {"GET", "k"});
  CHECK(elapsed_ms(start) < 100);
  CHECK(r.error_code() == redis_errc::unavailable);
  CHECK(client->connected() == 0);
}

TEST_CASE("redis client times out a command to a frozen server once and drops the late reply") {
  redis_server server;
  redis_options opts;
  opts.connections = 1;
  opts.command_timeout = 200ms;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));

  server.freeze();
  std::atomic<int> calls{0};
  auto first = std::make_shared<std::promise<redis_reply>>();
  auto reply = first->get_future();
  auto start = steady::now();
  client->command({"INCR", "late"}, [&calls, first](redis_reply r) {
    if (++calls == 1) {
      first->set_value(std::move(r));
    }
  });
  REQUIRE(reply.wait_for(2s) == std::future_status::ready);
  auto took = elapsed_ms(start);
  auto r = reply.get();
  WARN("timeout reported after " << took << " ms");
  CHECK(r.error_code() == redis_errc::timeout);
  CHECK(took >= 200);
  CHECK(took < 350);

  // After the thaw the INCR runs and its reply arrives first on the same
  // connection; the GET behind it proves it was read and dropped.
  server.thaw();
  auto get = run(*client, {"GET", "late"});
  CHECK(get.text() == "1");
  CHECK(calls == 1);
}

TEST_CASE("redis client drops a connection after repeated timeouts and recovers with the server") {
  redis_server server;
  redis_options opts;
  opts.connections = 1;
  opts.command_timeout = 100ms;
  opts.connect_timeout = 200ms;
  opts.backoff_initial = 20ms;
  opts.backoff_max = 100ms;
  opts.max_timeouts_in_a_row = 2;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));

  // Two timeouts in a row drop the connection; a frozen server also fails
  // every reconnect handshake, so commands now fail fast.
  server.freeze();
  CHECK(run(*client, {"PING"}).error_code() == redis_errc::timeout);
  CHECK(client->connected() == 1);
  CHECK(run(*client, {"PING"}).error_code() == redis_errc::timeout);
  auto start = steady::now();
  auto r = run(*client, {"PING"});
  CHECK(elapsed_ms(start) < 50);
  CHECK(r.error_code() == redis_errc::unavailable);
  CHECK(r.text().find("2 commands in a row timed out") != std::string::npos);

  server.thaw();
  REQUIRE(wait_until_up(*client));
  CHECK(run(*client, {"INCR", "n"}).as_integer() == 1);
}

TEST_CASE("redis client fails fast while the server is down and reconnects by itself") {
  redis_server server;
  redis_options opts;
  opts.connections = 2;
  opts.command_timeout = 1000ms;
  opts.backoff_initial = 20ms;
  opts.backoff_max = 200ms;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));
  CHECK(run(*client, {"SET", "k", "before"}).text() == "OK");

  server.kill_now();

  // Commands sent as the loss is noticed fail as lost; then all fail at once.
  auto deadline = steady::now() + 2s;
  while (client->connected() > 0 && steady::now() < deadline) {
    CHECK(run(*client, {"PING"}).is_error());
  }
  REQUIRE(client->connected() == 0);
  for (int i = 0; i < 5; ++i) {
    auto start = steady::now();
    auto r = run(*client, {"GET", "k"});
    CHECK(elapsed_ms(start) < 50);
    CHECK(r.error_code() == redis_errc::unavailable);
  }

  server.start();
  auto start = steady::now();
  REQUIRE(wait_until_up(*client));
  WARN("reconnected " << elapsed_ms(start) << " ms after the restart");
  CHECK(run(*client, {"SET", "k", "after"}).text() == "OK");
  CHECK(run(*client, {"GET", "k"}).text() == "after");
}

TEST_CASE("redis client authenticates and selects the database from the url") {
  redis_server server({"--requirepass", "s3cret"});
  auto client = make_client(server.url(3, "s3cret"));
  REQUIRE(wait_until_up(*client));

  CHECK(run(*client, {"SET", "where", "db3"}).text() == "OK");
  auto info = run(*client, {"CLIENT", "INFO"});
  CHECK(info.text().find(" db=3 ") != std::string::npos);

  auto db0 = make_client(server.url(0, "s3cret"));
  REQUIRE(wait_until_up(*db0));
  CHECK(run(*db0, {"GET", "where"}).is_nil());
  CHECK(run(*client, {"GET", "where"}).text() == "db3");
}

TEST_CASE("redis client with a wrong password stays unavailable with the AUTH error") {
  redis_server server({"--requirepass", "s3cret"});
  redis_options opts;
  opts.backoff_initial = 20ms;
  auto client = make_client(server.url(0, "wrong"), opts);

  // The first commands may race the handshake; wait for its verdict.
  redis_reply r;
  auto deadline = steady::now() + 2s;
  while (steady::now() < deadline) {
    r = run(*client, {"PING"});
    if (r.text().find("AUTH failed") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  CHECK(r.error_code() == redis_errc::unavailable);
  CHECK(r.text().find("AUTH failed: WRONGPASS") != std::string::npos);
  CHECK(r.text().find("wrong") == std::string::npos);
  CHECK(client->connected() == 0);
}

TEST_CASE("redis client completes in-flight commands as unavailable when destroyed") {
  redis_server server;
  redis_options opts;
  opts.command_timeout = 5000ms;
  auto client = make_client(server.url(), opts);
  REQUIRE(wait_until_up(*client));

  server.freeze();
  auto done = std::make_shared<std::promise<redis_reply>>();
  auto reply = done->get_future();
  client->command({"GET", "k"}, [done](redis_reply r) { done->set_value(std::move(r)); });
  client.reset();
  REQUIRE(reply.wait_for(1s) == std::future_status::ready);
  CHECK(reply.get().error_code() == redis_errc::unavailable);
  server.thaw();
}

TEST_CASE("redis client connects over a unix socket and selects the database") {
  redis_server server;
  auto client = make_client("unix://" + server.unix_socket() + "?db=2");
  REQUIRE(wait_until_up(*client));

  CHECK(run(*client, {"SET", "k", "v"}).text() == "OK");
  CHECK(run(*client, {"GET", "k"}).text() == "v");
  auto info = run(*client, {"CLIENT", "INFO"}).text();
  CHECK(info.find(" db=2 ") != std::string::npos);
  CHECK(info.find("laddr=" + server.unix_socket()) != std::string::npos);
}
