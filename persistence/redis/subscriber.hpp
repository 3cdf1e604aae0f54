#pragma once

// A Redis pub/sub subscriber: one connection on a thread of its own that
// listens to one channel, pings it to notice a frozen server, and reconnects
// with backoff. The read cache uses it to hear other processes' invalidations.
//
// Callbacks run on the subscriber's thread; they must be quick and must not
// destroy the subscriber.

#include "persistence/redis/url.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sb::persistence {

/// Settings of a subscriber.
struct subscriber_options {
  std::chrono::milliseconds connect_timeout{1000};  ///< Connect, AUTH and SUBSCRIBE together.
  std::chrono::milliseconds ping_interval{100};     ///< A PING after this much silence.
  std::chrono::milliseconds ping_timeout{300};      ///< No answer within this: reconnect.
  std::chrono::milliseconds backoff_initial{50};    ///< First reconnect delay (before jitter).
  std::chrono::milliseconds backoff_max{2000};      ///< Longest reconnect delay.
};

/// What a subscriber reports, each from its own thread.
struct subscriber_callbacks {
  /// A message published on the channel.
  std::function<void(const std::string& payload)> on_message;
  /// Subscribed (again): messages published while away were missed.
  std::function<void()> on_subscribed;
  /// The subscription was lost, or the server stopped answering pings.
  std::function<void()> on_lost;
};

/// Listens to one channel of one Redis server until destroyed.
class redis_subscriber {
 public:
  /// Starts the thread and begins connecting; never blocks on the network.
  redis_subscriber(redis_endpoint endpoint, std::string channel, subscriber_callbacks callbacks,
                   subscriber_options options = {});

  /// Stops the thread (within about one ping interval) and closes the connection.
  ~redis_subscriber();

  redis_subscriber(const redis_subscriber&) = delete;
  redis_subscriber& operator=(const redis_subscriber&) = delete;

  /// Tells whether the subscription is up and the server answered the last ping in time.
  bool healthy() const { return healthy_.load(); }

  /// When the current subscription was established (steady clock); meaningful while healthy().
  std::chrono::steady_clock::time_point healthy_since() const {
    return std::chrono::steady_clock::time_point{
        std::chrono::steady_clock::duration{healthy_since_.load()}};
  }

  /// How many times the subscription was (re)established.
  uint64_t subscriptions() const { return subscriptions_.load(); }

 private:
  void run();
  bool listen_once();

  const redis_endpoint endpoint_;
  const std::string channel_;
  const subscriber_callbacks callbacks_;
  const subscriber_options options_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<int64_t> healthy_since_{0};
  std::atomic<uint64_t> subscriptions_{0};
  struct wake;
  std::unique_ptr<wake> wake_;
};

}  // namespace sb::persistence
