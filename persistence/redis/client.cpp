#include "persistence/redis/client.hpp"

#include "observability/log.hpp"
#include "persistence/redis/detail/backoff.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

namespace sb::persistence {
namespace {

using clock_type = std::chrono::steady_clock;

const observability::log_context no_context{};

// Turns a hiredis reply tree into our value type.
redis_reply convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_NIL:
      return redis_reply{};
    case REDIS_REPLY_INTEGER:
      return redis_reply::integer(r->integer);
    case REDIS_REPLY_STRING:
      return redis_reply::string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return redis_reply::status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return redis_reply::error(redis_errc::server_error, std::string(r->str, r->len));
    case REDIS_REPLY_ARRAY: {
      std::vector<redis_reply> xs;
      xs.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        xs.push_back(convert(r->element[i]));
      }
      return redis_reply::array(std::move(xs));
    }
  }
  return redis_reply::error(redis_errc::protocol, "unknown reply type " + std::to_string(r->type));
}

// Commands that would change a pooled connection's state for every later user.
bool changes_connection_state(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "SELECT" || upper == "MONITOR" || upper == "SUBSCRIBE" || upper == "PSUBSCRIBE" ||
         upper == "SSUBSCRIBE" || upper == "QUIT" || upper == "RESET";
}

// Sends one command given as strings; the strings must outlive the call only.
int send_argv(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata,
              const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(args.size()), argv.data(),
                               lens.data());
}

// Runs a completion handler; an exception must not unwind through hiredis' C
// frames or end the I/O thread, so it is logged and dropped.
void deliver(redis_client::handler& done, redis_reply reply) {
  try {
    done(std::move(reply));
  } catch (const std::exception& e) {
    SB_LOG(persistence, err, no_context, "redis completion handler threw error={}", e.what());
  } catch (...) {
    SB_LOG(persistence, err, no_context, "redis completion handler threw");
  }
}

}  // namespace

class redis_client::impl {
 public:
  impl(redis_endpoint endpoint, redis_options options);
  ~impl();

  void submit(std::vector<std::string> args, handler done);
  size_t connected() const { return ready_.load(); }

 private:
  enum class state { down, connecting, ready };

  // One pooled connection; touched only by the I/O thread.
  struct connection {
    impl* owner = nullptr;
    size_t index = 0;
    redisAsyncContext* ac = nullptr;
    state st = state::down;
    bool want_read = false;
    bool want_write = false;
    int attempt = 0;            // Failed attempts since the last success; drives the backoff.
    int handshake_left = 0;     // AUTH, SELECT and PING replies still awaited.
    int timeouts_in_a_row = 0;  // Reset by any reply, even a late one.
    uint64_t generation = 0;  // Counts contexts, so stale timeouts are not held against a new one.
    std::string failure;      // Why this attempt failed, when we know better than hiredis.
    clock_type::time_point retry_at{};
    clock_type::time_point connect_deadline{};
  };

  // A command sent and not yet completed.
  struct in_flight {
    handler done;
    size_t conn;
    uint64_t generation;
  };

  struct request {
    std::vector<std::string> args;
    handler done;
    clock_type::time_point queued;
  };

  void run();
  void dispatch(request req);
  void expire(clock_type::time_point now);
  void tend(connection& c, clock_type::time_point now);
  void do_connect(connection& c, clock_type::time_point now);
  void send_handshake(connection& c);
  void on_handshake_reply(connection& c, const redisReply* r, const char* step);
  void on_context_gone(connection& c);
  void schedule_retry(connection& c);
  int poll_timeout(clock_type::time_point now) const;
  void complete(uint64_t id, redis_reply reply);
  void on_timeout(uint64_t id);
  void shutdown();

  // hiredis event hooks: ev.data is the connection; poll() reads the flags.
  static void hook_add_read(void* p) { static_cast<connection*>(p)->want_read = true; }
  static void hook_del_read(void* p) { static_cast<connection*>(p)->want_read = false; }
  static void hook_add_write(void* p) { static_cast<connection*>(p)->want_write = true; }
  static void hook_del_write(void* p) { static_cast<connection*>(p)->want_write = false; }
  static void hook_cleanup(void* p);

  // hiredis reply callbacks.
  static void on_command_cb(redisAsyncContext* ac, void* r, void* privdata);
  static void on_auth_cb(redisAsyncContext* ac, void* r, void* privdata);
  static void on_select_cb(redisAsyncContext* ac, void* r, void* privdata);
  static void on_ping_cb(redisAsyncContext* ac, void* r, void* privdata);

  const redis_endpoint endpoint_;
  const redis_options options_;

