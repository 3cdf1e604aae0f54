#pragma once

// Structured JSON logging: one named logger per layer, one JSON object per
// line with ts, level, logger, msg and the request context.

#include <fmt/format.h>
#include <spdlog/common.h>

#include <string>
#include <string_view>

namespace sb::observability {

/// The fixed list of loggers; each layer logs through its own.
enum class layer { app, gateway, access, actors, persistence, integrations, ops };

/// Correlation fields attached to a log line; empty fields are left out.
struct log_context {
  std::string_view request_id;
  std::string_view trace_id;
  std::string_view actor;
  std::string_view workspace_id;
};

/// Sets up the loggers: JSON lines on stdout, written by a background thread
/// so that no caller blocks on the terminal or a pipe. `level` is one of
/// trace, debug, info, warn, error, off.
void init_logging(std::string_view level);

/// Flushes and stops the background writer.
void shutdown_logging();

/// Tells whether `lvl` is enabled for `l`; checked before any formatting.
bool log_enabled(layer l, spdlog::level::level_enum lvl);

/// Writes one line. `fields` is either empty or a list of extra JSON members
/// without braces, e.g. R"("route":"/v1/me","status":200)".
void write_log(layer l, spdlog::level::level_enum lvl, const log_context& ctx, std::string_view msg,
               std::string_view fields = {});

/// Escapes `x` as the inside of a JSON string.
std::string json_escape(std::string_view x);

}  // namespace sb::observability

/// Logs a formatted message if the level is on; arguments are not evaluated otherwise.
#define SB_LOG(layer_, level_, ctx_, ...)                                                         \
  do {                                                                                            \
    if (::sb::observability::log_enabled(::sb::observability::layer::layer_,                      \
                                         ::spdlog::level::level_)) {                              \
      ::sb::observability::write_log(::sb::observability::layer::layer_, ::spdlog::level::level_, \
                                     ctx_, ::fmt::format(__VA_ARGS__));                           \
    }                                                                                             \
  } while (false)
