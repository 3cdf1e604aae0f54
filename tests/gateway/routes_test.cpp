#include "gateway/routes.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using sb::actors::access;
using sb::gateway::match_route;
using sb::gateway::routes;

TEST_CASE("every route of the table matches its own method and path") {
  for (const auto& r : routes()) {
    // Every "{param}" segment becomes "x1".
    std::string path{r.pattern};
    for (auto brace = path.find('{'); brace != std::string::npos; brace = path.find('{')) {
      path.replace(brace, path.find('}', brace) - brace + 1, "x1");
    }
    auto m = match_route(r.method, path);
    INFO(r.method << " " << path);
    REQUIRE(m.found == &r);
    CHECK(m.allow.empty());
  }
}

TEST_CASE("route names and access levels follow the API table") {
  auto name_of = [](std::string_view method, std::string_view path) {
    auto m = match_route(method, path);
    return m.found ? std::string{m.found->name} : std::string{};
  };
  CHECK(name_of("POST", "/v1/auth/signup") == "auth.signup");
  CHECK(name_of("POST", "/v1/auth/login") == "auth.login");
  CHECK(name_of("POST", "/v1/auth/logout") == "auth.logout");
  CHECK(name_of("GET", "/v1/me") == "me.get");
  CHECK(name_of("POST", "/v1/workspace/members") == "members.invite");
  CHECK(name_of("GET", "/v1/workspace/members") == "members.list");
  for (std::string kind : {"contacts", "deals", "videos"}) {
    CHECK(name_of("POST", "/v1/" + kind) == kind + ".create");
    CHECK(name_of("GET", "/v1/" + kind) == kind + ".list");
    CHECK(name_of("GET", "/v1/" + kind + "/7") == kind + ".get");
    CHECK(name_of("PATCH", "/v1/" + kind + "/7") == kind + ".update");
    CHECK(name_of("DELETE", "/v1/" + kind + "/7") == kind + ".delete");
  }
  CHECK(name_of("GET", "/v1/events") == "events.stream");
  CHECK(name_of("GET", "/readyz") == "health.ready");
  CHECK(name_of("GET", "/ops/supervision") == "ops.supervision");
  CHECK(name_of("POST", "/v1/debug/crash") == "debug.crash");

  CHECK(match_route("POST", "/v1/auth/login").found->who == access::open);
  CHECK(match_route("GET", "/readyz").found->who == access::open);
  CHECK(match_route("GET", "/ops/supervision").found->who == access::ops);
  CHECK(match_route("GET", "/v1/contacts/1").found->who == access::session);
  CHECK(match_route("POST", "/v1/debug/crash").found->who == access::session);
}

TEST_CASE("path parameters are percent-decoded") {
  auto m = match_route("GET", "/v1/contacts/a%20b%2Fc");
  REQUIRE(m.found != nullptr);
  CHECK(m.found->name == "contacts.get");
  REQUIRE(m.params.size() == 1);
  CHECK(m.params[0] == "a b/c");

  // '+' is a literal in a path, unlike in a query.
  m = match_route("GET", "/v1/deals/a+b");
  REQUIRE(m.params.size() == 1);
  CHECK(m.params[0] == "a+b");
}

TEST_CASE("a malformed escape in a parameter matches nothing") {
  for (auto path : {"/v1/contacts/%zz", "/v1/contacts/%4", "/v1/contacts/abc%"}) {
    auto m = match_route("GET", path);
    INFO(path);
    CHECK(m.found == nullptr);
    CHECK(m.allow.empty());
  }
}

TEST_CASE("an empty segment never matches a parameter") {
  CHECK(match_route("GET", "/v1/contacts/").found == nullptr);
  CHECK(match_route("GET", "/v1/contacts//").found == nullptr);
  CHECK(match_route("GET", "/v1/contacts//x").found == nullptr);
}

TEST_CASE("a trailing slash or an extra segment is a different path") {
  auto m = match_route("GET", "/v1/me/");
  CHECK(m.found == nullptr);
  CHECK(m.allow.empty());
  CHECK(match_route("GET", "/v1/contacts/1/").found == nullptr);
  CHECK(match_route("GET", "/v1/contacts/1/x").found == nullptr);
  CHECK(match_route("GET", "/v1").found == nullptr);
  CHECK(match_route("GET", "/").found == nullptr);
  CHECK(match_route("GET", "").found == nullptr);
  CHECK(match_route("GET", "v1/me").found == nullptr);
}

TEST_CASE("a known path with another method yields the allowed methods for a 405") {
  auto m = match_route("PUT", "/v1/contacts/42");
  CHECK(m.found == nullptr);
  CHECK(m.allow == "GET, PATCH, DELETE");

  m = match_route("DELETE", "/v1/contacts");
  CHECK(m.found == nullptr);
  CHECK(m.allow == "POST, GET");

  m = match_route("GET", "/v1/auth/login");
  CHECK(m.allow == "POST");
}

TEST_CASE("an unknown path yields neither a route nor allowed methods") {
  auto m = match_route("GET", "/v2/contacts");
  CHECK(m.found == nullptr);
  CHECK(m.allow.empty());
  CHECK(m.params.empty());
}

TEST_CASE("methods are matched case-sensitively") {
  auto m = match_route("get", "/v1/me");
  CHECK(m.found == nullptr);
  CHECK(m.allow == "GET");
}

TEST_CASE("each method and pattern pair appears once in the table") {
  std::set<std::string> seen;
  for (const auto& r : routes()) {
    auto key = std::string{r.method} + " " + std::string{r.pattern};
    INFO(key);
    CHECK(seen.insert(key).second);
  }
}