  // I/O thread only.
  std::vector<connection> conns_;  // Never resized: hiredis holds pointers into it.
  std::unordered_map<uint64_t, in_flight> pending_;
  std::deque<std::pair<clock_type::time_point, uint64_t>> deadlines_;  // In deadline order.
  uint64_t next_id_ = 1;
  size_t next_conn_ = 0;
  std::string last_error_ = "not connected yet";
  std::mt19937_64 rng_;
  bool shutting_down_ = false;

  // Shared with callers.
  std::atomic<size_t> ready_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<request> inbox_;  // Guarded by mutex_.
  int wake_fd_ = -1;
  std::thread thread_;
};

redis_client::impl::impl(redis_endpoint endpoint, redis_options options)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      conns_(std::max<size_t>(options_.connections, 1)),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {
  for (size_t i = 0; i < conns_.size(); ++i) {
    conns_[i].owner = this;
    conns_[i].index = i;
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

redis_client::impl::~impl() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
}

void redis_client::impl::submit(std::vector<std::string> args, handler done) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Only reachable while the owner is being destroyed; the I/O thread is gone.
  if (stopping_) {
    lock.unlock();
    done(redis_reply::error(redis_errc::unavailable, "redis client is shutting down"));
    return;
  }
  bool was_empty = inbox_.empty();
  inbox_.push_back({std::move(args), std::move(done), clock_type::now()});
  lock.unlock();

  // One wake-up per batch: the I/O thread drains the whole inbox at once.
  if (was_empty) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

void redis_client::impl::run() {
  // hiredis writes with write(2): a peer that vanished would raise SIGPIPE and
  // kill the process. Blocked here, the write fails with EPIPE instead.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);

  std::vector<pollfd> fds;
  std::vector<std::pair<size_t, redisAsyncContext*>> polled;
  std::vector<request> batch;
  while (!stopping_) {
    // Take what callers queued, then serve timers.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(inbox_);
    }
    for (auto& req : batch) {
      dispatch(std::move(req));
    }
    batch.clear();
    auto now = clock_type::now();
    expire(now);
    for (auto& c : conns_) {
      tend(c, now);
    }

    // Wait for the sockets hiredis wants, the wake-up fd, or the next timer.
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    polled.clear();
    for (auto& c : conns_) {
      if (c.ac == nullptr) {
        continue;
      }
      short events = static_cast<short>((c.want_read ? POLLIN : 0) | (c.want_write ? POLLOUT : 0));
      fds.push_back(pollfd{c.ac->c.fd, events, 0});
      polled.emplace_back(c.index, c.ac);
    }
    if (::poll(fds.data(), fds.size(), poll_timeout(clock_type::now())) < 0) {
      continue;  // EINTR: just go round again.
    }
    if (fds[0].revents != 0) {
      uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
    }

    // Each handler may free the context, so re-check it before the next one.
    for (size_t i = 0; i < polled.size(); ++i) {
      auto ev = fds[i + 1].revents;
      auto& c = conns_[polled[i].first];
      auto* ac = polled[i].second;
      if (c.ac == ac && c.want_write && (ev & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        redisAsyncHandleWrite(ac);
      }
      if (c.ac == ac && (ev & (POLLIN | POLLERR | POLLHUP)) != 0) {
        redisAsyncHandleRead(ac);
      }
    }
  }
  shutdown();
}

void redis_client::impl::dispatch(request req) {
  // Refuse what cannot be sent, then pick the next connection that is up.
  if (req.args.empty()) {
    deliver(req.done, redis_reply::error(redis_errc::protocol, "empty command"));
    return;
  }
  if (changes_connection_state(req.args.front())) {
    deliver(req.done,
            redis_reply::error(redis_errc::protocol,
                               req.args.front() + " is not supported on a pooled connection"));
    return;
  }
  connection* target = nullptr;
  for (size_t i = 0; i < conns_.size() && target == nullptr; ++i) {
    auto& c = conns_[(next_conn_ + i) % conns_.size()];
    if (c.st == state::ready) {
      target = &c;
    }
  }
  if (target == nullptr) {
    deliver(req.done,
            redis_reply::error(redis_errc::unavailable, "redis unavailable: " + last_error_));
    return;
  }
  next_conn_ = (target->index + 1) % conns_.size();

  // hiredis only buffers here; the reply callback cannot run before we return.
  auto id = next_id_++;
  if (send_argv(target->ac, on_command_cb, reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
                req.args) != REDIS_OK) {
    deliver(req.done, redis_reply::error(redis_errc::unavailable, "redis connection is closing"));
    return;
  }
  pending_.emplace(id, in_flight{std::move(req.done), target->index, target->generation});
  deadlines_.emplace_back(req.queued + options_.command_timeout, id);
}

void redis_client::impl::expire(clock_type::time_point now) {
  // The timeout is the same for all, so deadlines are queued in order.
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    auto id = deadlines_.front().second;
    deadlines_.pop_front();
    if (pending_.count(id) != 0) {
      on_timeout(id);
    }
  }
}

