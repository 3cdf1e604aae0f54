#pragma once

// The rows Switchboard stores, as plain structs. Repositories read and write
// them; the actors turn them into JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sb::persistence {

using opt_text = std::optional<std::string>;

struct workspace_record {
  std::string id;
  std::string name;
  int64_t created_at = 0;
};

struct user_record {
  std::string id;
  std::string email;
  std::string name;
  std::string password_hash;
  int64_t created_at = 0;
};

struct member_record {
  std::string workspace_id;
  std::string user_id;
  std::string role;  ///< owner, admin or member.
  int64_t created_at = 0;
};

/// A member together with the user it names, for listings.
struct member_view {
  member_record member;
  user_record user;
};

struct session_record {
  std::string token_hash;  ///< SHA-256 of the bearer token; the token itself is never stored.
  std::string user_id;
  std::string workspace_id;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

/// A live session with everything a session actor keeps in memory.
struct session_view {
  session_record session;
  user_record user;
  workspace_record workspace;
  std::string role;
};

struct contact_record {
  std::string id;
  std::string workspace_id;
  std::string email;
  opt_text first_name;
  opt_text last_name;
  opt_text phone;
  opt_text company;
  opt_text lifecycle_stage;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct deal_record {
  std::string id;
  std::string workspace_id;
  std::string name;
  std::string stage;
  std::optional<int64_t> amount_minor;  ///< Amount in hundredths of the currency unit.
  opt_text currency;
  opt_text close_date;  ///< YYYY-MM-DD.
  std::vector<std::string> contact_ids;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct video_record {
  std::string id;
  std::string workspace_id;
  std::string title;
  opt_text description;
  std::string status;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> duration_seconds;  ///< Length, for the share watched; empty if unknown.
};

/// One viewing event of a video; its id is chosen by the client, unique per workspace.
struct video_view_record {
  std::string workspace_id;
  std::string id;
  std::string video_id;
  opt_text contact_id;
  std::string event;  ///< play, progress or complete.
  double seconds_watched = 0;
  int64_t occurred_at = 0;  ///< Unix ms.
  int64_t created_at = 0;
};

/// Keyset pagination: newest first, rows with ids below `before_id`.
struct page {
  size_t limit = 50;
  std::string before_id;  ///< Empty: from the newest.
};

}  // namespace sb::persistence
