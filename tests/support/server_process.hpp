#pragma once

// Starts the real switchboard binary for an end-to-end test: its own port,
// its own database, its log captured in a file.

#include <sys/types.h>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sb::testing {

/// The path of the server binary under test.
std::string server_binary();

/// A running switchboard process; stopped (SIGTERM) when destroyed.
class server_process {
 public:
  /// Starts the server with `env` added to a minimal environment; waits for
  /// its "listening" line. Throws std::runtime_error if it does not come up.
  explicit server_process(std::map<std::string, std::string> env,
                          std::chrono::seconds deadline = std::chrono::seconds(30));
  ~server_process();

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// The port the server listens on (127.0.0.1).
  uint16_t port() const { return port_; }

  /// Everything the server wrote to stdout and stderr so far.
  std::string log() const;

  /// Sends SIGTERM and waits; returns the exit status (or -signal).
  int stop(std::chrono::seconds deadline = std::chrono::seconds(20));

  /// Sends SIGKILL and waits.
  void kill();

  /// Tells whether the process is still running.
  bool running();

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
  std::string log_path_;
};

/// Runs the binary to completion with `args` and `env`; returns exit status
/// and combined output.
std::pair<int, std::string> run_binary(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env);

}  // namespace sb::testing
