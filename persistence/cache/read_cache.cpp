#include "persistence/cache/read_cache.hpp"

#include "observability/log.hpp"
#include "observability/metrics.hpp"

#include <condition_variable>
#include <cstdlib>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

namespace sb::persistence {
namespace {

using clock_type = std::chrono::steady_clock;

const observability::log_context no_context{};

// L1 generations live in a fixed array indexed by a tag's hash: memory stays
// bounded however many tags there are, and a collision only costs a miss.
constexpr size_t stripe_count = 4096;

size_t stripe_of(const std::string& tag) {
  return std::hash<std::string>{}(tag) % stripe_count;
}

// The stamp of a Redis entry: the epoch and each tag's generation, joined
// with '.'; computed inside the scripts so that check and store are atomic.
// KEYS[1] is the entry, KEYS[2] the epoch, KEYS[3..] the tags.
constexpr const char* stamp_lua =
    "local s = redis.call('GET', KEYS[2]) or '0' "
    "for i = 3, #KEYS do s = s .. '.' .. (redis.call('GET', KEYS[i]) or '0') end ";

// Returns {entry or nil, current stamp}.
const std::string read_script =
    std::string{stamp_lua} + "return {redis.call('GET', KEYS[1]) or false, s}";

// Stores ARGV[2] for ARGV[3] ms only if the stamp is still ARGV[1].
const std::string fill_script = std::string{stamp_lua} +
                                "if s ~= ARGV[1] then return 0 end "
                                "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1";

// Bumps every tag KEYS[2..] (kept ARGV[1] ms, longer than any entry lives)
// and the sequence KEYS[1], then tells the other processes on channel
// ARGV[2]: "<origin ARGV[3]>\n<sequence><ARGV[4]: \n-separated tags>".
const std::string invalidate_script =
    "for i = 2, #KEYS do redis.call('INCR', KEYS[i]) redis.call('PEXPIRE', KEYS[i], ARGV[1]) end "
    "local seq = redis.call('INCR', KEYS[1]) "
    "redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\\n' .. seq .. ARGV[4]) return seq";

// Bumps the epoch KEYS[2], so every entry written before is stale, and tells
// every process to drop its L1 (the tag "*").
const std::string epoch_script =
    "redis.call('INCR', KEYS[2]) local seq = redis.call('INCR', KEYS[1]) "
    "redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\\n' .. seq .. '\\n*') return seq";

// Sends one command and waits for its reply; the client's command timeout
// bounds the wait.
redis_reply call(redis_client& client, std::vector<std::string> args) {
  auto done = std::make_shared<std::promise<redis_reply>>();
  auto reply = done->get_future();
  client.command(std::move(args), [done](redis_reply r) { done->set_value(std::move(r)); });
  return reply.get();
}

std::string random_origin() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> any;
  return std::to_string(any(rd));
}

double unit_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// The L1 generations an entry was read under.
struct l1_stamp {
  uint64_t epoch = 0;
  std::vector<uint64_t> gens;

  bool operator==(const l1_stamp& o) const { return epoch == o.epoch && gens == o.gens; }
  bool operator!=(const l1_stamp& o) const { return !(*this == o); }
};

// Counters of one kind of entry, mirrored into /metrics.
struct kind_metrics {
  explicit kind_metrics(const std::string& kind) {
    auto& reg = observability::metrics();
    observability::labels ls{{"cache", kind}};
    auto level = [&](const char* l) {
      auto with = ls;
      with.emplace_back("level", l);
      return &reg.counter_of("switchboard_cache_hits_total", "Cache hits by cache and level", with);
    };
    l1 = level("l1");
    l2 = level("l2");
    flight = level("coalesced");
    miss = &reg.counter_of("switchboard_cache_misses_total", "Cache misses by cache", ls);
    load = &reg.counter_of("switchboard_cache_loads_total", "Database loads by cache", ls);
    bypass =
        &reg.counter_of("switchboard_cache_bypasses_total",
                        "Reads that skipped a cache level (off, breaker open, channel down)", ls);
    error = &reg.counter_of("switchboard_cache_errors_total", "Failed Redis calls by cache", ls);
    latency = &reg.histogram_of("switchboard_cache_latency_seconds",
                                "Time spent in the cache levels per read, loads excluded", ls);
  }

