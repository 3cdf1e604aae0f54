#include "actors/import/import_job.hpp"

#include "actors/credentials.hpp"
#include "actors/handlers/cache_tags.hpp"
#include "actors/import/contact_columns.hpp"
#include "actors/import/csv_reader.hpp"
#include "observability/log.hpp"
#include "persistence/repositories/contact_import.hpp"
#include "persistence/repositories/jobs.hpp"
#include "persistence/repositories/uploads.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <vector>

namespace sb::actors::imports {

namespace {

using nlohmann::json;
using persistence::connection;
using persistence::contact_record;
using persistence::db_errc;
using persistence::db_error;
namespace staging = persistence::contact_import;
namespace uploads = persistence::uploads;

// Valid rows held before they are staged in one go of batched statements.
constexpr size_t stage_every = 5000;

// A receiving upload this old was abandoned: its client went away while the
// server was down, so nobody will finish or abort it.
constexpr int64_t abandoned_after_ms = 24 * 3600 * 1000;

std::string describe(const db_error& err) {
  return std::string{persistence::to_string(err.code)} + ": " + err.message;
}

// One attempt at importing one upload.
class import_run {
 public:
  import_run(job_context& ctx, const uploads::upload_record& upload)
      : ctx_(ctx), conn_(ctx.conn()), upload_(upload) {}

  job_result run() {
    if (auto st = staging::begin_staging(conn_); !st) {
      return {"staging: " + describe(st.error()), {}};
    }
    auto out = read_and_merge();
    staging::end_staging(conn_);
    return out;
  }

