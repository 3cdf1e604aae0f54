#pragma once

// A small Prometheus registry: counters, gauges and histograms with labels,
// safe to update from any thread, rendered in the text exposition format.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sb::observability {

using labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing value.
class counter {
 public:
  void inc(double by = 1.0);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down.
class gauge {
 public:
  void set(double x);
  void add(double by);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

/// Observations counted into fixed, cumulative buckets.
class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double x);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const;  ///< Cumulative count for bounds()[i].
  uint64_t count() const;
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// Latency buckets in seconds, from 100 µs to 10 s.
std::vector<double> latency_buckets();

/// Owns every metric of the process; handed-out references stay valid.
class registry {
 public:
  /// A sample produced when the registry is rendered.
  struct sample {
    labels label_set;
    double value;
  };
  using collector = std::function<std::vector<sample>()>;

  counter& counter_of(const std::string& name, const std::string& help, const labels& ls = {});
  gauge& gauge_of(const std::string& name, const std::string& help, const labels& ls = {});
  histogram& histogram_of(const std::string& name, const std::string& help, const labels& ls = {},
                          std::vector<double> bounds = latency_buckets());

  /// Registers a gauge family whose samples are computed at scrape time.
  void add_collector(const std::string& name, const std::string& help, collector fn);

  /// Renders all metrics in the Prometheus text format (version 0.0.4).
  std::string render() const;

 private:
  struct family;
  family& family_of(const std::string& name, const std::string& help, const char* type);

  mutable std::mutex mtx_;
  std::map<std::string, std::unique_ptr<family>> families_;
};

/// The process-wide registry.
registry& metrics();

}  // namespace sb::observability
