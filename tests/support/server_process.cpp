#include "tests/support/server_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sb::testing {

namespace {

std::string make_temp_dir() {
  std::string tmpl = "/tmp/sb-server-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    throw std::runtime_error("mkdtemp failed");
  }
  return tmpl;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Forks and execs the server with stdout and stderr going to `log_path`.
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& log_path) {
  std::vector<std::string> env_strings;
  // Keep what the ODBC driver manager and the dynamic loader may need.
  for (const char* keep : {"PATH", "HOME", "LANG", "ODBCSYSINI", "ODBCINI", "TMPDIR"}) {
    if (const char* v = std::getenv(keep)) {
      env_strings.push_back(std::string{keep} + "=" + v);
    }
  }
  for (const auto& [k, v] : env) {
    env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> argv;
  std::string bin = server_binary();
  argv.push_back(bin.data());
  std::vector<std::string> args_copy = args;
  for (auto& a : args_copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execve(bin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid, std::chrono::seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -SIGKILL;
}

}  // namespace

std::string server_binary() {
  if (const char* p = std::getenv("SB_TEST_SERVER_BIN")) {
    return p;
  }
#ifdef SB_SERVER_BIN
  return SB_SERVER_BIN;
#else
  return "build/bin/switchboard";
#endif
}

server_process::server_process(std::map<std::string, std::string> env,
                               std::chrono::seconds deadline)
    : dir_(make_temp_dir()) {
  log_path_ = dir_ + "/server.log";
  env.emplace("SWITCHBOARD_LISTEN", "127.0.0.1:0");
  pid_ = spawn({}, env, log_path_);

  // The server logs {"msg":"listening",...,"port":N} once it accepts.
  static const std::regex listening{R"re("msg":"listening".*"port":([0-9]+))re"};
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    std::smatch m;
    auto text = read_file(log_path_);
    if (std::regex_search(text, m, listening)) {
      port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("switchboard exited during start-up:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto text = log();
  kill();
  throw std::runtime_error("switchboard did not start listening in time:\n" + text);
}

server_process::~server_process() {
  if (pid_ > 0) {
    stop();
  }
  std::remove(log_path_.c_str());
  ::rmdir(dir_.c_str());
}

std::string server_process::log() const {
  return read_file(log_path_);
}

int server_process::stop(std::chrono::seconds deadline) {
  if (pid_ <= 0) {
    return 0;
  }
  ::kill(pid_, SIGTERM);
  int code = wait_for(pid_, deadline);
  pid_ = -1;
  return code;
}

void server_process::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool server_process::running() {
  if (pid_ <= 0) {
    return false;
  }
  int status = 0;
  return waitpid(pid_, &status, WNOHANG) == 0;
}

std::pair<int, std::string> run_binary(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env) {
  auto dir = make_temp_dir();
  auto log_path = dir + "/out.log";
  auto pid = spawn(args, env, log_path);
  int code = wait_for(pid, std::chrono::seconds(30));
  auto out = read_file(log_path);
  std::remove(log_path.c_str());
  ::rmdir(dir.c_str());
  return {code, out};
}

}  // namespace sb::testing
