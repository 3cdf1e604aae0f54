#include "actors/import/upload_sink.hpp"

#include "actors/credentials.hpp"
#include "actors/database_work.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/import/import_job.hpp"
#include "actors/worker.hpp"
#include "persistence/repositories/jobs.hpp"
#include "persistence/repositories/uploads.hpp"

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include <atomic>

namespace sb::actors::imports::detail {

/// Calls a ready handler once; if it never was (the upload actor died with
/// the piece in its mailbox), tells the gateway to stop reading.
class ready_once {
 public:
  explicit ready_once(body_sink::ready_handler fn) : fn_(std::move(fn)) {}
  ~ready_once() { call(false); }
  ready_once(const ready_once&) = delete;
  ready_once& operator=(const ready_once&) = delete;

  /// Passes `more` on, the first time only.
  void call(bool more) {
    if (auto fn = std::exchange(fn_, nullptr)) {
      fn(more);
    }
  }

 private:
  body_sink::ready_handler fn_;
};

/// A piece of the body on its way to the upload actor.
struct upload_piece {
  std::string data;
  std::shared_ptr<ready_once> ready;
};

}  // namespace sb::actors::imports::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sb::actors::imports::detail::upload_piece)

namespace sb::actors::imports {

namespace {

using detail::ready_once;
using detail::upload_piece;
namespace uploads = persistence::uploads;

using upload_write_atom = caf::atom_constant<caf::atom("upwrite")>;
using upload_finish_atom = caf::atom_constant<caf::atom("upfinish")>;
using upload_abort_atom = caf::atom_constant<caf::atom("upabort")>;

// An upload nobody writes to, finishes or aborts for this long was
// forgotten (a bug, or a gateway gone); it is discarded.
constexpr auto idle_limit = std::chrono::minutes(5);

// Attempts an import job gets: failures are the database's, not the file's
// (a bad row never fails the job), so a few suffice.
constexpr int64_t import_attempts = 5;

struct upload_state {
  uploads::upload_record upload;
  reply_handle reply;
  std::string buffer;   // Bytes not stored yet.
  bool stored = false;  // The uploads row exists.
  static inline const char* name = "upload";
};

using upload_actor = caf::stateful_actor<upload_state>;

// Deletes whatever was stored, then stops.
void discard(upload_actor* self, const std::shared_ptr<services>& svc) {
  if (!self->state.stored) {
    self->quit();
    return;
  }
  auto id = self->state.upload.id;
  run_on_database<bool>(
      self, svc, true, [id](persistence::connection& c) { return uploads::remove(c, id); },
      [self](persistence::db_result<bool>) {
        // A failed removal leaves the upload to the import kind's sweep,
        // which removes uploads still receiving after a day.
        self->quit();
      });
}

// A storage failure ends the upload: the client hears why, the gateway stops
// reading, and what was stored goes.
void fail(upload_actor* self, const std::shared_ptr<services>& svc,
          const persistence::db_error& err) {
  self->state.reply.deliver(handlers::db_failure(err, self->state.reply.request_id()));
  discard(self, svc);
}

// Stores the buffer as the next chunk (creating the upload with its first
// one), then lets the gateway read on.
void store_chunk(upload_actor* self, const std::shared_ptr<services>& svc,
                 std::shared_ptr<ready_once> ready) {
  auto& st = self->state;
  auto upload = st.upload;
  auto create = !st.stored;
  auto data = std::exchange(st.buffer, {});
  auto step = [upload, create, data = std::move(data)](persistence::connection& c) {
    return persistence::in_transaction(
        c, [&](persistence::connection& tx) -> persistence::db_status {
          if (create) {
            if (auto made = uploads::create(tx, upload); !made) {
              return made;
            }
          }
          return uploads::add_chunk(tx, upload.id, upload.chunks, data);
        });
  };
  // Ordered: the actor takes nothing else (not even an abort) until the
  // chunk is stored.
  run_on_database<persistence::done>(self, svc, true, std::move(step),
                                     [self, svc, ready](persistence::db_status st) {
                                       if (!st) {
                                         fail(self, svc, st.error());
                                         ready->call(false);
                                         return;
                                       }
                                       self->state.stored = true;
                                       ++self->state.upload.chunks;
                                       ready->call(true);
                                     });
}

// Stores the rest, completes the upload and queues its import job, all in
// one transaction, then answers 202 with the job.
void complete(upload_actor* self, const std::shared_ptr<services>& svc) {
  auto& st = self->state;
  auto upload = st.upload;
  auto create = !st.stored;
  auto data = std::exchange(st.buffer, {});
  auto step = [upload, create, data = std::move(data)](persistence::connection& c) {
    return persistence::in_transaction(
        c, [&](persistence::connection& tx) -> persistence::db_result<std::string> {
          if (create) {
            if (auto made = uploads::create(tx, upload); !made) {
              return made.error();
            }
          }
          auto chunks = upload.chunks;
          if (!data.empty()) {
            if (auto added = uploads::add_chunk(tx, upload.id, chunks++, data); !added) {
              return added.error();
            }
          }
          auto now = now_ms();
          auto completed = uploads::complete(tx, upload.id, upload.bytes, chunks, now);
          if (!completed) {
            return completed.error();
          }
          if (!*completed) {
            return persistence::db_error{persistence::db_errc::conflict, "",
                                         "the upload is no longer receiving"};
          }
          persistence::jobs::new_job job;
          job.id = new_id("job");
          job.workspace_id = upload.workspace_id;
          job.kind = std::string{import_job_kind};
          job.payload = import_payload(upload.id);
          job.max_attempts = import_attempts;
          return persistence::jobs::enqueue(tx, job, now);
        });
  };
  run_on_database<std::string>(
      self, svc, true, std::move(step), [self, svc](persistence::db_result<std::string> job_id) {
        auto& st = self->state;
        if (!job_id && job_id.error().code == persistence::db_errc::timeout) {
          // The transaction may still commit, queueing a job that needs the
          // upload; an upload it did not complete goes with the
          // abandoned-upload sweep.
          st.reply.deliver(handlers::db_failure(job_id.error(), st.reply.request_id()));
          self->quit();
          return;
        }
        if (!job_id) {
          fail(self, svc, job_id.error());
          return;
        }
        auto res = handlers::json_response(
            202, nlohmann::json{{"id", *job_id}, {"status", "queued"}}.dump());
        res.headers.emplace_back("Location", "/v1/jobs/" + *job_id);
        res.workspace_id = st.upload.workspace_id;
        st.reply.deliver(std::move(res));
        self->quit();
      });
}

caf::behavior upload(upload_actor* self, std::shared_ptr<services> svc,
                     uploads::upload_record record, reply_handle reply) {
  quiet_handlers(self);
  self->state.upload = std::move(record);
  self->state.reply = std::move(reply);
  return {
      [self, svc](upload_write_atom, upload_piece& piece) {
        auto& st = self->state;
        st.upload.bytes += static_cast<int64_t>(piece.data.size());
        st.buffer += piece.data;
        if (st.buffer.size() < upload_chunk_bytes) {
          piece.ready->call(true);
          return;
        }
        store_chunk(self, svc, std::move(piece.ready));
      },
      [self, svc](upload_finish_atom) { complete(self, svc); },
      [self, svc](upload_abort_atom) { discard(self, svc); },
      caf::after(idle_limit) >> [self, svc] { discard(self, svc); },
  };
}

// Forwards the gateway's calls to the upload actor; whichever of finish and
// abort comes first counts, and a sink dropped without either aborts.
class upload_sink : public body_sink {
 public:
  explicit upload_sink(caf::actor actor) : actor_(std::move(actor)) {}

