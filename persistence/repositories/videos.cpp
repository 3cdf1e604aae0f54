#include "persistence/repositories/videos.hpp"

#include "persistence/repositories/detail/rows.hpp"

namespace sb::persistence::videos {

namespace {

constexpr const char* columns =
    "id, workspace_id, title, description, status, version, created_at, updated_at, "
    "duration_seconds";

video_record read(const row& r) {
  auto length = r.is_null(8) ? std::nullopt : std::optional<int64_t>{r.int64(8)};
  return {r.text(0),  r.text(1),  r.text(2),  r.opt_text(3), r.text(4),
          r.int64(5), r.int64(6), r.int64(7), length};
}

param duration(const video_record& v) {
  return v.duration_seconds ? param{*v.duration_seconds} : param{};
}

}  // namespace

db_status insert(connection& conn, const video_record& v) {
  auto res = conn.execute(
      "INSERT INTO videos (id, workspace_id, title, description, status, version, created_at, "
      "updated_at, duration_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {v.id, v.workspace_id, v.title, nullable(v.description), v.status, v.version, v.created_at,
       v.updated_at, duration(v)});
  return detail::status_of(res);
}

db_result<std::optional<video_record>> find(connection& conn, std::string_view workspace_id,
                                            std::string_view id) {
  return detail::read_first(conn.query(std::string{"SELECT "} + columns +
                                           " FROM videos WHERE workspace_id = ? AND id = ?",
                                       {std::string{workspace_id}, std::string{id}}),
                            read);
}

db_result<std::vector<video_record>> list(connection& conn, std::string_view workspace_id,
                                          const page& p, std::string_view status) {
  std::string sql = std::string{"SELECT "} + columns + " FROM videos WHERE workspace_id = ?";
  std::vector<param> params{std::string{workspace_id}};
  if (!status.empty()) {
    sql += " AND status = ?";
    params.emplace_back(std::string{status});
  }
  detail::add_page(sql, params, p);
  return detail::read_all(conn.query(sql, params), read);
}

db_result<bool> update(connection& conn, const video_record& v, int64_t expected_version) {
  auto res = conn.execute(
      "UPDATE videos SET title = ?, description = ?, status = ?, version = ?, updated_at = ?, "
      "duration_seconds = ? WHERE workspace_id = ? AND id = ? AND version = ?",
      {v.title, nullable(v.description), v.status, v.version, v.updated_at, duration(v),
       v.workspace_id, v.id, expected_version});
  if (!res) {
    return res.error();
  }
  return *res == 1;
}

db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id) {
  return detail::touched(conn.execute("DELETE FROM videos WHERE workspace_id = ? AND id = ?",
                                      {std::string{workspace_id}, std::string{id}}));
}

}  // namespace sb::persistence::videos
