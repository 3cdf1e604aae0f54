#pragma once

// What a session actor knows about its logged-in user.

#include <cstdint>
#include <string>

namespace sb::actors {

/// The user, workspace and role behind one bearer token.
struct session_info {
  std::string token_hash;
  std::string user_id;
  std::string email;
  std::string name;
  int64_t user_created_at = 0;
  std::string workspace_id;
  std::string workspace_name;
  std::string role;  ///< owner, admin or member.
  int64_t expires_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_info& x) {
  return f(x.token_hash, x.user_id, x.email, x.name, x.user_created_at, x.workspace_id,
           x.workspace_name, x.role, x.expires_at);
}

}  // namespace sb::actors