  std::atomic<uint64_t> n_l1{0}, n_l2{0}, n_flight{0}, n_miss{0}, n_load{0}, n_bypass{0},
      n_error{0};
  observability::counter *l1, *l2, *flight, *miss, *load, *bypass, *error;
  observability::histogram* latency;

  void count(std::atomic<uint64_t>& n, observability::counter* c) {
    ++n;
    c->inc();
  }
};

}  // namespace

class read_cache::impl {
 public:
  impl(cache_options options, std::shared_ptr<redis_client> redis)
      : options_(std::move(options)),
        redis_(std::move(redis)),
        breaker_(options_.breaker_failures, options_.breaker_open),
        origin_(random_origin()),
        channel_(options_.key_prefix + "invalidate"),
        epoch_key_(options_.key_prefix + "epoch"),
        seq_key_(options_.key_prefix + "seq") {
    for (auto& s : stripes_) {
      s = 0;
    }
    breaker_gauge_ = &observability::metrics().gauge_of(
        "switchboard_cache_breaker_open", "1 while the Redis circuit breaker is not closed");
  }

  // Starts listening to other processes' invalidations.
  void listen(const redis_endpoint& endpoint) {
    subscriber_callbacks cb;
    cb.on_message = [this](const std::string& m) { on_message(m); };
    cb.on_subscribed = [this] { on_subscribed(); };
    cb.on_lost = [this] { ++l1_epoch_; };
    subscriber_ =
        std::make_unique<redis_subscriber>(endpoint, channel_, std::move(cb), options_.subscriber);
  }

