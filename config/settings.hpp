#pragma once

// Switchboard's settings: defaults, overridden by a JSON file (--config),
// overridden by SWITCHBOARD_* environment variables, overridden by flags.
// Every value is checked; a bad one stops start-up with one line naming it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sb::config {

/// How much work a password hash costs (libsodium argon2id presets).
enum class hash_cost { interactive, moderate, minimum };

/// Everything the process can be configured with.
struct settings {
  // Listener.
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8080;
  size_t http_threads = 1;

  // Backends.
  std::string database = "Driver=SQLite3;Database=var/switchboard.db";
  size_t database_pool = 4;
  std::string redis;      ///< Empty: run without Redis.
  std::string ops_token;  ///< Empty: the /ops endpoints refuse everyone.

  // Actors.
  size_t actor_threads = 2;
  std::chrono::milliseconds session_idle{10 * 60 * 1000};  ///< Passivate after this.
  std::chrono::hours session_lifetime{24 * 30};            ///< Tokens expire after this.
  hash_cost password_hash = hash_cost::interactive;
  bool debug_routes = false;  ///< Enables POST /v1/debug/crash and debug job kinds (tests).
  std::chrono::milliseconds job_lease{30000};  ///< A job's lease, renewed while it runs.
  size_t job_concurrency = 4;                  ///< Jobs this process runs at once.
  std::chrono::hours job_retention{24 * 7};    ///< Finished jobs are deleted after this.

  // Protocol limits.
  size_t body_limit = 1024 * 1024;
  size_t large_body_limit = 16 * 1024 * 1024;  ///< Routes that take batches.
  size_t upload_limit = 100 * 1024 * 1024;     ///< Streamed uploads (a CSV import).
  size_t header_limit = 16 * 1024;
  size_t url_limit = 8 * 1024;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds handler_timeout{30000};
  size_t ws_queue_limit = 256;
  std::chrono::milliseconds ws_ping_interval{20000};

  // Logging.
  std::string log_level = "info";

  // Read cache and rate limits (0 turns a limit off).
  bool cache = true;                                   ///< Cache hot reads (L1, and Redis if set).
  size_t cache_l1_size = 10000;                        ///< Entries in the in-process level.
  std::chrono::milliseconds cache_l1_ttl{2000};        ///< In-process lifetime.
  std::chrono::milliseconds cache_l2_ttl{60000};       ///< Redis lifetime (before jitter).
  std::chrono::milliseconds cache_negative_ttl{1000};  ///< Lifetime of a cached 404.

  std::chrono::milliseconds rate_window{60000};  ///< Length of a rate-limit window.
  size_t rate_limit_user = 0;                    ///< Requests per window and bearer token.
  size_t rate_limit_address = 0;                 ///< Requests per window and client address.
  size_t rate_limit_auth = 20;  ///< Failed logins and signups per window and client address.
};

/// The outcome of loading: settings, a help request, or one error line.
struct load_result {
  std::optional<settings> value;
  bool help = false;
  std::string error;  ///< "SWITCHBOARD_LISTEN: expected host:port, got 'x'"
};

/// Loads settings from `args` (argv without the program name) and `env`
/// (lookup function, so tests can inject one).
load_result load(const std::vector<std::string>& args,
                 const std::function<const char*(const char*)>& env);

/// The --help text, listing every option with its variable and default.
std::string help_text();

/// Names a hash cost ("interactive", ...).
const char* to_string(hash_cost x);

}  // namespace sb::config