 private:
  job_result read_and_merge() {
    // 1. Every chunk through the reader; valid rows staged in batches.
    csv_reader reader;
    auto on_record = [this](csv_record& rec) { take(rec); };
    int64_t done = 0;
    for (int64_t seq = 0; seq < upload_.chunks; ++seq) {
      if (ctx_.stopping()) {
        return {"stopped: the job was cancelled or its lease lost", {}};
      }
      auto data = persistence::with_retry([&] { return uploads::chunk(conn_, upload_.id, seq); });
      if (!data) {
        return {"reading the upload: " + describe(data.error()), {}};
      }
      if (!*data) {
        return {"the upload lost chunk " + std::to_string(seq), {}};
      }
      reader.feed(**data, on_record);
      done += static_cast<int64_t>((*data)->size());
      ctx_.progress(done, upload_.bytes);
      if (!failure_.empty()) {
        return {failure_, {}, final_};
      }
    }
    reader.finish(on_record);
    flush();
    if (!failure_.empty()) {
      return {failure_, {}, final_};
    }
    auto staged_at = std::chrono::steady_clock::now();

    // 2. The merge, the upload's removal and the job's completion commit
    // together, so a crash or a lost lease leaves either all or nothing.
    const auto& job = ctx_.job();
    const auto owner = job.lease_owner.value_or("");
    bool lease_lost = false;
    std::string result;
    auto st = persistence::in_transaction(conn_, [&](connection& c) -> persistence::db_status {
      auto counts = staging::merge(c, upload_.workspace_id, now_ms());
      if (!counts) {
        return counts.error();
      }
      result = render(*counts);
      if (auto gone = uploads::remove(c, upload_.id); !gone) {
        return gone.error();
      }
      // The job runner's own last progress write comes after the completion
      // and finds the lease gone, so the final figure is written here.
      auto noted =
          persistence::jobs::set_progress(c, job.id, owner, upload_.bytes, upload_.bytes, now_ms());
      if (!noted) {
        return noted.error();
      }
      auto kept = persistence::jobs::complete(c, job.id, owner, now_ms(), result);
      if (!kept) {
        return kept.error();
      }
      if (!*kept) {
        lease_lost = true;
        return db_error{db_errc::invalid, "", "the lease was lost"};
      }
      return persistence::done{};
    });
    if (lease_lost) {
      return {"stopped: the job was cancelled or its lease lost; nothing was imported", {}};
    }
    if (!st) {
      return {"merging the contacts: " + describe(st.error()), {}};
    }
    auto ms = [](auto d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    SB_LOG(actors, debug, {},
           "import done job={} rows={} bytes={} read_ms={} staging_ms={} merge_ms={}", job.id,
           rows_, upload_.bytes, ms(staged_at - started_ - staging_time_), ms(staging_time_),
           ms(std::chrono::steady_clock::now() - staged_at));
    // Committed: every cached contact and contact list of the workspace is
    // stale now.
    handlers::invalidate_all(ctx_.svc(), "contact", upload_.workspace_id);
    return {{}, std::move(result)};
  }

  // The first record names the columns; every later one is a contact or a
  // rejected row.
  void take(csv_record& rec) {
    if (!failure_.empty()) {
      return;
    }
    if (!columns_) {
      columns_.emplace(rec.fields);
      if (!columns_->has_email()) {
        // No row can be imported, and a retry would read the same file.
        failure_ = "the header (line " + std::to_string(rec.line) + ") names no Email column";
        final_ = true;
      }
      return;
    }
    ++rows_;
    contact_record c;
    if (auto reason = columns_->read(rec, c); !reason.empty()) {
      reject(rec.line, std::move(reason));
      return;
    }
    c.id = new_id("ct");
    batch_.push_back(std::move(c));
    if (batch_.size() >= stage_every) {
      flush();
    }
  }

  void reject(int64_t line, std::string reason) {
    ++rejected_;
    if (rejections_.size() < max_listed_rejections) {
      rejections_.push_back({{"line", line}, {"reason", std::move(reason)}});
    }
  }

  void flush() {
    if (batch_.empty() || !failure_.empty()) {
      return;
    }
    auto start = std::chrono::steady_clock::now();
    if (auto st = staging::stage(conn_, batch_); !st) {
      failure_ = "staging: " + describe(st.error());
    }
    batch_.clear();
    staging_time_ += std::chrono::steady_clock::now() - start;
  }

  std::string render(const staging::merge_counts& counts) const {
    return json{
        {"inserted", counts.inserted},
        {"updated", counts.updated},
        {"unchanged", counts.unchanged},
        {"rows", rows_},
        {"rejected_count", rejected_},
        {"rejected", rejections_},
        // The list stops at max_listed_rejections; the count does not.
        {"rejected_truncated", rejected_ > static_cast<int64_t>(rejections_.size())},
    }
        .dump();
  }

  job_context& ctx_;
  connection& conn_;
  const uploads::upload_record& upload_;
  std::optional<contact_columns> columns_;
  std::vector<contact_record> batch_;
  json rejections_ = json::array();
  int64_t rows_ = 0;
  int64_t rejected_ = 0;
  std::string failure_;
  bool final_ = false;  // The failure is the file's: retrying cannot help.
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration staging_time_{};  // In staging statements.
};

}  // namespace

std::string import_payload(std::string_view upload_id) {
  return json{{"upload_id", upload_id}}.dump();
}

job_result run_import(job_context& ctx) {
  const auto& job = ctx.job();
  auto payload = json::parse(job.payload, nullptr, false);
  if (!payload.is_object() || !payload.contains("upload_id") || !payload["upload_id"].is_string()) {
    return {"the payload names no upload_id", {}};
  }
  auto upload_id = payload["upload_id"].get<std::string>();
  auto& conn = ctx.conn();

  auto found = persistence::with_retry([&] { return uploads::find(conn, upload_id); });
  if (!found) {
    return {"reading the upload: " + describe(found.error()), {}};
  }
  if (!*found) {
    return {"the upload " + upload_id + " does not exist", {}};
  }
  const auto& upload = **found;
  if (upload.state != uploads::upload_state::complete || !job.workspace_id ||
      *job.workspace_id != upload.workspace_id) {
    return {"the upload " + upload_id + " is not a complete upload of this workspace", {}};
  }
  return import_run{ctx, upload}.run();
}

void add_import_jobs(job_kinds& kinds) {
  job_kind_options options;
  // 100 MB of CSV is about 700,000 rows: minutes at worst, not hours.
  options.timeout = std::chrono::minutes(10);
  // Each import holds a database connection and, on SQLite, the write lock
  // while it merges: one at a time per process.
  options.concurrency = 1;
  options.event_prefix = std::string{import_job_kind};
  // Uploads nobody will read: half-received ones a vanished client or a
  // crash left, and those of cancelled (or purged) imports.
  options.sweep = [](connection& conn) -> persistence::db_result<int64_t> {
    auto abandoned = uploads::remove_abandoned(conn, now_ms() - abandoned_after_ms);
    if (!abandoned) {
      return abandoned.error();
    }
    auto unclaimed = uploads::remove_unclaimed(conn, import_job_kind);
    if (!unclaimed) {
      return unclaimed.error();
    }
    return *abandoned + *unclaimed;
  };
  kinds.add(std::string{import_job_kind}, run_import, options);
}

}  // namespace sb::actors::imports
