#pragma once

// A throwaway redis-server for tests: 127.0.0.1, a free port, a temporary
// directory, no persistence; stopped by pid when the object goes away.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sb::test {

/// One redis-server child process that can be frozen, killed and restarted.
class redis_server {
 public:
  /// Starts redis-server with `extra_args` (e.g. {"--requirepass", "x"}) and waits until it
  /// answers.
  explicit redis_server(std::vector<std::string> extra_args = {});
  /// Stops the server and removes its directory.
  ~redis_server();

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// The TCP port, kept across restarts.
  uint16_t port() const { return port_; }
  /// A URL for the client, e.g. "redis://:pw@127.0.0.1:1234/3".
  std::string url(int db = 0, const std::string& password = {}) const;

  /// The path of the server's Unix socket, in its temporary directory.
  std::string unix_socket() const { return (dir_ / "redis.sock").string(); }

  /// Starts the server again on the same port and waits until it answers.
  void start();
  /// Kills the server with SIGKILL and reaps it.
  void kill_now();
  /// Suspends the server (SIGSTOP): connections stay open, nothing is answered.
  void freeze();
  /// Resumes a frozen server (SIGCONT).
  void thaw();

 private:
  void stop();

  std::vector<std::string> extra_args_;
  std::filesystem::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sb::test
