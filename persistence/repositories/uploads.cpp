#include "persistence/repositories/uploads.hpp"

#include "persistence/repositories/detail/rows.hpp"

#include <array>

namespace sb::persistence::uploads {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard base64 (RFC 4648 §4) with padding.
std::string encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  auto byte = [&in](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  if (auto rest = in.size() - i; rest > 0) {
    uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += rest == 2 ? alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// Decodes what encode wrote; nullopt for anything else.
std::optional<std::string> decode(std::string_view in) {
  static const auto values = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    for (int i = 0; i < 64; ++i) {
      v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    }
    return v;
  }();
  if (in.size() % 4 != 0) {
    return std::nullopt;
  }
  size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') {
    ++pad;
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t n = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      bool padding = c == '=' && i + 4 == in.size() && k >= 4 - pad;
      int v = padding ? 0 : values[static_cast<unsigned char>(c)];
      if (v < 0) {
        return std::nullopt;
      }
      n = n << 6 | static_cast<uint32_t>(v);
    }
    out += static_cast<char>(n >> 16 & 255);
    out += static_cast<char>(n >> 8 & 255);
    out += static_cast<char>(n & 255);
  }
  out.resize(out.size() - pad);
  return out;
}

upload_record read(const row& r) {
  upload_record u;
  u.id = r.text(0);
  u.workspace_id = r.text(1);
  u.user_id = r.text(2);
  u.state = r.text(3) == "complete" ? upload_state::complete : upload_state::receiving;
  u.bytes = r.int64(4);
  u.chunks = r.int64(5);
  u.created_at = r.int64(6);
  u.updated_at = r.int64(7);
  return u;
}

// Runs `body` in the caller's transaction, or in its own when none is open.
template <class F>
auto joined(connection& conn, F&& body) -> decltype(body(conn)) {
  if (conn.in_transaction()) {
    return body(conn);
  }
  return in_transaction(conn, std::forward<F>(body));
}

}  // namespace

const char* to_string(upload_state s) {
  return s == upload_state::complete ? "complete" : "receiving";
}

db_status create(connection& conn, const upload_record& u) {
  return detail::status_of(conn.execute(
      "INSERT INTO uploads (id, workspace_id, user_id, state, bytes, chunks, created_at, "
      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {u.id, u.workspace_id, u.user_id, std::string{to_string(u.state)}, u.bytes, u.chunks,
       u.created_at, u.updated_at}));
}

db_status add_chunk(connection& conn, std::string_view upload_id, int64_t seq,
                    std::string_view data) {
  return detail::status_of(
      conn.execute("INSERT INTO upload_chunks (upload_id, seq, data) VALUES (?, ?, ?)",
                   {std::string{upload_id}, seq, encode(data)}));
}

db_result<bool> complete(connection& conn, std::string_view upload_id, int64_t bytes,
                         int64_t chunks, int64_t now) {
  return detail::touched(
      conn.execute("UPDATE uploads SET state = 'complete', bytes = ?, chunks = ?, updated_at = ? "
                   "WHERE id = ? AND state = 'receiving'",
                   {bytes, chunks, now, std::string{upload_id}}));
}

db_result<std::optional<upload_record>> find(connection& conn, std::string_view id) {
  return detail::read_first(
      conn.query("SELECT id, workspace_id, user_id, state, bytes, chunks, created_at, updated_at "
                 "FROM uploads WHERE id = ?",
                 {std::string{id}}),
      read);
}

db_result<std::optional<std::string>> chunk(connection& conn, std::string_view upload_id,
                                            int64_t seq) {
  auto rows = conn.query("SELECT data FROM upload_chunks WHERE upload_id = ? AND seq = ?",
                         {std::string{upload_id}, seq});
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<std::string>{};
  }
  auto data = decode(rows->front().text(0));
  if (!data) {
    return db_error{db_errc::internal, "",
                    "upload chunk " + std::to_string(seq) + " of " + std::string{upload_id} +
                        " is not valid base64"};
  }
  return std::optional<std::string>{std::move(*data)};
}

db_result<bool> remove(connection& conn, std::string_view id) {
  const std::string key{id};
  return joined(conn, [&key](connection& c) -> db_result<bool> {
    if (auto gone = c.execute("DELETE FROM upload_chunks WHERE upload_id = ?", {key}); !gone) {
      return gone.error();
    }
    return detail::touched(c.execute("DELETE FROM uploads WHERE id = ?", {key}));
  });
}

namespace {

// Removes the uploads whose ids are the first column of `rows`.
db_result<int64_t> remove_each(connection& conn, const db_result<std::vector<row>>& rows) {
  if (!rows) {
    return rows.error();
  }
  int64_t removed = 0;
  for (const auto& r : *rows) {
    auto gone = remove(conn, r.text(0));
    if (!gone) {
      return gone.error();
    }
    removed += *gone ? 1 : 0;
  }
  return removed;
}

}  // namespace

db_result<int64_t> remove_unclaimed(connection& conn, std::string_view job_kind, int64_t limit) {
  // An upload becomes complete in the transaction that queues its job, so a
  // complete upload without a live or dead job is one nobody will read. Ids
  // are unique random strings: one quoted inside a payload names that upload.
  auto rows = conn.query(
      "SELECT u.id FROM uploads u WHERE u.state = 'complete' AND NOT EXISTS (SELECT 1 FROM jobs "
      "j WHERE j.kind = ? AND j.state IN ('available', 'running', 'dead') AND j.payload LIKE "
      "'%\"' || u.id || '\"%') ORDER BY u.created_at LIMIT " +
          std::to_string(limit),
      {std::string{job_kind}});
  return remove_each(conn, rows);
}

db_result<int64_t> remove_abandoned(connection& conn, int64_t before, int64_t limit) {
  auto rows = conn.query(
      "SELECT id FROM uploads WHERE state = 'receiving' AND created_at < ? ORDER BY created_at "
      "LIMIT " +
          std::to_string(limit),
      {before});
  return remove_each(conn, rows);
}

}  // namespace sb::persistence::uploads