  ~impl() {
    subscriber_.reset();
    // Every command completes within the client's timeout.
    while (pending_async_.load() != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Peeks still waiting for their barrier fall back to get().
    for (auto& w : waiters_) {
      w.resume(false);
    }
  }

  std::optional<cache_entry> get(const std::string& kind, const std::string& key,
                                 const std::vector<std::string>& tags, const loader& load);
  void peek(const std::string& kind, const std::string& key, const std::vector<std::string>& tags,
            read_cache::peek_handler done);
  void invalidate(const std::vector<std::string>& tags);
  void invalidate_locally(const std::vector<std::string>& tags);
  static void invalidate_async(const std::shared_ptr<impl>& self,
                               const std::vector<std::string>& tags, std::function<void()> done);
  cache_stats stats(const std::string& kind);
  std::string breaker_state() const {
    return redis_ ? to_string(breaker_.current()) : std::string{"none"};
  }
  bool l1_trusted() const {
    return !subscriber_ ||
           (subscriber_->healthy() &&
            clock_type::now() - subscriber_->healthy_since() >= options_.channel_grace);
  }

 private:
  // A load in progress that other readers of the same key may wait for.
  struct flight {
    l1_stamp stamp;
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    std::optional<cache_entry> result;
  };

  struct l1_entry {
    cache_entry value;
    clock_type::time_point expires;
    std::vector<size_t> stripes;
    l1_stamp stamp;
    std::list<std::string>::iterator pos;
  };

  // What the L2 said: a hit, or the stamp to store a loaded value under.
  struct l2_answer {
    std::optional<cache_entry> hit;
    std::optional<std::string> stamp;  ///< Unset: do not store in L2.
  };

  kind_metrics& metrics_of(const std::string& kind);
  l1_stamp capture(const std::vector<size_t>& stripes) const;
  std::optional<cache_entry> l1_find(const std::string& key, const std::vector<size_t>& stripes);
  void l1_store(const std::string& key, const std::vector<size_t>& stripes, const l1_stamp& seen,
                const cache_entry& value);
  l2_answer l2_find(kind_metrics& m, const std::string& key, const std::vector<std::string>& tags);
  void l2_store(kind_metrics& m, const std::string& key, const std::vector<std::string>& tags,
                const std::string& stamp, const cache_entry& value);
  bool l2_allowed(kind_metrics& m);
  void report(bool ok);
  bool recover();
  std::optional<std::vector<std::string>> invalidation_command(
      const std::vector<std::string>& tags);
  void invalidation_done(const redis_reply& r);
  void fence();
  std::vector<std::string> script_args(const std::string& script, const std::string& key,
                                       const std::vector<std::string>& tags) const;
  void on_message(const std::string& message);
  void on_subscribed();
  void heard(uint64_t seq);
  bool l1_synced(kind_metrics& m);
  void send_round(std::unique_lock<std::mutex>& lock);

  // A peek waiting for its barrier: for the sequence read of `round`, then
  // to have heard as far as it said (`target`).
  struct waiter {
    uint64_t round = 0;
    std::optional<uint64_t> target;
    clock_type::time_point deadline;
    std::function<void(bool synced)> resume;
  };
  using resumption = std::vector<std::pair<std::function<void(bool)>, bool>>;
  resumption settle_waiters(std::unique_lock<std::mutex>& lock);
  static void resume_all(resumption& ready);

  const cache_options options_;
  const std::shared_ptr<redis_client> redis_;
  circuit_breaker breaker_;
  const std::string origin_;  // Tells our own invalidation messages apart.
  const std::string channel_;
  const std::string epoch_key_;
  const std::string seq_key_;

  // L1: generations, then the LRU itself.
  std::array<std::atomic<uint64_t>, stripe_count> stripes_;
  std::atomic<uint64_t> l1_epoch_{0};
  std::mutex l1_mtx_;
  std::list<std::string> lru_;  // Most recent first.
  std::unordered_map<std::string, l1_entry> l1_;

  std::mutex flights_mtx_;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights_;

  // Invalidations that could not reach Redis since the last epoch bump.
  std::atomic<uint64_t> dirty_{0};
  std::mutex recover_mtx_;
  // When Redis started failing (steady clock ticks), 0 while it works.
  std::atomic<int64_t> failing_since_{0};

  std::mutex kinds_mtx_;
  std::map<std::string, std::unique_ptr<kind_metrics>> kinds_;

  observability::gauge* breaker_gauge_ = nullptr;
  std::atomic<uint64_t> subscribed_{0};
  // The highest invalidation sequence number applied from the channel.
  std::mutex seq_mtx_;
  std::condition_variable seq_cv_;
  uint64_t heard_seq_ = 0;
  // Shared sequence reads (see l1_synced()), guarded by seq_mtx_.
  uint64_t sent_round_ = 0;
  uint64_t wanted_round_ = 0;
  uint64_t done_round_ = 0;
  bool round_in_flight_ = false;
  bool round_ok_ = false;
  uint64_t round_seq_ = 0;
  std::vector<waiter> waiters_;
  // Replies still to come that use this object.
  std::atomic<int> pending_async_{0};
  std::unique_ptr<redis_subscriber> subscriber_;  // Last: its thread uses the members above.
};

kind_metrics& read_cache::impl::metrics_of(const std::string& kind) {
  std::lock_guard<std::mutex> lock(kinds_mtx_);
  auto& slot = kinds_[kind];
  if (!slot) {
    slot = std::make_unique<kind_metrics>(kind);
  }
  return *slot;
}

l1_stamp read_cache::impl::capture(const std::vector<size_t>& stripes) const {
  l1_stamp s;
  s.epoch = l1_epoch_.load();
  s.gens.reserve(stripes.size());
  for (auto i : stripes) {
    s.gens.push_back(stripes_[i].load());
  }
  return s;
}

std::optional<cache_entry> read_cache::impl::get(const std::string& kind, const std::string& key,
                                                 const std::vector<std::string>& tags,
                                                 const loader& load) {
  auto& m = metrics_of(kind);
  auto started = clock_type::now();
  auto run_loader = [&]() {
    m.count(m.n_load, m.load);
    auto before = clock_type::now();
    auto out = load();
    started += clock_type::now() - before;  // Loads are not the cache's latency.
    return out;
  };
  auto to_entry = [](cache_load& l) {
    return cache_entry{l.what == cache_load::kind::value, std::move(l.data)};
  };
  auto observe = [&] {
    m.latency->observe(std::chrono::duration<double>(clock_type::now() - started).count());
  };
  if (!options_.enabled) {
    m.count(m.n_bypass, m.bypass);
    auto l = run_loader();
    return l.what == cache_load::kind::failed ? std::nullopt : std::optional{to_entry(l)};
  }

  // 1. The generations before anything is read: whatever is loaded from now
  // on may be stored under them, and is refused if a write bumps them.
  std::vector<std::string> all_tags{key};
  all_tags.insert(all_tags.end(), tags.begin(), tags.end());
  std::vector<size_t> stripes;
  for (const auto& t : all_tags) {
    stripes.push_back(stripe_of(t));
  }
  auto stamp = capture(stripes);

  // 2. Without the invalidation channel other processes' writes go unheard:
  // neither level can be trusted, so the database answers (and nothing is
  // stored) until the channel is back.
  if (!l1_trusted()) {
    m.count(m.n_bypass, m.bypass);
    auto l = run_loader();
    observe();
    return l.what == cache_load::kind::failed ? std::nullopt : std::optional{to_entry(l)};
  }
  bool synced = !redis_ || l1_synced(m);
  if (!synced) {
    m.count(m.n_bypass, m.bypass);
  } else if (auto hit = l1_find(key, stripes)) {
    m.count(m.n_l1, m.l1);
    observe();
    return hit;
  }

  // 3. Join a load of the same key under the same generations, or lead one.
  std::shared_ptr<flight> f;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(flights_mtx_);
    auto& slot = flights_[key];
    if (slot && slot->stamp == stamp) {
      f = slot;
    } else {
      slot = f = std::make_shared<flight>();
      f->stamp = stamp;
      leader = true;
    }
  }
  if (!leader) {
    std::unique_lock<std::mutex> lock(f->mtx);
    f->cv.wait_for(lock, options_.flight_wait, [&] { return f->done; });
    if (f->done && f->result) {
      m.count(m.n_flight, m.flight);
      observe();
      return f->result;
    }
    // The leader failed or is stuck: this reader loads for itself.
    lock.unlock();
    auto l = run_loader();
    observe();
    return l.what == cache_load::kind::failed ? std::nullopt : std::optional{to_entry(l)};
  }
  auto finish = [&](std::optional<cache_entry> result) {
    {
      std::lock_guard<std::mutex> lock(f->mtx);
      f->result = result;
      f->done = true;
    }
    f->cv.notify_all();
    std::lock_guard<std::mutex> lock(flights_mtx_);
    if (auto i = flights_.find(key); i != flights_.end() && i->second == f) {
      flights_.erase(i);
    }
    return result;
  };

