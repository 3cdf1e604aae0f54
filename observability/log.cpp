#include "observability/log.hpp"

#include "observability/metrics.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace sb::observability {

namespace {

constexpr std::array<const char*, 7> layer_names = {
    "app", "gateway", "access", "actors", "persistence", "integrations", "ops",
};

// Formats lines on the caller's thread into a memory buffer; a writer thread
// moves the buffer to stdout every few milliseconds with one write(2). The
// caller never waits on the terminal or a pipe, and there is no wake-up per
// line (an spdlog async logger signals its worker for every message, which
// cost a quarter of the request rate in the benchmark). When stdout cannot
// keep up and the buffer is full, lines are dropped and counted.
class buffered_stdout_sink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  buffered_stdout_sink() : writer_([this] { run(); }) {}

  ~buffered_stdout_sink() override {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stop_ = true;
    }
    wake_.notify_one();
    writer_.join();
  }

  /// Lines lost because the buffer was full.
  uint64_t dropped() const { return dropped_.load(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (pending_.size() >= max_buffer) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    pending_.append(formatted.data(), formatted.size());
    if (msg.level >= spdlog::level::warn) {
      wake_.notify_one();
    }
  }

  void flush_() override { wake_.notify_one(); }

 private:
  static constexpr size_t max_buffer = 8 * 1024 * 1024;

  void run() {
    std::string out;
    std::unique_lock<std::mutex> lock{mutex_};
    for (;;) {
      wake_.wait_for(lock, std::chrono::milliseconds(20));
      out.clear();
      out.swap(pending_);
      bool stopping = stop_;
      lock.unlock();
      write_all(out);
      lock.lock();
      if (stopping && pending_.empty()) {
        return;
      }
    }
  }

  static void write_all(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      auto n = ::write(STDOUT_FILENO, data.data() + done, data.size() - done);
      if (n <= 0) {
        return;  // stdout is gone; nothing sensible is left to do.
      }
      done += static_cast<size_t>(n);
    }
  }

  std::string pending_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::thread writer_;
};

std::shared_ptr<buffered_stdout_sink> stdout_sink;

// Indexed by layer; filled once by init_logging and read-only afterwards.
std::array<std::shared_ptr<spdlog::logger>, layer_names.size()> loggers;

std::shared_ptr<spdlog::logger>& logger_of(layer l) {
  return loggers[static_cast<size_t>(l)];
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) {
    return;
  }
  out += ",\"";
  out += key;
  out += "\":\"";
  out += json_escape(value);
  out += '"';
}

}  // namespace

void init_logging(std::string_view level) {
  stdout_sink = std::make_shared<buffered_stdout_sink>();
  stdout_sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%v})",
      spdlog::pattern_time_type::utc));
  metrics().add_collector("switchboard_log_dropped_lines",
                          "Log lines dropped because stdout could not keep up", [] {
                            auto sink = stdout_sink;
                            double n = sink ? static_cast<double>(sink->dropped()) : 0.0;
                            return std::vector<registry::sample>{{{}, n}};
                          });
  auto lvl = spdlog::level::from_str(std::string{level});
  for (size_t i = 0; i < layer_names.size(); ++i) {
    auto lg = std::make_shared<spdlog::logger>(layer_names[i], stdout_sink);
    lg->set_level(lvl);
    loggers[i] = lg;
    spdlog::register_logger(lg);
  }
}

void shutdown_logging() {
  for (auto& lg : loggers) {
    lg.reset();
  }
  spdlog::drop_all();
  // Joins the writer after it has written everything still buffered.
  stdout_sink.reset();
}

bool log_enabled(layer l, spdlog::level::level_enum lvl) {
  auto& lg = logger_of(l);
  return lg && lg->should_log(lvl);
}

void write_log(layer l, spdlog::level::level_enum lvl, const log_context& ctx, std::string_view msg,
               std::string_view fields) {
  auto& lg = logger_of(l);
  if (!lg) {
    return;
  }
  std::string line;
  line.reserve(64 + msg.size() + fields.size());
  line += "\"msg\":\"";
  line += json_escape(msg);
  line += '"';
  append_field(line, "request_id", ctx.request_id);
  append_field(line, "trace_id", ctx.trace_id);
  append_field(line, "actor", ctx.actor);
  append_field(line, "workspace_id", ctx.workspace_id);
  if (!fields.empty()) {
    line += ',';
    line += fields;
  }
  lg->log(lvl, std::string_view{line});
}

std::string json_escape(std::string_view x) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(x.size() + 8);
  for (size_t i = 0; i < x.size(); ++i) {
    auto c = static_cast<unsigned char>(x[i]);
    if (c >= 0x80) {
      // Copy a well-formed UTF-8 sequence; anything else becomes U+FFFD, so
      // the output is valid JSON whatever bytes a client sent.
      size_t n = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 0;
      bool ok = n > 0 && i + n < x.size();
      for (size_t k = 1; ok && k <= n; ++k) {
        ok = (static_cast<unsigned char>(x[i + k]) >> 6) == 0x2;
      }
      if (ok) {
        out.append(x.data() + i, n + 1);
        i += n;
      } else {
        out += "\\ufffd";
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

}  // namespace sb::observability
