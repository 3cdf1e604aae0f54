#include "config/settings.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <fstream>
#include <sstream>

namespace sb::config {

namespace {

// Parses `text` into the settings; returns an error fragment ("expected ...")
// or an empty string.
using setter = std::string (*)(settings&, const std::string&);

/// One configurable value: its JSON key, flag, environment variable and help.
struct option {
  const char* key;  ///< JSON key; the flag is "--" + key with '_' as '-'.
  const char* env;
  const char* help;
  setter apply;
  std::string (*show)(const settings&);  ///< Renders the default for --help.
};

std::optional<uint64_t> parse_uint(const std::string& text) {
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return out;
}

std::string set_count(size_t& target, const std::string& text, uint64_t lo, uint64_t hi) {
  auto x = parse_uint(text);
  if (!x || *x < lo || *x > hi) {
    return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  }
  target = static_cast<size_t>(*x);
  return {};
}

std::string set_ms(std::chrono::milliseconds& target, const std::string& text, uint64_t lo,
                   uint64_t hi) {
  size_t n = 0;
  if (auto err = set_count(n, text, lo, hi); !err.empty()) {
    return err;
  }
  target = std::chrono::milliseconds{n};
  return {};
}

std::string set_listen(settings& s, const std::string& text) {
  // host:port, or [v6]:port.
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return "expected host:port";
  }
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port = parse_uint(text.substr(colon + 1));
  if (!port || *port > 65535) {
    return "expected host:port with a port from 0 to 65535";
  }
  s.listen_address = host;
  s.listen_port = static_cast<uint16_t>(*port);
  return {};
}

std::string set_database(settings& s, const std::string& text) {
  auto has = [&](const char* k) {
    auto lower = text;
    for (auto& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return lower.find(k) != std::string::npos;
  };
  if (!has("driver=") && !has("dsn=")) {
    return "expected an ODBC connection string with Driver= or DSN=";
  }
  s.database = text;
  return {};
}

std::string set_redis(settings& s, const std::string& text) {
  if (!text.empty() && text.rfind("redis://", 0) != 0 && text.rfind("unix://", 0) != 0) {
    return "expected redis://[:password@]host:port/db or unix:///path";
  }
  s.redis = text;
  return {};
}

std::string set_ops_token(settings& s, const std::string& text) {
  if (!text.empty() && text.size() < 16) {
    return "expected at least 16 characters";
  }
  s.ops_token = text;
  return {};
}

std::string set_hash(settings& s, const std::string& text) {
  if (text == "interactive") {
    s.password_hash = hash_cost::interactive;
  } else if (text == "moderate") {
    s.password_hash = hash_cost::moderate;
  } else if (text == "minimum") {
    s.password_hash = hash_cost::minimum;
  } else {
    return "expected interactive, moderate or minimum";
  }
  return {};
}

std::string set_bool(bool& target, const std::string& text) {
  if (text == "true" || text == "1") {
    target = true;
  } else if (text == "false" || text == "0") {
    target = false;
  } else {
    return "expected true or false";
  }
  return {};
}

std::string set_log_level(settings& s, const std::string& text) {
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
  for (auto lvl : levels) {
    if (text == lvl) {
      s.log_level = text;
      return {};
    }
  }
  return "expected trace, debug, info, warn, error or off";
}

std::string num(uint64_t x) {
  return std::to_string(x);
}

constexpr uint64_t gib = 1024ull * 1024 * 1024;
constexpr uint64_t day_ms = 24ull * 3600 * 1000;

const std::vector<option>& options() {
  static const std::vector<option> table = {
      {"listen", "SWITCHBOARD_LISTEN", "address and port to listen on (host:port, [v6]:port)",
       set_listen, [](const settings& s) { return s.listen_address + ":" + num(s.listen_port); }},
      {"database", "SWITCHBOARD_DATABASE", "ODBC connection string of the database", set_database,
       [](const settings& s) { return s.database; }},
      {"database_pool", "SWITCHBOARD_DATABASE_POOL", "database connections (and blocking workers)",
       [](settings& s, const std::string& t) { return set_count(s.database_pool, t, 1, 256); },
       [](const settings& s) { return num(s.database_pool); }},
      {"redis", "SWITCHBOARD_REDIS", "Redis URL; empty runs without Redis", set_redis,
       [](const settings& s) { return s.redis.empty() ? std::string{"(none)"} : s.redis; }},
      {"ops_token", "SWITCHBOARD_OPS_TOKEN",
       "bearer token for /ops endpoints (16+ chars); empty disables them", set_ops_token,
       [](const settings&) { return std::string{"(none)"}; }},
      {"http_threads", "SWITCHBOARD_HTTP_THREADS", "Asio threads serving HTTP",
       [](settings& s, const std::string& t) { return set_count(s.http_threads, t, 1, 64); },
       [](const settings& s) { return num(s.http_threads); }},
      {"actor_threads", "SWITCHBOARD_ACTOR_THREADS", "CAF scheduler threads",
       [](settings& s, const std::string& t) { return set_count(s.actor_threads, t, 1, 64); },
       [](const settings& s) { return num(s.actor_threads); }},
      {"session_idle_ms", "SWITCHBOARD_SESSION_IDLE_MS",
       "an idle session actor passivates after this many ms",
       [](settings& s, const std::string& t) { return set_ms(s.session_idle, t, 10, day_ms); },
       [](const settings& s) { return num(s.session_idle.count()); }},
      {"session_lifetime_hours", "SWITCHBOARD_SESSION_LIFETIME_HOURS",
       "a login token expires after this many hours",
       [](settings& s, const std::string& t) {
         size_t h = 0;
         auto err = set_count(h, t, 1, 24 * 365);
         s.session_lifetime = std::chrono::hours{h};
         return err;
       },
       [](const settings& s) { return num(s.session_lifetime.count()); }},
      {"password_hash", "SWITCHBOARD_PASSWORD_HASH",
       "argon2id cost: interactive, moderate, or minimum (tests and benchmarks only)", set_hash,
       [](const settings& s) { return std::string{to_string(s.password_hash)}; }},
      {"debug_routes", "SWITCHBOARD_DEBUG_ROUTES",
       "enable POST /v1/debug/crash, which makes the caller's session actor throw",
       [](settings& s, const std::string& t) { return set_bool(s.debug_routes, t); },
       [](const settings& s) { return std::string{s.debug_routes ? "true" : "false"}; }},
      {"job_lease_ms", "SWITCHBOARD_JOB_LEASE_MS",
       "a running job's lease; a job whose process died runs again after it",
       [](settings& s, const std::string& t) { return set_ms(s.job_lease, t, 300, day_ms); },
       [](const settings& s) { return num(s.job_lease.count()); }},
      {"job_concurrency", "SWITCHBOARD_JOB_CONCURRENCY", "jobs this process runs at once",
       [](settings& s, const std::string& t) { return set_count(s.job_concurrency, t, 1, 1024); },
       [](const settings& s) { return num(s.job_concurrency); }},
      {"job_retention_hours", "SWITCHBOARD_JOB_RETENTION_HOURS",
       "completed and cancelled jobs (and report results) are deleted after this many hours",
       [](settings& s, const std::string& t) {
         size_t h = 0;
         auto err = set_count(h, t, 1, 24 * 3650);
         s.job_retention = std::chrono::hours{h};
         return err;
       },
       [](const settings& s) { return num(s.job_retention.count()); }},
      {"body_limit", "SWITCHBOARD_BODY_LIMIT", "largest request body in bytes (413 above)",
       [](settings& s, const std::string& t) { return set_count(s.body_limit, t, 1, gib); },
       [](const settings& s) { return num(s.body_limit); }},
      {"large_body_limit", "SWITCHBOARD_LARGE_BODY_LIMIT",
       "largest body in bytes of batch routes such as POST /v1/activity/batch (413 above)",
       [](settings& s, const std::string& t) { return set_count(s.large_body_limit, t, 1, gib); },
       [](const settings& s) { return num(s.large_body_limit); }},
      {"upload_limit", "SWITCHBOARD_UPLOAD_LIMIT",
       "largest streamed upload in bytes, such as a CSV import (413 above)",
       [](settings& s, const std::string& t) { return set_count(s.upload_limit, t, 1, 64 * gib); },
       [](const settings& s) { return num(s.upload_limit); }},
      {"header_limit", "SWITCHBOARD_HEADER_LIMIT", "largest header block in bytes (431 above)",
       [](settings& s, const std::string& t) { return set_count(s.header_limit, t, 256, gib); },
       [](const settings& s) { return num(s.header_limit); }},
      {"url_limit", "SWITCHBOARD_URL_LIMIT", "longest request target in bytes (414 above)",
       [](settings& s, const std::string& t) { return set_count(s.url_limit, t, 16, gib); },
       [](const settings& s) { return num(s.url_limit); }},
      {"read_timeout_ms", "SWITCHBOARD_READ_TIMEOUT_MS",
       "a request must arrive completely within this many ms",
       [](settings& s, const std::string& t) { return set_ms(s.read_timeout, t, 10, day_ms); },
       [](const settings& s) { return num(s.read_timeout.count()); }},
      {"idle_timeout_ms", "SWITCHBOARD_IDLE_TIMEOUT_MS", "idle keep-alive connections close after",
       [](settings& s, const std::string& t) { return set_ms(s.idle_timeout, t, 10, day_ms); },
       [](const settings& s) { return num(s.idle_timeout.count()); }},
      {"handler_timeout_ms", "SWITCHBOARD_HANDLER_TIMEOUT_MS", "no reply within this: 504",
       [](settings& s, const std::string& t) { return set_ms(s.handler_timeout, t, 10, day_ms); },
       [](const settings& s) { return num(s.handler_timeout.count()); }},
      {"ws_queue_limit", "SWITCHBOARD_WS_QUEUE_LIMIT",
       "frames queued for one WebSocket client before it is closed with 1013",
       [](settings& s, const std::string& t) { return set_count(s.ws_queue_limit, t, 1, 1 << 20); },
       [](const settings& s) { return num(s.ws_queue_limit); }},
      {"ws_ping_interval_ms", "SWITCHBOARD_WS_PING_INTERVAL_MS", "WebSocket keep-alive interval",
       [](settings& s, const std::string& t) { return set_ms(s.ws_ping_interval, t, 10, day_ms); },
       [](const settings& s) { return num(s.ws_ping_interval.count()); }},
      {"log_level", "SWITCHBOARD_LOG_LEVEL", "trace, debug, info, warn, error or off",
       set_log_level, [](const settings& s) { return s.log_level; }},
      {"cache", "SWITCHBOARD_CACHE", "cache hot reads in process and in Redis (if set)",
       [](settings& s, const std::string& t) { return set_bool(s.cache, t); },
       [](const settings& s) { return std::string{s.cache ? "true" : "false"}; }},
      {"cache_l1_size", "SWITCHBOARD_CACHE_L1_SIZE", "entries the in-process cache keeps",
       [](settings& s, const std::string& t) { return set_count(s.cache_l1_size, t, 0, 1 << 24); },
       [](const settings& s) { return num(s.cache_l1_size); }},
      {"cache_l1_ttl_ms", "SWITCHBOARD_CACHE_L1_TTL_MS", "lifetime of an in-process cache entry",
       [](settings& s, const std::string& t) { return set_ms(s.cache_l1_ttl, t, 1, day_ms); },
       [](const settings& s) { return num(s.cache_l1_ttl.count()); }},
      {"cache_l2_ttl_ms", "SWITCHBOARD_CACHE_L2_TTL_MS", "lifetime of a Redis cache entry (+-10%)",
       [](settings& s, const std::string& t) { return set_ms(s.cache_l2_ttl, t, 1, day_ms); },
       [](const settings& s) { return num(s.cache_l2_ttl.count()); }},
      {"cache_negative_ttl_ms", "SWITCHBOARD_CACHE_NEGATIVE_TTL_MS", "lifetime of a cached 404",
       [](settings& s, const std::string& t) { return set_ms(s.cache_negative_ttl, t, 1, day_ms); },
       [](const settings& s) { return num(s.cache_negative_ttl.count()); }},
      {"rate_window_ms", "SWITCHBOARD_RATE_WINDOW_MS", "length of a rate-limit window",
       [](settings& s, const std::string& t) { return set_ms(s.rate_window, t, 100, day_ms); },
       [](const settings& s) { return num(s.rate_window.count()); }},
      {"rate_limit_user", "SWITCHBOARD_RATE_LIMIT_USER",
       "requests per window and bearer token, 0 for no limit",
       [](settings& s, const std::string& t) { return set_count(s.rate_limit_user, t, 0, gib); },
       [](const settings& s) { return num(s.rate_limit_user); }},
      {"rate_limit_address", "SWITCHBOARD_RATE_LIMIT_ADDRESS",
       "requests per window and client address, 0 for no limit",
       [](settings& s, const std::string& t) { return set_count(s.rate_limit_address, t, 0, gib); },
       [](const settings& s) { return num(s.rate_limit_address); }},
      {"rate_limit_auth", "SWITCHBOARD_RATE_LIMIT_AUTH",
       "failed logins and signups per window and client address, 0 for no limit",
       [](settings& s, const std::string& t) { return set_count(s.rate_limit_auth, t, 0, gib); },
       [](const settings& s) { return num(s.rate_limit_auth); }},
  };
  return table;
}

// ", got 'value'" for error lines; secrets are never repeated back.
std::string shown(const option& opt, const std::string& value) {
  if (std::string_view{opt.key} == "ops_token" || std::string_view{opt.key} == "database" ||
      std::string_view{opt.key} == "redis") {
    return "";
  }
  return ", got '" + value + "'";
}

std::string flag_of(const option& opt) {
  std::string flag = "--";
  for (const char* p = opt.key; *p; ++p) {
    flag += *p == '_' ? '-' : *p;
  }
  return flag;
}

const option* find_by_flag(const std::string& flag) {
  for (const auto& opt : options()) {
    if (flag_of(opt) == flag) {
      return &opt;
    }
  }
  return nullptr;
}

// JSON scalars become the same text a flag would carry.
std::optional<std::string> scalar_text(const nlohmann::json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "true" : "false";
  }
  if (v.is_number_unsigned()) {
    return std::to_string(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    return std::to_string(v.get<int64_t>());
  }
  return std::nullopt;
}

std::string apply_file(settings& s, const std::string& path) {
  std::ifstream in{path};
  if (!in) {
    return "--config: cannot read '" + path + "'";
  }
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return "--config: '" + path + "' is not a JSON object";
  }
  for (const auto& [key, value] : doc.items()) {
    const option* found = nullptr;
    for (const auto& opt : options()) {
      if (key == opt.key) {
        found = &opt;
      }
    }
    if (!found) {
      return path + ": unknown key '" + key + "'";
    }
    auto text = scalar_text(value);
    if (!text) {
      return path + ": " + key + ": expected a string, number or boolean";
    }
    if (auto err = found->apply(s, *text); !err.empty()) {
      return path + ": " + key + ": " + err + shown(*found, *text);
    }
  }
  return {};
}

}  // namespace

