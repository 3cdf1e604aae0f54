#include "redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sb::test {
namespace {

using namespace std::chrono_literals;

// Asks the kernel for a free port on 127.0.0.1; there is a small window in
// which another process could take it before redis-server binds it.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Sends PING and tells whether the server answered at all (PONG or NOAUTH).
bool answers_ping(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::write(fd, "PING\r\n", 6) == 6) {
    pollfd p{fd, POLLIN, 0};
    char buf[64];
    ok = ::poll(&p, 1, 500) == 1 && ::read(fd, buf, sizeof buf) > 0 &&
         (buf[0] == '+' || buf[0] == '-');
  }
  ::close(fd);
  return ok;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

redis_server::redis_server(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/sb-redis-test.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  dir_ = tmpl;
  port_ = free_port();
  start();
}

redis_server::~redis_server() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string redis_server::url(int db, const std::string& password) const {
  std::string auth = password.empty() ? "" : ":" + password + "@";
  return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

void redis_server::start() {
  std::vector<std::string> args{"redis-server",
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir_.string(),
                                "--logfile",
                                (dir_ / "redis.log").string(),
                                "--daemonize",
                                "no"};
  args.insert(args.end(), {"--unixsocket", unix_socket(), "--unixsocketperm", "700"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot spawn redis-server");
  }

  // Wait until it answers, or fail with its log if it exited.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!answers_ping(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("redis-server exited: " << read_file(dir_ / "redis.log"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("redis-server did not answer within 5 s: " << read_file(dir_ / "redis.log"));
    }
    std::this_thread::sleep_for(5ms);
  }
}

void redis_server::kill_now() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void redis_server::stop() {
  if (pid_ <= 0) {
    return;
  }
  // A frozen server would ignore SIGTERM until resumed.
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
}

void redis_server::freeze() {
  ::kill(pid_, SIGSTOP);
}

void redis_server::thaw() {
  ::kill(pid_, SIGCONT);
}

}  // namespace sb::test