  // 4. The L2.
  auto l2 = l2_find(m, key, all_tags);
  if (l2.hit) {
    m.count(m.n_l2, m.l2);
    l1_store(key, stripes, stamp, *l2.hit);
    observe();
    return finish(std::move(l2.hit));
  }

  // 5. The database, then both levels under the generations seen before.
  m.count(m.n_miss, m.miss);
  auto l = run_loader();
  if (l.what == cache_load::kind::failed) {
    observe();
    return finish(std::nullopt);
  }
  auto value = to_entry(l);
  l1_store(key, stripes, stamp, value);
  if (l2.stamp) {
    l2_store(m, key, all_tags, *l2.stamp, value);
  }
  observe();
  return finish(std::move(value));
}

std::optional<cache_entry> read_cache::impl::l1_find(const std::string& key,
                                                     const std::vector<size_t>& stripes) {
  // Valid if no tag moved since it was stored, whenever this read began.
  auto now_stamp = capture(stripes);
  std::lock_guard<std::mutex> lock(l1_mtx_);
  auto i = l1_.find(key);
  if (i == l1_.end()) {
    return std::nullopt;
  }
  auto& e = i->second;
  if (clock_type::now() >= e.expires || e.stripes != stripes || e.stamp != now_stamp) {
    lru_.erase(e.pos);
    l1_.erase(i);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, e.pos);
  return e.value;
}

