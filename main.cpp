// Switchboard's entry point: load settings, start the actors, serve HTTP and
// WebSocket until SIGINT or SIGTERM, then drain and stop in order.

#include "actors/application.hpp"
#include "config/settings.hpp"
#include "gateway/server.hpp"
#include "observability/log.hpp"

#include <pthread.h>
#include <unistd.h>
#include <csignal>
#include <cstdlib>
#include <iostream>

namespace {

sb::gateway::server_options server_options_of(const sb::config::settings& s) {
  sb::gateway::server_options o;
  o.address = s.listen_address;
  o.port = s.listen_port;
  o.threads = s.http_threads;
  o.body_limit = s.body_limit;
  o.large_body_limit = s.large_body_limit;
  o.upload_limit = s.upload_limit;
  o.header_limit = s.header_limit;
  o.url_limit = s.url_limit;
  o.read_timeout = s.read_timeout;
  o.idle_timeout = s.idle_timeout;
  o.handler_timeout = s.handler_timeout;
  o.ws_queue_limit = s.ws_queue_limit;
  o.ws_ping_interval = s.ws_ping_interval;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  // 1. Settings; a bad value ends here with one line.
  std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = sb::config::load(args, [](const char* name) { return std::getenv(name); });
  if (loaded.help) {
    std::cout << sb::config::help_text();
    return 0;
  }
  if (!loaded.value) {
    std::cerr << "switchboard: invalid configuration: " << loaded.error << "\n";
    return 2;
  }
  const auto& settings = *loaded.value;

  // 2. Signals are taken synchronously by this thread only: block them before
  // any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  sb::observability::init_logging(settings.log_level);
  sb::observability::log_context ctx;

  // 3. Actors and database.
  sb::actors::application app{settings};
  std::string error;
  if (!app.start(error)) {
    SB_LOG(app, critical, ctx, "start-up failed: {}", error);
    sb::observability::shutdown_logging();
    std::cerr << "switchboard: " << error << "\n";
    return 1;
  }
  std::string root_failure;
  app.on_root_failure([&root_failure](std::string reason) {
    root_failure = std::move(reason);
    ::kill(::getpid(), SIGUSR1);
  });

  // 4. The gateway.
  sb::gateway::server server{server_options_of(settings), app.api()};
  if (!server.start(error)) {
    SB_LOG(app, critical, ctx, "cannot listen: {}", error);
    app.stop();
    sb::observability::shutdown_logging();
    std::cerr << "switchboard: cannot listen on " << settings.listen_address << ":"
              << settings.listen_port << ": " << error << "\n";
    return 1;
  }
  // Scripts and tests wait for this line, so it shows at any log level.
  auto listening_level =
      sb::observability::log_enabled(sb::observability::layer::app, spdlog::level::info)
          ? spdlog::level::info
          : spdlog::level::critical;
  sb::observability::write_log(
      sb::observability::layer::app, listening_level, ctx, "listening",
      fmt::format(R"("address":"{}","port":{})",
                  sb::observability::json_escape(settings.listen_address), server.port()));

  // 5. Serve until told to stop.
  int sig = 0;
  sigwait(&signals, &sig);
  int code = 0;
  if (sig == SIGUSR1) {
    SB_LOG(app, critical, ctx, "the root supervisor gave up: {}", root_failure);
    code = 1;
  } else {
    SB_LOG(app, info, ctx, "stopping on signal {}", sig);
  }

  // 6. Drain: stop accepting and finish in-flight requests, then the actors.
  server.stop(std::chrono::seconds(10));
  app.stop();
  SB_LOG(app, info, ctx, "stopped");
  sb::observability::shutdown_logging();
  return code;
}