  ~upload_sink() override { abort(); }

  void write(std::string piece, ready_handler ready) override {
    caf::anon_send(actor_, upload_write_atom::value,
                   upload_piece{std::move(piece), std::make_shared<ready_once>(std::move(ready))});
  }

  void finish() override {
    if (!ended_.exchange(true)) {
      caf::anon_send(actor_, upload_finish_atom::value);
    }
  }

  void abort() override {
    if (!ended_.exchange(true)) {
      caf::anon_send(actor_, upload_abort_atom::value);
    }
  }

 private:
  caf::actor actor_;
  std::atomic<bool> ended_{false};
};

// The media type of a Content-Type value, without parameters or spaces.
std::string media_type(const std::string& content_type) {
  auto end = content_type.find(';');
  auto type = content_type.substr(0, end);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
    type.pop_back();
  }
  auto first = type.find_first_not_of(" \t");
  return first == std::string::npos ? std::string{} : type.substr(first);
}

}  // namespace

std::shared_ptr<body_sink> make_upload_sink(const std::shared_ptr<services>& svc,
                                            std::string workspace_id, std::string user_id,
                                            reply_handle reply) {
  uploads::upload_record record;
  record.id = new_id("up");
  record.workspace_id = std::move(workspace_id);
  record.user_id = std::move(user_id);
  record.created_at = record.updated_at = now_ms();
  // Hidden: an upload is bounded by its client and idle limit, and must not
  // hold up the actor system's shutdown.
  auto actor = svc->system->spawn<caf::hidden>(upload, svc, std::move(record), std::move(reply));
  return std::make_shared<upload_sink>(std::move(actor));
}

void open_import_upload(const std::shared_ptr<services>& svc, const session_info& session,
                        api_call& call) {
  const auto& rid = call.request.request_id;
  auto type = media_type(call.request.content_type);
  if (type != "text/csv" && type != "application/csv" && type != "application/octet-stream") {
    call.reply.deliver(problem(415,
                               "the body must be CSV (text/csv, application/csv or "
                               "application/octet-stream)",
                               rid));
    return;
  }
  if (!call.accept_upload) {
    // The gateway streams this route; a buffered request here is a bug.
    call.reply.deliver(problem(500, "the upload was not streamed", rid));
    return;
  }
  call.accept_upload(make_upload_sink(svc, session.workspace_id, session.user_id, call.reply));
}

}  // namespace sb::actors::imports