void read_cache::impl::l1_store(const std::string& key, const std::vector<size_t>& stripes,
                                const l1_stamp& seen, const cache_entry& value) {
  // A write since the read began: the value may predate it.
  if (capture(stripes) != seen || options_.l1_capacity == 0) {
    return;
  }
  auto ttl = value.present ? options_.l1_ttl : std::min(options_.l1_ttl, options_.negative_ttl);
  std::lock_guard<std::mutex> lock(l1_mtx_);
  auto i = l1_.find(key);
  if (i == l1_.end()) {
    lru_.push_front(key);
    i = l1_.emplace(key, l1_entry{}).first;
    i->second.pos = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, i->second.pos);
  }
  auto& e = i->second;
  e.value = value;
  e.expires = clock_type::now() + ttl;
  e.stripes = stripes;
  e.stamp = seen;
  while (l1_.size() > options_.l1_capacity) {
    l1_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::vector<std::string> read_cache::impl::script_args(const std::string& script,
                                                       const std::string& key,
                                                       const std::vector<std::string>& tags) const {
  std::vector<std::string> args{"EVAL", script, std::to_string(tags.size() + 2),
                                options_.key_prefix + "e:" + key, epoch_key_};
  for (const auto& t : tags) {
    args.push_back(options_.key_prefix + "g:" + t);
  }
  return args;
}

void read_cache::impl::report(bool ok) {
  if (ok) {
    breaker_.success();
    failing_since_ = 0;
  } else {
    breaker_.failure();
    int64_t none = 0;
    failing_since_.compare_exchange_strong(none, clock_type::now().time_since_epoch().count());
  }
  breaker_gauge_->set(breaker_.current() == circuit_breaker::state::closed ? 0.0 : 1.0);
}

bool read_cache::impl::l2_allowed(kind_metrics& m) {
  if (!redis_) {
    return false;
  }
  if ((dirty_.load() != 0 && !recover()) || !breaker_.allow()) {
    m.count(m.n_bypass, m.bypass);
    return false;
  }
  return true;
}

read_cache::impl::l2_answer read_cache::impl::l2_find(kind_metrics& m, const std::string& key,
                                                      const std::vector<std::string>& tags) {
  if (!l2_allowed(m)) {
    return {};
  }
  auto r = call(*redis_, script_args(read_script, key, tags));
  if (r.is_error() || r.elements().size() != 2) {
    report(false);
    m.count(m.n_error, m.error);
    SB_LOG(persistence, debug, no_context, "cache read failed key={} error={}", key, r.describe());
    return {};
  }
  report(true);

  // The entry is "<stamp>\n<1|0><data>"; it counts only under today's stamp.
  const auto& stamp = r.elements()[1].text();
  const auto& stored = r.elements()[0];
  if (stored.type() != redis_reply::kind::string) {
    return {std::nullopt, stamp};
  }
  const auto& text = stored.text();
  auto nl = text.find('\n');
  if (nl == std::string::npos || nl + 1 >= text.size() || text.compare(0, nl, stamp) != 0) {
    return {std::nullopt, stamp};
  }
  return {cache_entry{text[nl + 1] == '1', text.substr(nl + 2)}, stamp};
}

void read_cache::impl::l2_store(kind_metrics& m, const std::string& key,
                                const std::vector<std::string>& tags, const std::string& stamp,
                                const cache_entry& value) {
  if (!breaker_.allow()) {
    m.count(m.n_bypass, m.bypass);
    return;
  }
  // Jitter spreads the expiry of entries filled together (after a deploy).
  auto ttl = value.present ? options_.l2_ttl : options_.negative_ttl;
  auto spread = options_.l2_jitter * (2.0 * unit_random() - 1.0);
  auto ms =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(ttl.count()) * (1.0 + spread)));
  auto args = script_args(fill_script, key, tags);
  args.push_back(stamp);
  args.push_back(stamp + "\n" + (value.present ? "1" : "0") + value.data);
  args.push_back(std::to_string(ms));
  auto r = call(*redis_, std::move(args));
  if (r.is_error()) {
    report(false);
    m.count(m.n_error, m.error);
    return;
  }
  report(true);
}

void read_cache::impl::invalidate_locally(const std::vector<std::string>& tags) {
  for (const auto& t : tags) {
    ++stripes_[stripe_of(t)];
  }
}

std::optional<std::vector<std::string>> read_cache::impl::invalidation_command(
    const std::vector<std::string>& tags) {
  if (!redis_ || tags.empty() || !options_.enabled) {
    return std::nullopt;
  }
  // Sent even while the breaker is open: another process whose channel is
  // up trusts its first level and must hear of this write. A failure marks
  // the L2 dirty (see recover()) and fences the answer (see fence()).
  std::string tail;
  std::vector<std::string> args{"EVAL", invalidate_script, std::to_string(tags.size() + 1),
                                seq_key_};
  for (const auto& t : tags) {
    args.push_back(options_.key_prefix + "g:" + t);
    tail += "\n" + t;
  }
  // Tags outlive every entry that depends on them: a tag that expired and
  // restarted at 0 could otherwise match an old entry's stamp.
  auto keep = std::max<std::chrono::milliseconds>(std::chrono::hours(24), options_.l2_ttl * 4);
  args.push_back(std::to_string(keep.count()));
  args.push_back(channel_);
  args.push_back(origin_);
  args.push_back(tail);
  return args;
}

