#include "persistence/repositories/deals.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <unordered_map>

namespace sb::persistence::deals {

namespace {

constexpr const char* columns =
    "id, workspace_id, name, stage, amount_minor, currency, close_date, version, created_at, "
    "updated_at";

deal_record read(const row& r) {
  deal_record d;
  d.id = r.text(0);
  d.workspace_id = r.text(1);
  d.name = r.text(2);
  d.stage = r.text(3);
  if (!r.is_null(4)) {
    d.amount_minor = r.int64(4);
  }
  d.currency = r.opt_text(5);
  d.close_date = r.opt_text(6);
  d.version = r.int64(7);
  d.created_at = r.int64(8);
  d.updated_at = r.int64(9);
  return d;
}

param amount_param(const deal_record& d) {
  return d.amount_minor ? param{*d.amount_minor} : param{};
}

db_status insert_links(connection& conn, const deal_record& d) {
  int64_t position = 0;
  for (const auto& contact_id : d.contact_ids) {
    auto res =
        conn.execute("INSERT INTO deal_contacts (deal_id, contact_id, position) VALUES (?, ?, ?)",
                     {d.id, contact_id, position++});
    if (!res) {
      return res.error();
    }
  }
  return done{};
}

// Loads the contact ids of every deal in `out` with one query.
db_status attach_links(connection& conn, std::vector<deal_record>& out) {
  if (out.empty()) {
    return done{};
  }
  std::string sql = "SELECT deal_id, contact_id FROM deal_contacts WHERE deal_id IN (";
  std::vector<param> params;
  std::unordered_map<std::string, deal_record*> by_id;
  for (size_t i = 0; i < out.size(); ++i) {
    sql += i == 0 ? "?" : ", ?";
    params.emplace_back(out[i].id);
    by_id[out[i].id] = &out[i];
  }
  sql += ") ORDER BY deal_id, position";
  auto rows = conn.query(sql, params);
  if (!rows) {
    return rows.error();
  }
  for (const auto& r : *rows) {
    by_id[r.text(0)]->contact_ids.push_back(r.text(1));
  }
  return done{};
}

}  // namespace

db_status insert(connection& conn, const deal_record& d) {
  auto res = conn.execute(
      "INSERT INTO deals (id, workspace_id, name, stage, amount_minor, currency, close_date, "
      "version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {d.id, d.workspace_id, d.name, d.stage, amount_param(d), nullable(d.currency),
       nullable(d.close_date), d.version, d.created_at, d.updated_at});
  if (!res) {
    return res.error();
  }
  return insert_links(conn, d);
}

db_result<std::optional<deal_record>> find(connection& conn, std::string_view workspace_id,
                                           std::string_view id) {
  auto rows =
      conn.query(std::string{"SELECT "} + columns + " FROM deals WHERE workspace_id = ? AND id = ?",
                 {std::string{workspace_id}, std::string{id}});
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<deal_record>{};
  }
  std::vector<deal_record> one{read(rows->front())};
  if (auto st = attach_links(conn, one); !st) {
    return st.error();
  }
  return std::optional<deal_record>{std::move(one.front())};
}

db_result<std::vector<deal_record>> list(connection& conn, std::string_view workspace_id,
                                         const page& p, std::string_view stage) {
  std::string sql = std::string{"SELECT "} + columns + " FROM deals WHERE workspace_id = ?";
  std::vector<param> params{std::string{workspace_id}};
  if (!stage.empty()) {
    sql += " AND stage = ?";
    params.emplace_back(std::string{stage});
  }
  detail::add_page(sql, params, p);
  auto out = detail::read_all(conn.query(sql, params), read);
  if (!out) {
    return out.error();
  }
  if (auto st = attach_links(conn, *out); !st) {
    return st.error();
  }
  return out;
}

db_result<bool> update(connection& conn, const deal_record& d, int64_t expected_version) {
  auto res = conn.execute(
      "UPDATE deals SET name = ?, stage = ?, amount_minor = ?, currency = ?, close_date = ?, "
      "version = ?, updated_at = ? WHERE workspace_id = ? AND id = ? AND version = ?",
      {d.name, d.stage, amount_param(d), nullable(d.currency), nullable(d.close_date), d.version,
       d.updated_at, d.workspace_id, d.id, expected_version});
  if (!res) {
    return res.error();
  }
  if (*res != 1) {
    return false;
  }
  auto cleared = conn.execute("DELETE FROM deal_contacts WHERE deal_id = ?", {d.id});
  if (!cleared) {
    return cleared.error();
  }
  if (auto st = insert_links(conn, d); !st) {
    return st.error();
  }
  return true;
}

db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id) {
  // Links go first: SQLite only cascades when foreign keys are switched on.
  auto links = conn.execute(
      "DELETE FROM deal_contacts WHERE deal_id IN (SELECT id FROM deals WHERE workspace_id = ? "
      "AND id = ?)",
      {std::string{workspace_id}, std::string{id}});
  if (!links) {
    return links.error();
  }
  return detail::touched(conn.execute("DELETE FROM deals WHERE workspace_id = ? AND id = ?",
                                      {std::string{workspace_id}, std::string{id}}));
}

}  // namespace sb::persistence::deals
