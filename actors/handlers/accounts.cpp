#include "actors/handlers/accounts.hpp"

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/accounts.hpp"

namespace sb::actors::handlers {

namespace accounts = persistence::accounts;

namespace {

constexpr size_t min_password = 8;
constexpr size_t max_password = 256;

json user_json(const persistence::user_record& u) {
  return {
      {"id", u.id}, {"email", u.email}, {"name", u.name}, {"created_at", rfc3339(u.created_at)}};
}

json workspace_json(const persistence::workspace_record& w, const std::string& role) {
  return {{"id", w.id}, {"name", w.name}, {"role", role}};
}

// Creates a session row and renders the token response.
persistence::db_result<json> open_session(persistence::connection& conn,
                                          const persistence::session_view& view,
                                          const config::settings& settings) {
  auto token = new_token();
  persistence::session_record s;
  s.token_hash = token_hash(token);
  s.user_id = view.user.id;
  s.workspace_id = view.workspace.id;
  s.created_at = now_ms();
  s.expires_at =
      s.created_at +
      std::chrono::duration_cast<std::chrono::milliseconds>(settings.session_lifetime).count();
  if (auto st = accounts::insert_session(conn, s); !st) {
    return st.error();
  }
  return json{
      {"token", token},
      {"token_type", "Bearer"},
      {"expires_at", rfc3339(s.expires_at)},
      {"user", user_json(view.user)},
      {"workspace", workspace_json(view.workspace, view.role)},
  };
}

std::string read_password(const json& body, field_errors& errors) {
  auto i = body.find("password");
  if (i == body.end() || i->is_null()) {
    errors.add("password", "is required");
    return {};
  }
  if (!i->is_string()) {
    errors.add("password", "must be a string");
    return {};
  }
  auto pw = i->get<std::string>();
  if (pw.size() < min_password || pw.size() > max_password || !valid_utf8(pw)) {
    errors.add("password", "must be 8 to 256 bytes of UTF-8");
    return {};
  }
  return pw;
}

}  // namespace

std::variant<api_response, signup_input> signup_prepare(const api_request& req,
                                                        config::hash_cost cost) {
  std::optional<api_response> bad;
  auto body = parse_object(req, bad);
  if (!body) {
    return *bad;
  }
  field_errors errors;
  reject_unknown(*body, {"email", "password", "name", "workspace"}, errors);
  signup_input in;
  auto email = read_text(*body, "email", {true, false, 254, 0}, errors);
  if (email.value && !valid_email(*email.value)) {
    errors.add("email", "must be an email address");
  }
  auto name = read_text(*body, "name", {true, false, 100, 0}, errors);
  auto workspace = read_text(*body, "workspace", {true, false, 100, 0}, errors);
  auto password = read_password(*body, errors);
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }

  auto hashed = hash_password(password, cost);
  if (!hashed) {
    return problem(503, "the server is short of memory; try again", req.request_id);
  }
  in.email = *email.value;
  in.name = *name.value;
  in.workspace = *workspace.value;
  in.password_hash = std::move(*hashed);
  return in;
}

api_response signup_store(persistence::connection& conn, const api_request& req,
                          const signup_input& in, const config::settings& settings) {
  persistence::session_view view;
  view.workspace = {new_id("ws"), in.workspace, now_ms()};
  view.user = {new_id("usr"), in.email, in.name, in.password_hash, view.workspace.created_at};
  view.role = "owner";

  auto result = persistence::in_transaction(conn, [&](persistence::connection& c) {
    if (auto st = accounts::insert_workspace(c, view.workspace); !st) {
      return persistence::db_result<json>{st.error()};
    }
    if (auto st = accounts::insert_user(c, view.user); !st) {
      return persistence::db_result<json>{st.error()};
    }
    persistence::member_record m{view.workspace.id, view.user.id, "owner", view.user.created_at};
    if (auto st = accounts::insert_member(c, m); !st) {
      return persistence::db_result<json>{st.error()};
    }
    return open_session(c, view, settings);
  });
  if (!result) {
    if (result.error().code == persistence::db_errc::conflict) {
      return problem(409, "an account with this email already exists", req.request_id);
    }
    return db_failure(result.error(), req.request_id);
  }
  auto res = json_response(201, result->dump());
  res.workspace_id = view.workspace.id;
  return res;
}

std::variant<api_response, login_input> login_parse(const api_request& req) {
  std::optional<api_response> bad;
  auto body = parse_object(req, bad);
  if (!body) {
    return *bad;
  }
  field_errors errors;
  reject_unknown(*body, {"email", "password", "workspace_id"}, errors);
  auto email = read_text(*body, "email", {true, false, 254, 0}, errors);
  auto workspace = read_text(*body, "workspace_id", {false, true, 64, 0}, errors);
  login_input in;
  auto pw = body->find("password");
  if (pw == body->end() || !pw->is_string() || pw->get_ref<const std::string&>().empty()) {
    errors.add("password", "is required");
  } else if (pw->get_ref<const std::string&>().size() > max_password) {
    errors.add("password", "must be at most 256 bytes");
  } else {
    in.password = pw->get<std::string>();
  }
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }
  in.email = *email.value;
  in.workspace_id = workspace.value.value_or("");
  return in;
}

persistence::db_result<std::optional<persistence::user_record>> login_lookup(
    persistence::connection& conn, const login_input& in) {
  return accounts::find_user_by_email(conn, in.email);
}

bool login_verify(const login_input& in, const std::optional<persistence::user_record>& user) {
  // A fixed hash of a random password at the default cost: verifying against
  // it takes as long as a real check and never succeeds.
  static const std::string decoy =
      hash_password(new_token(), config::hash_cost::interactive).value_or("");
  if (!user) {
    verify_password(in.password, decoy);
    return false;
  }
  return verify_password(in.password, user->password_hash);
}

api_response login_open_session(persistence::connection& conn, const api_request& req,
                                const persistence::user_record& user, const login_input& in,
                                const config::settings& settings) {
  auto view = accounts::membership_for_login(conn, user, in.workspace_id);
  if (!view) {
    return db_failure(view.error(), req.request_id);
  }
  if (!*view) {
    return problem(403, "you are not a member of that workspace", req.request_id);
  }
  auto result = open_session(conn, **view, settings);
  if (!result) {
    return db_failure(result.error(), req.request_id);
  }
  auto res = json_response(200, result->dump());
  res.workspace_id = (*view)->workspace.id;
  return res;
}

}  // namespace sb::actors::handlers