void read_cache::impl::invalidation_done(const redis_reply& r) {
  if (r.is_error()) {
    ++dirty_;
    report(false);
    auto& m = metrics_of("invalidations");
    m.count(m.n_error, m.error);
    SB_LOG(persistence, debug, no_context, "cache invalidation failed error={}", r.describe());
    return;
  }
  report(true);
}

void read_cache::impl::invalidate(const std::vector<std::string>& tags) {
  // Here at once, then in Redis and in the other processes' L1s.
  invalidate_locally(tags);
  auto args = invalidation_command(tags);
  if (!args) {
    if (redis_ && options_.enabled && dirty_.load() != 0) {
      fence();
    }
    return;
  }
  // While the channel is up Redis is reachable, and this process's own
  // connection is only catching up (a reconnect): retry for a while rather
  // than leave other processes unaware.
  auto r = call(*redis_, *args);
  auto give_up = clock_type::now() + std::chrono::milliseconds(600);
  while (r.is_error() && subscriber_ && subscriber_->healthy() && clock_type::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r = call(*redis_, *args);
  }
  invalidation_done(r);
  if (dirty_.load() != 0 && !recover()) {
    fence();
  }
}

void read_cache::impl::fence() {
  // The other processes did not hear of this write. Each one stops trusting
  // its caches once its channel misses a ping, at most ping_interval +
  // ping_timeout after Redis stopped answering; the write is answered only
  // after that, so that no process can serve the old value to a reader who
  // saw the answer. Only the first writes of an outage wait.
  // TODO: a partial outage (this process cannot reach Redis while the others
  // can and trust their caches) is not covered: their entries stay stale for
  // up to the L1 TTL, and the L2 until this process bumps the epoch.
  auto since = failing_since_.load();
  if (since == 0) {
    since = clock_type::now().time_since_epoch().count();
  }
  auto margin = std::chrono::milliseconds(50);
  auto until = clock_type::time_point{clock_type::duration{since}} +
               options_.subscriber.ping_interval + options_.subscriber.ping_timeout + margin;
  if (until > clock_type::now()) {
    std::this_thread::sleep_until(until);
  }
}

void read_cache::impl::invalidate_async(const std::shared_ptr<impl>& self,
                                        const std::vector<std::string>& tags,
                                        std::function<void()> done) {
  self->invalidate_locally(tags);
  auto args = self->invalidation_command(tags);
  if (!args) {
    done();
    return;
  }
  self->redis_->command(std::move(*args), [self, done = std::move(done)](redis_reply r) {
    self->invalidation_done(r);
    done();
  });
}

bool read_cache::impl::recover() {
  // One recovery at a time; the others bypass the L2 meanwhile.
  std::unique_lock<std::mutex> lock(recover_mtx_, std::try_to_lock);
  if (!lock.owns_lock()) {
    return false;
  }
  auto seen = dirty_.load();
  if (seen == 0) {
    return true;
  }
  if (!breaker_.allow()) {
    return false;
  }
  auto r = call(*redis_, {"EVAL", epoch_script, "2", seq_key_, epoch_key_, channel_, origin_});
  if (r.is_error()) {
    report(false);
    return false;
  }
  report(true);
  // A failure that came in meanwhile keeps us dirty for another round.
  dirty_.compare_exchange_strong(seen, 0);
  SB_LOG(persistence, info, no_context, "cache epoch bumped after {} lost invalidations", seen);
  return dirty_.load() == 0;
}