void redis_client::impl::on_timeout(uint64_t id) {
  auto& sent = pending_.at(id);
  auto& c = conns_[sent.conn];
  bool same_context = c.generation == sent.generation && c.st == state::ready;
  complete(id, redis_reply::error(
                   redis_errc::timeout,
                   "no reply within " + std::to_string(options_.command_timeout.count()) + " ms"));

  // A connection that only times out may be half-open (peer host gone without
  // a FIN); a fresh one either works or fails fast.
  auto limit = options_.max_timeouts_in_a_row;
  if (!same_context || limit == 0 || ++c.timeouts_in_a_row < limit) {
    return;
  }
  c.failure = std::to_string(limit) + " commands in a row timed out";
  SB_LOG(persistence, warn, no_context, "redis connection dropped conn={} endpoint={} error={}",
         c.index, redact(endpoint_), c.failure);
  redisAsyncFree(c.ac);  // Calls hook_cleanup, which schedules the retry.
}

void redis_client::impl::tend(connection& c, clock_type::time_point now) {
  if (c.st == state::down && now >= c.retry_at) {
    do_connect(c, now);
    return;
  }
  if (c.st == state::connecting && now >= c.connect_deadline) {
    c.failure = "connect, AUTH or SELECT took longer than " +
                std::to_string(options_.connect_timeout.count()) + " ms";
    redisAsyncFree(c.ac);  // Calls hook_cleanup, which schedules the retry.
  }
}

void redis_client::impl::do_connect(connection& c, clock_type::time_point now) {
  c.failure.clear();
  // TODO: a host name is resolved synchronously by hiredis, on this I/O thread;
  // use IP literals or a Unix socket where a stalled resolver matters.
  auto* ac = endpoint_.unix_path.empty() ? redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port)
                                         : redisAsyncConnectUnix(endpoint_.unix_path.c_str());
  if (ac == nullptr || ac->err != 0) {
    last_error_ = ac == nullptr ? std::string{"out of memory"} : std::string{ac->errstr};
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
    SB_LOG(persistence, debug, no_context, "redis connect failed conn={} endpoint={} error={}",
           c.index, redact(endpoint_), last_error_);
    schedule_retry(c);
    return;
  }

  ac->data = &c;
  ac->ev.data = &c;
  ac->ev.addRead = hook_add_read;
  ac->ev.delRead = hook_del_read;
  ac->ev.addWrite = hook_add_write;
  ac->ev.delWrite = hook_del_write;
  ac->ev.cleanup = hook_cleanup;
  c.ac = ac;
  ++c.generation;
  c.timeouts_in_a_row = 0;
  if (endpoint_.unix_path.empty()) {
    // Finds a peer that vanished without a FIN (a dead host) while idle.
    redisEnableKeepAlive(&ac->c);
  }
  c.st = state::connecting;
  c.want_read = false;
  c.want_write = false;
  c.connect_deadline = now + options_.connect_timeout;
  send_handshake(c);
}

void redis_client::impl::send_handshake(connection& c) {
  // Pipelined: AUTH, SELECT, then PING so that every connection proves itself
  // with one round trip before it takes commands.
  c.handshake_left = 0;
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.user.empty()) {
      auth.push_back(endpoint_.user);
    }
    auth.push_back(endpoint_.password);
    c.handshake_left += send_argv(c.ac, on_auth_cb, &c, auth) == REDIS_OK ? 1 : 0;
  }
  if (endpoint_.db != 0) {
    c.handshake_left +=
        send_argv(c.ac, on_select_cb, &c, {"SELECT", std::to_string(endpoint_.db)}) == REDIS_OK ? 1
                                                                                                : 0;
  }
  c.handshake_left += send_argv(c.ac, on_ping_cb, &c, {"PING"}) == REDIS_OK ? 1 : 0;
}

void redis_client::impl::on_handshake_reply(connection& c, const redisReply* r, const char* step) {
  // A null reply means the context is going away; hook_cleanup reports it.
  if (r == nullptr || c.st != state::connecting || !c.failure.empty()) {
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    c.failure = std::string{step} + " failed: " + std::string(r->str, r->len);
    // Retries repeat the same refusal: warn once, then keep it at debug.
    if (c.attempt == 0) {
      SB_LOG(persistence, warn, no_context, "redis handshake failed conn={} endpoint={} error={}",
             c.index, redact(endpoint_), c.failure);
    } else {
      SB_LOG(persistence, debug, no_context, "redis handshake failed conn={} error={}", c.index,
             c.failure);
    }
    redisAsyncDisconnect(c.ac);
    return;
  }
  if (--c.handshake_left > 0) {
    return;
  }

  c.st = state::ready;
  ++ready_;
  SB_LOG(persistence, info, no_context, "redis connected conn={} endpoint={} attempts={}", c.index,
         redact(endpoint_), c.attempt + 1);
  c.attempt = 0;
}

