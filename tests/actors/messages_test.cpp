// Messages that may cross nodes must survive CAF's serialization under the
// names both nodes register.

#include "actors/messages.hpp"
#include "actors/session_info.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <catch2/catch.hpp>

using namespace sb::actors;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  fixture() {
    register_message_types(cfg);
    cfg.set("scheduler.max-threads", 1);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  // Writes `msg` as a node would put it on the wire and reads it back.
  caf::message round_trip(const caf::message& msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    auto out = msg;
    REQUIRE_FALSE(sink(out));
    caf::message back;
    caf::binary_deserializer source{*sys, buf};
    REQUIRE_FALSE(source(back));
    return back;
  }
};

}  // namespace

TEST_CASE("an API request and response cross the wire unchanged") {
  fixture f;
  api_request req;
  req.method = "PATCH";
  req.route = "contacts.update";
  req.path = "/v1/contacts/ct_1";
  req.params = {"ct_1"};
  req.query = {{"limit", "5"}};
  req.body = R"({"company":"Zoë"})";
  req.content_type = "application/json";
  req.token = "t";
  req.if_match = "\"v2\"";
  req.request_id = "r-1";
  req.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  req.client_address = "127.0.0.1";

  auto back = f.round_trip(caf::make_message(req));
  REQUIRE(back.match_elements<api_request>());
  const auto& got = back.get_as<api_request>(0);
  CHECK(got.method == req.method);
  CHECK(got.route == req.route);
  CHECK(got.params == req.params);
  CHECK(got.query == req.query);
  CHECK(got.body == req.body);
  CHECK(got.if_match == req.if_match);
  CHECK(got.trace_id == req.trace_id);

  api_response res;
  res.status = 412;
  res.content_type = "application/problem+json";
  res.body = "{}";
  res.headers = {{"ETag", "\"v3\""}};
  res.workspace_id = "ws_1";
  auto res_back = f.round_trip(caf::make_message(res));
  REQUIRE(res_back.match_elements<api_response>());
  CHECK(res_back.get_as<api_response>(0).headers == res.headers);
  CHECK(res_back.get_as<api_response>(0).status == 412);
}

TEST_CASE("events, session info and actor reports cross the wire unchanged") {
  fixture f;
  event e{"deal.updated", "dl_1", "ws_1", R"({"id":"dl_1"})", 1796392235082};
  session_info s;
  s.user_id = "usr_1";
  s.workspace_id = "ws_1";
  s.role = "admin";
  s.expires_at = 42;
  actor_report r;
  r.path = "root/sessions";
  r.restarts = 3;
  r.mailbox_size = -1;

  auto back = f.round_trip(caf::make_message(e, s, std::vector<actor_report>{r}));
  REQUIRE(back.match_elements<event, session_info, std::vector<actor_report>>());
  CHECK(back.get_as<event>(0).data == e.data);
  CHECK(back.get_as<event>(0).occurred_at == e.occurred_at);
  CHECK(back.get_as<session_info>(1).role == "admin");
  CHECK(back.get_as<session_info>(1).expires_at == 42);
  CHECK(back.get_as<std::vector<actor_report>>(2).at(0).restarts == 3);
  CHECK(back.get_as<std::vector<actor_report>>(2).at(0).path == "root/sessions");
}