void read_cache::impl::on_message(const std::string& message) {
  // "<origin>\n<sequence>\n<tag>\n<tag>...": our own tags were applied
  // locally already, but every sequence number counts (see l1_synced()).
  auto nl = message.find('\n');
  if (nl == std::string::npos) {
    return;
  }
  bool ours = message.compare(0, nl, origin_) == 0;
  auto nl2 = message.find('\n', nl + 1);
  auto seq = std::strtoull(message.c_str() + nl + 1, nullptr, 10);
  size_t start = nl2 == std::string::npos ? message.size() + 1 : nl2 + 1;
  while (!ours && start <= message.size()) {
    auto end = message.find('\n', start);
    if (end == std::string::npos) {
      end = message.size();
    }
    auto tag = message.substr(start, end - start);
    if (tag == "*") {
      ++l1_epoch_;
    } else if (!tag.empty()) {
      ++stripes_[stripe_of(tag)];
    }
    start = end + 1;
  }
  heard(seq);
}

void read_cache::impl::heard(uint64_t seq) {
  resumption ready;
  {
    std::unique_lock<std::mutex> lock(seq_mtx_);
    if (seq <= heard_seq_) {
      return;
    }
    heard_seq_ = seq;
    ready = settle_waiters(lock);
    if (wanted_round_ > sent_round_ && !round_in_flight_) {
      send_round(lock);
    }
  }
  seq_cv_.notify_all();
  resume_all(ready);
}

void read_cache::impl::peek(const std::string& kind, const std::string& key,
                            const std::vector<std::string>& tags, read_cache::peek_handler done) {
  if (!options_.enabled || !l1_trusted()) {
    return done(std::nullopt);
  }
  std::vector<size_t> stripes{stripe_of(key)};
  for (const auto& t : tags) {
    stripes.push_back(stripe_of(t));
  }
  auto& m = metrics_of(kind);
  auto started = clock_type::now();
  auto look = [this, &m, key, stripes, started, done = std::move(done)](bool synced) {
    auto hit = synced ? l1_find(key, stripes) : std::nullopt;
    if (hit) {
      m.count(m.n_l1, m.l1);
      m.latency->observe(std::chrono::duration<double>(clock_type::now() - started).count());
    }
    done(std::move(hit));
  };
  if (!redis_) {
    return look(true);
  }
  if (!breaker_.allow()) {
    return look(false);
  }

  // The barrier of l1_synced(), without waiting: the read of the next round
  // settles this peek.
  std::unique_lock<std::mutex> lock(seq_mtx_);
  auto round = sent_round_ + 1;
  wanted_round_ = std::max(wanted_round_, round);
  waiters_.push_back({round, std::nullopt, started + std::chrono::milliseconds(250), look});
  if (!round_in_flight_) {
    send_round(lock);
  }
}

read_cache::impl::resumption read_cache::impl::settle_waiters(std::unique_lock<std::mutex>&) {
  // Called with seq_mtx_ held. A waiter whose round was read learns its
  // target; one that has heard its target is synced; one past its deadline,
  // or whose round failed, is not.
  resumption ready;
  auto now = clock_type::now();
  auto keep = waiters_.begin();
  for (auto& w : waiters_) {
    if (!w.target && w.round <= done_round_) {
      if (!round_ok_) {
        ready.emplace_back(std::move(w.resume), false);
        continue;
      }
      w.target = round_seq_;
    }
    if (w.target && heard_seq_ >= *w.target) {
      ready.emplace_back(std::move(w.resume), true);
    } else if (now >= w.deadline) {
      ready.emplace_back(std::move(w.resume), false);
    } else {
      *keep++ = std::move(w);
    }
  }
  waiters_.erase(keep, waiters_.end());
  // Waiters that only wait to hear are settled by heard(); another round
  // also settles them when the channel lags, and enforces their deadlines.
  if (!waiters_.empty() && !round_in_flight_) {
    wanted_round_ = std::max(wanted_round_, sent_round_ + 1);
  }
  return ready;
}

void read_cache::impl::resume_all(resumption& ready) {
  for (auto& [resume, synced] : ready) {
    resume(synced);
  }
}

void read_cache::impl::on_subscribed() {
  // Messages may have been missed while away: drop the L1, and after a
  // reconnect also treat the L2 as suspect (a restarted server may have
  // loaded entries from disk that later writes never invalidated). The
  // sequence starts over from what Redis holds now (0 after a restart).
  ++l1_epoch_;
  if (++subscribed_ > 1) {
    ++dirty_;
  }
  {
    std::lock_guard<std::mutex> lock(seq_mtx_);
    heard_seq_ = 0;
  }
  ++pending_async_;
  redis_->command({"GET", seq_key_}, [this](redis_reply r) {
    if (r.type() == redis_reply::kind::string) {
      heard(std::strtoull(r.text().c_str(), nullptr, 10));
    }
    --pending_async_;
  });
}

