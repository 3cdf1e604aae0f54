#include "config/settings.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>

namespace {

using sb::config::load;

// An environment made of exactly these variables.
auto env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto i = vars.find(name);
    return i == vars.end() ? nullptr : i->second.c_str();
  };
}

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/sb-config-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream{path} << text;
  return path;
}

}  // namespace

TEST_CASE("settings default to the embedded SQLite database on 127.0.0.1:8080") {
  auto r = load({}, env_of({}));
  REQUIRE(r.value);
  CHECK(r.value->listen_address == "127.0.0.1");
  CHECK(r.value->listen_port == 8080);
  CHECK(r.value->database.find("Driver=SQLite3") != std::string::npos);
  CHECK(r.value->redis.empty());
}

TEST_CASE("flags override environment variables, which override the config file") {
  auto file = write_temp(R"({"listen": "127.0.0.1:7000", "body_limit": 1000,
                             "database_pool": 3, "debug_routes": true})");
  auto env = env_of({{"SWITCHBOARD_LISTEN", "127.0.0.1:7001"}, {"SWITCHBOARD_DATABASE_POOL", "5"}});
  auto r = load({"--config", file, "--listen=[::1]:7002"}, env);
  std::remove(file.c_str());
  REQUIRE(r.value);
  CHECK(r.value->listen_address == "::1");
  CHECK(r.value->listen_port == 7002);
  CHECK(r.value->database_pool == 5);
  CHECK(r.value->body_limit == 1000);
  CHECK(r.value->debug_routes);
}

TEST_CASE("an invalid value is rejected with one line naming the key") {
  SECTION("environment variable") {
    auto r = load({}, env_of({{"SWITCHBOARD_LISTEN", "nowhere"}}));
    CHECK_FALSE(r.value);
    CHECK(r.error.rfind("SWITCHBOARD_LISTEN: expected host:port", 0) == 0);
    CHECK(r.error.find('\n') == std::string::npos);
  }
  SECTION("flag") {
    auto r = load({"--database-pool", "0"}, env_of({}));
    CHECK_FALSE(r.value);
    CHECK(r.error.rfind("--database-pool: expected an integer from 1 to 256", 0) == 0);
  }
  SECTION("database without a driver") {
    auto r = load({}, env_of({{"SWITCHBOARD_DATABASE", "postgres://x"}}));
    CHECK(r.error.rfind("SWITCHBOARD_DATABASE: expected an ODBC connection string", 0) == 0);
  }
  SECTION("short ops token, which is not repeated back") {
    auto r = load({}, env_of({{"SWITCHBOARD_OPS_TOKEN", "short-secret"}}));
    CHECK(r.error == "SWITCHBOARD_OPS_TOKEN: expected at least 16 characters");
  }
  SECTION("redis URL scheme") {
    auto r = load({"--redis", "http://127.0.0.1:6379"}, env_of({}));
    CHECK(r.error.rfind("--redis: expected redis://", 0) == 0);
  }
  SECTION("unknown flag") {
    auto r = load({"--lisen", "x"}, env_of({}));
    CHECK(r.error == "unknown option '--lisen' (see --help)");
  }
  SECTION("unknown key in the file") {
    auto file = write_temp(R"({"listne": "x"})");
    auto r = load({"--config", file}, env_of({}));
    std::remove(file.c_str());
    CHECK(r.error == file + ": unknown key 'listne'");
  }
  SECTION("file that is not JSON") {
    auto file = write_temp("listen = 1");
    auto r = load({"--config", file}, env_of({}));
    std::remove(file.c_str());
    CHECK(r.error == "--config: '" + file + "' is not a JSON object");
  }
  SECTION("missing file") {
    auto r = load({"--config", "/nonexistent/sb.json"}, env_of({}));
    CHECK(r.error == "--config: cannot read '/nonexistent/sb.json'");
  }
}

TEST_CASE("help lists every option with its environment variable") {
  auto r = load({"--help"}, env_of({}));
  CHECK(r.help);
  auto text = sb::config::help_text();
  for (const char* needle : {"--listen", "SWITCHBOARD_LISTEN", "--database", "SWITCHBOARD_DATABASE",
                             "--redis", "SWITCHBOARD_REDIS", "--ops-token", "SWITCHBOARD_OPS_TOKEN",
                             "--session-idle-ms", "--body-limit", "--header-limit", "--url-limit",
                             "--read-timeout-ms", "--log-level", "--config"}) {
    CHECK(text.find(needle) != std::string::npos);
  }
}
