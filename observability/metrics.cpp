#include "observability/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sb::observability {

namespace {

void atomic_add(std::atomic<double>& target, double by) {
  auto cur = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
  }
}

std::string escape_label(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (char c : x) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Renders {a="x",b="y"}, with `extra` appended (used for histogram "le").
std::string render_labels(const labels& ls, std::string_view extra = {}) {
  if (ls.empty() && extra.empty()) {
    return {};
  }
  std::string out = "{";
  for (const auto& [k, v] : ls) {
    if (out.size() > 1) {
      out += ',';
    }
    out += k;
    out += "=\"";
    out += escape_label(v);
    out += '"';
  }
  if (!extra.empty()) {
    if (out.size() > 1) {
      out += ',';
    }
    out += extra;
  }
  out += '}';
  return out;
}

std::string number(double x) {
  if (std::isinf(x)) {
    return x > 0 ? "+Inf" : "-Inf";
  }
  // Shortest text that reads back as the same double (bucket bounds such as
  // 0.00025 print as written).
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) {
      break;
    }
  }
  return buf;
}

}  // namespace

void counter::inc(double by) {
  atomic_add(value_, by);
}

double counter::value() const {
  return value_.load(std::memory_order_relaxed);
}

void gauge::set(double x) {
  value_.store(x, std::memory_order_relaxed);
}

void gauge::add(double by) {
  atomic_add(value_, by);
}

double gauge::value() const {
  return value_.load(std::memory_order_relaxed);
}

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size()]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i < bounds_.size(); ++i) {
    buckets_[i].store(0);
  }
}

void histogram::observe(double x) {
  // Buckets are stored non-cumulatively and summed when read, so an
  // observation touches one bucket only.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), x);
  if (it != bounds_.end()) {
    buckets_[static_cast<size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, x);
}

uint64_t histogram::bucket(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j < bounds_.size(); ++j) {
    total += buckets_[j].load(std::memory_order_relaxed);
  }
  return total;
}

uint64_t histogram::count() const {
  return count_.load(std::memory_order_relaxed);
}

double histogram::sum() const {
  return sum_.load(std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

struct registry::family {
  std::string name;
  std::string help;
  std::string type;
  std::map<std::string, std::pair<labels, std::unique_ptr<counter>>> counters;
  std::map<std::string, std::pair<labels, std::unique_ptr<gauge>>> gauges;
  std::map<std::string, std::pair<labels, std::unique_ptr<histogram>>> histograms;
  collector collect;
};

registry::family& registry::family_of(const std::string& name, const std::string& help,
                                      const char* type) {
  auto& slot = families_[name];
  if (!slot) {
    slot = std::make_unique<family>();
    slot->name = name;
    slot->help = help;
    slot->type = type;
  }
  return *slot;
}

counter& registry::counter_of(const std::string& name, const std::string& help, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& fam = family_of(name, help, "counter");
  auto& entry = fam.counters[render_labels(ls)];
  if (!entry.second) {
    entry = {ls, std::make_unique<counter>()};
  }
  return *entry.second;
}

gauge& registry::gauge_of(const std::string& name, const std::string& help, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& fam = family_of(name, help, "gauge");
  auto& entry = fam.gauges[render_labels(ls)];
  if (!entry.second) {
    entry = {ls, std::make_unique<gauge>()};
  }
  return *entry.second;
}

histogram& registry::histogram_of(const std::string& name, const std::string& help,
                                  const labels& ls, std::vector<double> bounds) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& fam = family_of(name, help, "histogram");
  auto& entry = fam.histograms[render_labels(ls)];
  if (!entry.second) {
    entry = {ls, std::make_unique<histogram>(std::move(bounds))};
  }
  return *entry.second;
}

void registry::add_collector(const std::string& name, const std::string& help, collector fn) {
  std::lock_guard<std::mutex> guard{mtx_};
  family_of(name, help, "gauge").collect = std::move(fn);
}

std::string registry::render() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::string out;
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + fam->help + "\n";
    out += "# TYPE " + name + " " + fam->type + "\n";
    for (const auto& [key, entry] : fam->counters) {
      out += name + key + " " + number(entry.second->value()) + "\n";
    }
    for (const auto& [key, entry] : fam->gauges) {
      out += name + key + " " + number(entry.second->value()) + "\n";
    }
    for (const auto& [key, entry] : fam->histograms) {
      const auto& h = *entry.second;
      for (size_t i = 0; i < h.bounds().size(); ++i) {
        auto le = "le=\"" + number(h.bounds()[i]) + "\"";
        out += name + "_bucket" + render_labels(entry.first, le) + " " +
               std::to_string(h.bucket(i)) + "\n";
      }
      out += name + "_bucket" + render_labels(entry.first, "le=\"+Inf\"") + " " +
             std::to_string(h.count()) + "\n";
      out += name + "_sum" + key + " " + number(h.sum()) + "\n";
      out += name + "_count" + key + " " + std::to_string(h.count()) + "\n";
    }
    if (fam->collect) {
      for (const auto& s : fam->collect()) {
        out += name + render_labels(s.label_set) + " " + number(s.value) + "\n";
      }
    }
  }
  return out;
}

registry& metrics() {
  static registry instance;
  return instance;
}

}  // namespace sb::observability