bool read_cache::impl::l1_synced(kind_metrics& m) {
  // Every invalidation published before this read began must have been
  // applied here, or a reader could see a value that a write answered
  // moments ago on another process has replaced. So the reader needs the
  // sequence number from a GET sent after it arrived, and then to have heard
  // that far. Readers share GETs: one is in flight at a time, and it serves
  // everyone who arrived before it was sent.
  if (!breaker_.allow()) {
    return false;
  }
  std::unique_lock<std::mutex> lock(seq_mtx_);
  auto round = sent_round_ + 1;
  wanted_round_ = std::max(wanted_round_, round);
  if (!round_in_flight_) {
    send_round(lock);
  }
  auto deadline = clock_type::now() + std::chrono::milliseconds(250);
  if (!seq_cv_.wait_until(lock, deadline, [&] { return done_round_ >= round; })) {
    return false;
  }
  if (!round_ok_) {
    m.count(m.n_error, m.error);
    return false;
  }
  auto target = round_seq_;
  return seq_cv_.wait_until(lock, deadline, [&] { return heard_seq_ >= target; });
}

void read_cache::impl::send_round(std::unique_lock<std::mutex>&) {
  // Called with seq_mtx_ held; the reply may come on another thread at once,
  // and it takes the lock itself.
  round_in_flight_ = true;
  auto round = ++sent_round_;
  ++pending_async_;
  redis_->command({"GET", seq_key_}, [this, round](redis_reply r) {
    report(!r.is_error());
    resumption ready;
    {
      std::unique_lock<std::mutex> lock(seq_mtx_);
      round_in_flight_ = false;
      done_round_ = round;
      round_ok_ = !r.is_error();
      round_seq_ =
          r.type() == redis_reply::kind::string ? std::strtoull(r.text().c_str(), nullptr, 10) : 0;
      ready = settle_waiters(lock);
      if (wanted_round_ > round) {
        send_round(lock);
      }
    }
    seq_cv_.notify_all();
    resume_all(ready);
    --pending_async_;
  });
}

cache_stats read_cache::impl::stats(const std::string& kind) {
  auto& m = metrics_of(kind);
  return {m.n_l1.load(),   m.n_l2.load(),     m.n_flight.load(), m.n_miss.load(),
          m.n_load.load(), m.n_bypass.load(), m.n_error.load()};
}

read_cache::read_cache(cache_options options)
    : impl_(std::make_shared<impl>(options, nullptr)), options_(std::move(options)) {}

read_cache::read_cache(cache_options options, std::shared_ptr<redis_client> redis,
                       redis_endpoint endpoint)
    : impl_(std::make_shared<impl>(options, std::move(redis))), options_(std::move(options)) {
  if (options_.enabled) {
    impl_->listen(endpoint);
  }
}

read_cache::~read_cache() = default;

std::optional<cache_entry> read_cache::get(const std::string& kind, const std::string& key,
                                           const std::vector<std::string>& tags,
                                           const loader& load) {
  return impl_->get(kind, key, tags, load);
}

void read_cache::peek(const std::string& kind, const std::string& key,
                      const std::vector<std::string>& tags, peek_handler done) {
  impl_->peek(kind, key, tags, std::move(done));
}

void read_cache::invalidate(const std::vector<std::string>& tags) {
  impl_->invalidate(tags);
}

void read_cache::invalidate_locally(const std::vector<std::string>& tags) {
  impl_->invalidate_locally(tags);
}

void read_cache::invalidate_async(const std::vector<std::string>& tags,
                                  std::function<void()> done) {
  impl::invalidate_async(impl_, tags, std::move(done));
}

cache_stats read_cache::stats(const std::string& kind) const {
  return impl_->stats(kind);
}

std::string read_cache::breaker_state() const {
  return impl_->breaker_state();
}

bool read_cache::l1_trusted() const {
  return impl_->l1_trusted();
}

}  // namespace sb::persistence
