// Workspace members: list, and invite (owners and admins only).

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/accounts.hpp"

namespace sb::actors::handlers {

namespace accounts = persistence::accounts;

namespace {

json member_json(const persistence::member_view& m) {
  return {
      {"user_id", m.user.id},
      {"email", m.user.email},
      {"name", m.user.name},
      {"role", m.member.role},
      {"joined_at", rfc3339(m.member.created_at)},
  };
}

}  // namespace

api_response members_list(handler_context& ctx) {
  auto rows = accounts::list_members(ctx.conn, ctx.session.workspace_id);
  if (!rows) {
    return db_failure(rows.error(), ctx.request.request_id);
  }
  auto items = json::array();
  for (const auto& m : *rows) {
    items.push_back(member_json(m));
  }
  return json_response(200, json{{"items", std::move(items)}, {"next_cursor", nullptr}}.dump());
}

api_response members_invite(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  if (ctx.session.role != "owner" && ctx.session.role != "admin") {
    return problem(403, "only owners and admins can invite members", rid);
  }
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  field_errors errors;
  reject_unknown(*body, {"email", "name", "role", "password"}, errors);
  auto email = read_text(*body, "email", {true, false, 254, 0}, errors);
  if (email.value && !valid_email(*email.value)) {
    errors.add("email", "must be an email address");
  }
  auto role = read_text(*body, "role", {false, false, 10, 0}, errors);
  if (role.value && *role.value != "admin" && *role.value != "member") {
    errors.add("role", "must be admin or member");
  }
  auto name = read_text(*body, "name", {false, false, 100, 0}, errors);
  auto password = read_text(*body, "password", {false, false, 256, 8}, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }

  if (!name.value) {
    errors.add("name", "is required");
  }
  if (!password.value) {
    errors.add("password", "is required");
  }
  if (!errors.empty()) {
    return errors.response(rid);
  }

  // Invites create a new account. An existing account is never added, or
  // described, without its owner's consent.
  // TODO: invitations that an existing user accepts, so one person can belong
  // to several workspaces; until then such an invite answers 409.
  auto existing = accounts::find_user_by_email(ctx.conn, *email.value);
  if (!existing) {
    return db_failure(existing.error(), rid);
  }
  if (*existing) {
    return problem(409, "an account with this email already exists", rid);
  }

  // The session hashed the password on the crypto pool before this handler
  // took a database worker.
  if (!ctx.password_hash) {
    return problem(503, "the server is short of memory; try again", rid);
  }
  persistence::user_record user{new_id("usr"), *email.value, *name.value, *ctx.password_hash,
                                now_ms()};
  persistence::member_record m{ctx.session.workspace_id, user.id, role.value.value_or("member"),
                               user.created_at};
  auto st = persistence::in_transaction(ctx.conn, [&](persistence::connection& c) {
    if (auto s = accounts::insert_user(c, user); !s) {
      return s;
    }
    return accounts::insert_member(c, m);
  });
  if (!st) {
    if (st.error().code == persistence::db_errc::conflict) {
      return problem(409, "an account with this email already exists", rid);
    }
    return db_failure(st.error(), rid);
  }

  auto data = member_json({m, user}).dump();
  add_event(ctx, "member.created", user.id, data);
  return json_response(201, std::move(data));
}

}  // namespace sb::actors::handlers
