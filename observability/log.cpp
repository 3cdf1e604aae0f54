#include "observability/log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>

namespace sb::observability {

namespace {

constexpr std::array<const char*, 7> layer_names = {
  "app", "gateway", "access", "actors", "persistence", "integrations", "ops",
};

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
  // The writer thread owns stdout; callers only enqueue. When the queue is
  // full the oldest lines are dropped rather than blocking an actor or Asio
  // thread.
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto lvl = spdlog::level::from_str(std::string{level});
  for (size_t i = 0; i < layer_names.size(); ++i) {
    auto lg = std::make_shared<spdlog::async_logger>(layer_names[i], sink,
                                                     spdlog::thread_pool(),
                                                     spdlog::async_overflow_policy::overrun_oldest);
    lg->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%v})",
      spdlog::pattern_time_type::utc));
    lg->set_level(lvl);
    lg->flush_on(spdlog::level::warn);
    loggers[i] = lg;
    spdlog::register_logger(lg);
  }
  spdlog::flush_every(std::chrono::seconds(1));
}

void shutdown_logging() {
  for (auto& lg : loggers) {
    if (lg) {
      lg->flush();
    }
  }
  spdlog::shutdown();
  for (auto& lg : loggers) {
    lg.reset();
  }
}

bool log_enabled(layer l, spdlog::level::level_enum lvl) {
  auto& lg = logger_of(l);
  return lg && lg->should_log(lvl);
}

void write_log(layer l, spdlog::level::level_enum lvl, const log_context& ctx,
               std::string_view msg, std::string_view fields) {
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
  for (unsigned char c : x) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
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
