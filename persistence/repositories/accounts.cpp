#include "persistence/repositories/accounts.hpp"

#include "persistence/repositories/detail/rows.hpp"

namespace sb::persistence::accounts {

using detail::lower;

namespace {

constexpr const char* user_columns = "u.id, u.email, u.name, u.password_hash, u.created_at";

user_record read_user(const row& r, size_t at) {
  return {r.text(at), r.text(at + 1), r.text(at + 2), r.text(at + 3), r.int64(at + 4)};
}

}  // namespace

db_status insert_workspace(connection& conn, const workspace_record& ws) {
  auto res = conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                          {ws.id, ws.name, ws.created_at});
  return detail::status_of(res);
}

db_status insert_user(connection& conn, const user_record& user) {
  auto res = conn.execute(
      "INSERT INTO users (id, email, email_lc, name, password_hash, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?)",
      {user.id, user.email, lower(user.email), user.name, user.password_hash, user.created_at});
  return detail::status_of(res);
}

db_result<std::optional<user_record>> find_user_by_email(connection& conn, std::string_view email) {
  auto rows = conn.query(
      std::string{"SELECT "} + user_columns + " FROM users u WHERE u.email_lc = ?", {lower(email)});
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<user_record>{};
  }
  return std::optional<user_record>{read_user(rows->front(), 0)};
}

db_status insert_member(connection& conn, const member_record& m) {
  auto res = conn.execute(
      "INSERT INTO members (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
      {m.workspace_id, m.user_id, m.role, m.created_at});
  return detail::status_of(res);
}

db_result<std::optional<session_view>> membership_for_login(connection& conn,
                                                            const user_record& user,
                                                            std::string_view workspace_id) {
  std::string sql =
      "SELECT w.id, w.name, w.created_at, m.role FROM members m "
      "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?";
  std::vector<param> params{user.id};
  if (!workspace_id.empty()) {
    sql += " AND m.workspace_id = ?";
    params.emplace_back(std::string{workspace_id});
  }
  sql += " ORDER BY m.created_at, m.workspace_id LIMIT 1";
  auto rows = conn.query(sql, params);
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<session_view>{};
  }
  const auto& r = rows->front();
  session_view view;
  view.user = user;
  view.workspace = {r.text(0), r.text(1), r.int64(2)};
  view.role = r.text(3);
  return std::optional<session_view>{std::move(view)};
}

db_result<std::vector<member_view>> list_members(connection& conn, std::string_view workspace_id) {
  auto rows = conn.query(std::string{"SELECT m.role, m.created_at, "} + user_columns +
                             " FROM members m JOIN users u ON u.id = m.user_id"
                             " WHERE m.workspace_id = ? ORDER BY m.created_at, u.id",
                         {std::string{workspace_id}});
  if (!rows) {
    return rows.error();
  }
  std::vector<member_view> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) {
    member_view v;
    v.user = read_user(r, 2);
    v.user.password_hash.clear();
    v.member = {std::string{workspace_id}, v.user.id, r.text(0), r.int64(1)};
    out.push_back(std::move(v));
  }
  return out;
}

db_status insert_session(connection& conn, const session_record& s) {
  auto res = conn.execute(
      "INSERT INTO sessions (token_hash, user_id, workspace_id, created_at, expires_at) "
      "VALUES (?, ?, ?, ?, ?)",
      {s.token_hash, s.user_id, s.workspace_id, s.created_at, s.expires_at});
  return detail::status_of(res);
}

db_result<std::optional<session_view>> find_session(connection& conn, std::string_view token_hash,
                                                    int64_t now) {
  auto rows = conn.query(
      std::string{"SELECT s.token_hash, s.created_at, s.expires_at, w.id, w.name, w.created_at, "
                  "m.role, "} +
          user_columns +
          " FROM sessions s JOIN users u ON u.id = s.user_id"
          " JOIN workspaces w ON w.id = s.workspace_id"
          " JOIN members m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id"
          " WHERE s.token_hash = ? AND s.expires_at > ?",
      {std::string{token_hash}, now});
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<session_view>{};
  }
  const auto& r = rows->front();
  session_view v;
  v.user = read_user(r, 7);
  v.user.password_hash.clear();
  v.session = {r.text(0), v.user.id, r.text(3), r.int64(1), r.int64(2)};
  v.workspace = {r.text(3), r.text(4), r.int64(5)};
  v.role = r.text(6);
  return std::optional<session_view>{std::move(v)};
}

db_result<bool> delete_session(connection& conn, std::string_view token_hash) {
  return detail::touched(
      conn.execute("DELETE FROM sessions WHERE token_hash = ?", {std::string{token_hash}}));
}

}  // namespace sb::persistence::accounts