const char* to_string(hash_cost x) {
  switch (x) {
    case hash_cost::interactive:
      return "interactive";
    case hash_cost::moderate:
      return "moderate";
    case hash_cost::minimum:
      return "minimum";
  }
  return "?";
}

load_result load(const std::vector<std::string>& args,
                 const std::function<const char*(const char*)>& env) {
  load_result out;
  settings s;

  // Split flags into "--name value" pairs first, so --config is found
  // wherever it stands and applied before everything else.
  std::vector<std::pair<std::string, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      return out;
    }
    if (arg.rfind("--", 0) != 0) {
      out.error = "unexpected argument '" + arg + "' (see --help)";
      return out;
    }
    if (auto eq = arg.find('='); eq != std::string::npos) {
      flags.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      flags.emplace_back(arg, args[++i]);
    } else {
      out.error = arg + ": missing value";
      return out;
    }
  }

  // 1. The JSON file.
  std::string config_path;
  if (auto* p = env("SWITCHBOARD_CONFIG")) {
    config_path = p;
  }
  for (const auto& [flag, value] : flags) {
    if (flag == "--config") {
      config_path = value;
    }
  }
  if (!config_path.empty()) {
    if (auto err = apply_file(s, config_path); !err.empty()) {
      out.error = err;
      return out;
    }
  }

  // 2. Environment variables.
  for (const auto& opt : options()) {
    if (const char* value = env(opt.env)) {
      if (auto err = opt.apply(s, value); !err.empty()) {
        out.error = std::string{opt.env} + ": " + err + shown(opt, value);
        return out;
      }
    }
  }

  // 3. Flags.
  for (const auto& [flag, value] : flags) {
    if (flag == "--config") {
      continue;
    }
    const auto* opt = find_by_flag(flag);
    if (!opt) {
      out.error = "unknown option '" + flag + "' (see --help)";
      return out;
    }
    if (auto err = opt->apply(s, value); !err.empty()) {
      out.error = flag + ": " + err + shown(*opt, value);
      return out;
    }
  }

  out.value = std::move(s);
  return out;
}

std::string help_text() {
  std::ostringstream os;
  os << "Usage: switchboard [--config FILE] [--option VALUE]...\n\n"
        "Switchboard, the product backend: HTTP and WebSocket API on supervised actors.\n\n"
        "Each option comes, in rising precedence, from its default, the JSON file given\n"
        "by --config (or SWITCHBOARD_CONFIG), where the key is the option's name with\n"
        "underscores, its environment variable, and its flag.\n\n"
        "  --config FILE  (SWITCHBOARD_CONFIG)\n"
        "      JSON object of settings, e.g. {\"listen\": \"127.0.0.1:8080\"}\n";
  settings defaults;
  for (const auto& opt : options()) {
    os << "  " << flag_of(opt) << " VALUE  (" << opt.env << ")\n"
       << "      " << opt.help << "; default: " << opt.show(defaults) << "\n";
  }
  os << "  --help\n      print this text and exit\n";
  return os.str();
}

}  // namespace sb::config
