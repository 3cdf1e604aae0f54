#include "persistence/redis/subscriber.hpp"

#include "observability/log.hpp"
#include "persistence/redis/detail/backoff.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <random>
#include <thread>
#include <vector>

namespace sb::persistence {
namespace {

using clock_type = std::chrono::steady_clock;

const observability::log_context no_context{};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// Runs one command on a blocking context; true when the reply is not an error.
bool run_command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  if (r == nullptr) {
    return false;
  }
  bool ok = r->type != REDIS_REPLY_ERROR;
  freeReplyObject(r);
  return ok;
}

// Tells whether `r` is an array whose first element is the bulk string `kind`.
bool is_push(const redisReply* r, const char* kind, size_t elements) {
  return r->type == REDIS_REPLY_ARRAY && r->elements >= elements &&
         r->element[0]->type == REDIS_REPLY_STRING && std::string{r->element[0]->str} == kind;
}

}  // namespace

struct redis_subscriber::wake {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::thread thread;

  // Waits up to `ms` or until the subscriber stops.
  void sleep(std::chrono::milliseconds ms) const {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(ms.count()));
  }
};

redis_subscriber::redis_subscriber(redis_endpoint endpoint, std::string channel,
                                   subscriber_callbacks callbacks, subscriber_options options)
    : endpoint_(std::move(endpoint)),
      channel_(std::move(channel)),
      callbacks_(std::move(callbacks)),
      options_(options),
      wake_(std::make_unique<wake>()) {
  wake_->thread = std::thread([this] { run(); });
}

redis_subscriber::~redis_subscriber() {
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_->fd, &one, sizeof one);
  wake_->thread.join();
  ::close(wake_->fd);
}

void redis_subscriber::run() {
  // As in the client: a vanished peer must give EPIPE, not SIGPIPE.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);

  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int attempt = 0;
  while (!stopping_) {
    attempt = listen_once() ? 0 : attempt + 1;
    if (stopping_) {
      break;
    }
    wake_->sleep(
        detail::backoff_delay(attempt, options_.backoff_initial, options_.backoff_max, unit(rng)));
  }
}

bool redis_subscriber::listen_once() {
  // 1. Connect, log in and subscribe, all bounded by the connect timeout.
  auto tv = to_timeval(options_.connect_timeout);
  redisContext* c = endpoint_.unix_path.empty()
                        ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                        : redisConnectUnixWithTimeout(endpoint_.unix_path.c_str(), tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) {
      redisFree(c);
    }
    return false;
  }
  std::unique_ptr<redisContext, void (*)(redisContext*)> guard{c, redisFree};
  redisSetTimeout(c, tv);
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.user.empty()) {
      auth.push_back(endpoint_.user);
    }
    auth.push_back(endpoint_.password);
    if (!run_command(c, auth)) {
      return false;
    }
  }
  if (!run_command(c, {"SUBSCRIBE", channel_})) {
    return false;
  }
  healthy_since_ = clock_type::now().time_since_epoch().count();
  healthy_ = true;
  ++subscriptions_;
  SB_LOG(persistence, debug, no_context, "redis subscribed channel={} endpoint={}", channel_,
         redact(endpoint_));
  if (callbacks_.on_subscribed) {
    callbacks_.on_subscribed();
  }

  // 2. Read pushes as they come; ping after silence, so that a frozen server
  // (SIGSTOP, DEBUG SLEEP) is noticed even though the socket stays open.
  auto last_heard = clock_type::now();
  bool ping_pending = false;
  clock_type::time_point ping_sent{};
  std::string why;
  while (!stopping_ && why.empty()) {
    auto now = clock_type::now();
    if (ping_pending && now - ping_sent >= options_.ping_timeout) {
      why = "no answer to PING";
      break;
    }
    if (!ping_pending && now - last_heard >= options_.ping_interval) {
      int done = 0;
      redisAppendCommand(c, "PING");
      while (done == 0) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
          why = "write failed";
          break;
        }
      }
      ping_pending = true;
      ping_sent = now;
      continue;
    }
    pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_->fd, POLLIN, 0}};
    auto wait = ping_pending ? options_.ping_timeout - (now - ping_sent)
                             : options_.ping_interval - (now - last_heard);
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1;
    if (::poll(fds, 2, static_cast<int>(wait_ms)) <= 0 || (fds[0].revents == 0)) {
      continue;
    }
    if (redisBufferRead(c) != REDIS_OK) {
      why = c->errstr[0] != 0 ? std::string{c->errstr} : std::string{"connection closed"};
      break;
    }
    last_heard = clock_type::now();
    void* raw = nullptr;
    while (redisGetReplyFromReader(c, &raw) == REDIS_OK && raw != nullptr) {
      std::unique_ptr<redisReply, void (*)(void*)> r{static_cast<redisReply*>(raw),
                                                     freeReplyObject};
      raw = nullptr;
      // In subscribed mode PING answers ["pong", ""].
      if (is_push(r.get(), "pong", 1)) {
        ping_pending = false;
      } else if (is_push(r.get(), "message", 3) && callbacks_.on_message) {
        const auto* payload = r->element[2];
        callbacks_.on_message(std::string(payload->str, payload->len));
      }
    }
  }

  // 3. Whoever relies on the pushes must now assume it missed some.
  healthy_ = false;
  if (!stopping_) {
    SB_LOG(persistence, warn, no_context, "redis subscription lost channel={} error={}", channel_,
           why);
  }
  if (callbacks_.on_lost) {
    callbacks_.on_lost();
  }
  return true;
}

}  // namespace sb::persistence