void redis_client::impl::on_context_gone(connection& c) {
  // hiredis has already failed every pending callback with a null reply.
  bool was_ready = c.st == state::ready;
  if (was_ready) {
    --ready_;
  }
  std::string reason = !c.failure.empty() ? c.failure
                       : c.ac->err != 0   ? std::string{c.ac->errstr}
                       : shutting_down_   ? std::string{"client stopped"}
                                          : std::string{"connection closed"};
  c.ac = nullptr;
  c.st = state::down;
  c.want_read = false;
  c.want_write = false;
  last_error_ = reason;
  if (shutting_down_) {
    return;
  }
  if (was_ready) {
    SB_LOG(persistence, warn, no_context, "redis connection lost conn={} endpoint={} error={}",
           c.index, redact(endpoint_), reason);
  }
  schedule_retry(c);
}

void redis_client::impl::schedule_retry(connection& c) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto delay =
      detail::backoff_delay(c.attempt, options_.backoff_initial, options_.backoff_max, unit(rng_));
  ++c.attempt;
  c.st = state::down;
  c.retry_at = clock_type::now() + delay;
}

int redis_client::impl::poll_timeout(clock_type::time_point now) const {
  auto next = now + std::chrono::seconds{1};
  if (!deadlines_.empty()) {
    next = std::min(next, deadlines_.front().first);
  }
  for (const auto& c : conns_) {
    if (c.st == state::down) {
      next = std::min(next, c.retry_at);
    } else if (c.st == state::connecting) {
      next = std::min(next, c.connect_deadline);
    }
  }
  if (next <= now) {
    return 0;
  }
  // Round up: waking a little early would spin until the deadline passes.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(next - now).count();
  return static_cast<int>((us + 999) / 1000);
}

void redis_client::impl::complete(uint64_t id, redis_reply reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    return;  // Already timed out: the late reply is dropped.
  }
  auto done = std::move(it->second.done);
  pending_.erase(it);
  deliver(done, std::move(reply));
}

void redis_client::impl::shutdown() {
  shutting_down_ = true;
  for (auto& c : conns_) {
    if (c.ac != nullptr) {
      redisAsyncFree(c.ac);
    }
  }
  std::vector<request> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(inbox_);
  }
  for (auto& req : left) {
    deliver(req.done, redis_reply::error(redis_errc::unavailable, "redis client is shutting down"));
  }
  while (!pending_.empty()) {
    complete(pending_.begin()->first,
             redis_reply::error(redis_errc::unavailable, "redis client is shutting down"));
  }
}

void redis_client::impl::hook_cleanup(void* p) {
  auto* c = static_cast<connection*>(p);
  c->owner->on_context_gone(*c);
}

void redis_client::impl::on_command_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* c = static_cast<connection*>(ac->data);
  auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata));
  auto* self = c->owner;
  if (r != nullptr) {
    c->timeouts_in_a_row = 0;
  }
  if (self->pending_.count(id) == 0) {
    return;
  }
  if (r != nullptr) {
    self->complete(id, convert(static_cast<redisReply*>(r)));
    return;
  }
  // No reply: hiredis is tearing the connection down.
  if (ac->err == REDIS_ERR_PROTOCOL) {
    self->complete(id, redis_reply::error(redis_errc::protocol, ac->errstr));
    return;
  }
  std::string why = !c->failure.empty()    ? c->failure
                    : ac->err != 0         ? std::string{ac->errstr}
                    : self->shutting_down_ ? std::string{"redis client is shutting down"}
                                           : std::string{"connection closed"};
  self->complete(id, redis_reply::error(redis_errc::unavailable, "redis connection lost: " + why));
}

void redis_client::impl::on_auth_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* c = static_cast<connection*>(privdata);
  c->owner->on_handshake_reply(*c, static_cast<redisReply*>(r), "AUTH");
}

void redis_client::impl::on_select_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* c = static_cast<connection*>(privdata);
  c->owner->on_handshake_reply(*c, static_cast<redisReply*>(r), "SELECT");
}

void redis_client::impl::on_ping_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* c = static_cast<connection*>(privdata);
  c->owner->on_handshake_reply(*c, static_cast<redisReply*>(r), "PING");
}

redis_client::redis_client(redis_endpoint endpoint, redis_options options)
    : impl_(std::make_unique<impl>(std::move(endpoint), std::move(options))) {}

redis_client::~redis_client() = default;

void redis_client::command(std::vector<std::string> args, handler done) {
  impl_->submit(std::move(args), std::move(done));
}

size_t redis_client::connected() const {
  return impl_->connected();
}

}  // namespace sb::persistence
