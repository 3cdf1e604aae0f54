#include "actors/session_directory.hpp"

#include "actors/messages.hpp"

#include <caf/send.hpp>

#include <mutex>

namespace sb::actors {

bool session_directory::send(const std::string& hash, api_call& call) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = sessions_.find(hash);
  if (i == sessions_.end()) {
    return false;
  }
  caf::anon_send(i->second.session, std::move(call));
  return true;
}

void session_directory::put(const std::string& hash, caf::actor session, std::string user_id) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  sessions_[hash] = entry{std::move(session), std::move(user_id)};
}

std::string session_directory::user_of(const std::string& hash) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = sessions_.find(hash);
  return i == sessions_.end() ? std::string{} : i->second.user_id;
}

void session_directory::erase(const std::string& hash, const caf::actor& session) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto i = sessions_.find(hash);
  if (i != sessions_.end() && i->second.session == session) {
    sessions_.erase(i);
  }
}

size_t session_directory::size() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return sessions_.size();
}

}  // namespace sb::actors
