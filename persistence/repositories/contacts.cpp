#include "persistence/repositories/contacts.hpp"

#include "persistence/repositories/detail/rows.hpp"

namespace sb::persistence::contacts {

using detail::lower;
using detail::lower_or_null;

namespace {

constexpr const char* columns =
    "id, workspace_id, email, first_name, last_name, phone, company, lifecycle_stage, version, "
    "created_at, updated_at";

contact_record read(const row& r) {
  contact_record c;
  c.id = r.text(0);
  c.workspace_id = r.text(1);
  c.email = r.text(2);
  c.first_name = r.opt_text(3);
  c.last_name = r.opt_text(4);
  c.phone = r.opt_text(5);
  c.company = r.opt_text(6);
  c.lifecycle_stage = r.opt_text(7);
  c.version = r.int64(8);
  c.created_at = r.int64(9);
  c.updated_at = r.int64(10);
  return c;
}

}  // namespace

db_status insert(connection& conn, const contact_record& c) {
  auto res = conn.execute(
      "INSERT INTO contacts (id, workspace_id, email, email_lc, first_name, first_lc, last_name, "
      "last_lc, phone, company, lifecycle_stage, version, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {c.id, c.workspace_id, c.email, lower(c.email), nullable(c.first_name),
       lower_or_null(c.first_name), nullable(c.last_name), lower_or_null(c.last_name),
       nullable(c.phone), nullable(c.company), nullable(c.lifecycle_stage), c.version, c.created_at,
       c.updated_at});
  return detail::status_of(res);
}

db_result<std::optional<contact_record>> find(connection& conn, std::string_view workspace_id,
                                              std::string_view id) {
  return detail::read_first(conn.query(std::string{"SELECT "} + columns +
                                           " FROM contacts WHERE workspace_id = ? AND id = ?",
                                       {std::string{workspace_id}, std::string{id}}),
                            read);
}

db_result<std::vector<contact_record>> list(connection& conn, std::string_view workspace_id,
                                            const page& p, std::string_view query) {
  std::string sql = std::string{"SELECT "} + columns + " FROM contacts WHERE workspace_id = ?";
  std::vector<param> params{std::string{workspace_id}};
  if (!query.empty()) {
    // Three prefix ranges, each served by its own (workspace_id, key) index.
    auto lo = lower(query);
    auto hi = detail::prefix_upper_bound(lo);
    sql +=
        " AND ((email_lc >= ? AND email_lc < ?) OR (first_lc >= ? AND first_lc < ?)"
        " OR (last_lc >= ? AND last_lc < ?))";
    for (int i = 0; i < 3; ++i) {
      params.emplace_back(lo);
      params.emplace_back(hi);
    }
  }
  detail::add_page(sql, params, p);
  return detail::read_all(conn.query(sql, params), read);
}

db_result<bool> update(connection& conn, const contact_record& c, int64_t expected_version) {
  auto res = conn.execute(
      "UPDATE contacts SET email = ?, email_lc = ?, first_name = ?, first_lc = ?, last_name = ?, "
      "last_lc = ?, phone = ?, company = ?, lifecycle_stage = ?, version = ?, updated_at = ? "
      "WHERE workspace_id = ? AND id = ? AND version = ?",
      {c.email, lower(c.email), nullable(c.first_name), lower_or_null(c.first_name),
       nullable(c.last_name), lower_or_null(c.last_name), nullable(c.phone), nullable(c.company),
       nullable(c.lifecycle_stage), c.version, c.updated_at, c.workspace_id, c.id,
       expected_version});
  if (!res) {
    return res.error();
  }
  return *res == 1;
}

db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id) {
  return detail::touched(conn.execute("DELETE FROM contacts WHERE workspace_id = ? AND id = ?",
                                      {std::string{workspace_id}, std::string{id}}));
}

db_result<std::vector<std::string>> existing(connection& conn, std::string_view workspace_id,
                                             const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (ids.empty()) {
    return out;
  }
  std::string sql = "SELECT id FROM contacts WHERE workspace_id = ? AND id IN (";
  std::vector<param> params{std::string{workspace_id}};
  for (size_t i = 0; i < ids.size(); ++i) {
    sql += i == 0 ? "?" : ", ?";
    params.emplace_back(ids[i]);
  }
  sql += ")";
  auto rows = conn.query(sql, params);
  if (!rows) {
    return rows.error();
  }
  for (const auto& r : *rows) {
    out.push_back(r.text(0));
  }
  return out;
}

}  // namespace sb::persistence::contacts
