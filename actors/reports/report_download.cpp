#include "actors/reports/report_download.hpp"

#include "actors/database_work.hpp"
#include "actors/worker.hpp"
#include "persistence/repositories/engagement.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

namespace sb::actors::reports {

namespace {

using piece = persistence::db_result<std::optional<std::string>>;

}  // namespace

report_download::report_download(std::shared_ptr<services> svc, std::string job_id, int64_t chunks)
    : svc_(std::move(svc)), job_id_(std::move(job_id)), chunks_(chunks) {}

void report_download::next(piece_handler done) {
  if (next_ >= chunks_) {
    done(std::string{}, true);
    return;
  }
  auto seq = next_++;
  bool last = next_ >= chunks_;

  // A short-lived actor carries the read to the db pool and the answer back:
  // next() runs on an Asio thread, which must never wait for the database.
  auto svc = svc_;
  auto id = job_id_;
  auto cancelled = cancelled_;
  svc_->system->spawn<caf::hidden>(
      [svc, id, seq, last, cancelled, done](caf::event_based_actor* self) -> caf::behavior {
        quiet_handlers(self);
        run_on_database<std::optional<std::string>>(
            self, svc, false,
            [id, seq](persistence::connection& c) {
              return persistence::engagement::chunk(c, id, seq);
            },
            [self, last, cancelled, done](piece got) {
              if (!cancelled->load()) {
                // A chunk that vanished (the job was deleted meanwhile) or a
                // failed read ends the body early; the gateway cuts the connection.
                if (got && *got) {
                  done(std::move(**got), last);
                } else {
                  done(std::nullopt, true);
                }
              }
              self->quit();
            });
        return {[](stats_atom) { return actor_stats{}; }};
      });
}

void report_download::cancel() {
  cancelled_->store(true);
}

}  // namespace sb::actors::reports
