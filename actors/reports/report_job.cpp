#include "actors/reports/report_job.hpp"

#include "actors/credentials.hpp"
#include "persistence/repositories/engagement.hpp"
#include "persistence/repositories/jobs.hpp"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace sb::actors::reports {

namespace {

namespace engagement = persistence::engagement;
namespace jobs = persistence::jobs;
using nlohmann::json;
using persistence::connection;
using persistence::db_errc;
using persistence::db_error;
using persistence::db_status;
using persistence::done;

// A stored chunk is flushed once it reaches this size; the download streams
// one chunk per piece.
constexpr size_t chunk_size = 64 * 1024;

// Result rows read from the database per batch (one FETCH on PostgreSQL).
constexpr size_t batch_rows = 1000;

constexpr std::array<std::string_view, 2> kinds = {"engagement", "pipeline"};
constexpr std::array<std::string_view, 2> formats = {"csv", "json"};

// Appends rendered text to the report and stores it in chunks as it grows,
// so at most one chunk of the report is in memory.
class chunk_writer {
 public:
  chunk_writer(connection& conn, std::string job_id) : conn_(conn), job_id_(std::move(job_id)) {}

  /// Adds `text`; stores a chunk once enough has gathered.
  db_status add(std::string_view text) {
    buffer_.append(text);
    bytes_ += static_cast<int64_t>(text.size());
    return buffer_.size() >= chunk_size ? flush() : db_status{done{}};
  }

  /// Stores whatever has gathered as the next chunk.
  db_status flush() {
    if (buffer_.empty()) {
      return done{};
    }
    auto st = engagement::put_chunk(conn_, job_id_, chunks_, buffer_);
    if (!st) {
      return st;
    }
    ++chunks_;
    buffer_.clear();
    return done{};
  }

  int64_t bytes() const { return bytes_; }
  int64_t chunks() const { return chunks_; }

 private:
  connection& conn_;
  std::string job_id_;
  std::string buffer_;
  int64_t bytes_ = 0;
  int64_t chunks_ = 0;
};

// One CSV field (RFC 4180): quoted when it holds a separator, a quote or a
// line break. Text that a spreadsheet would run as a formula (=, +, -, @ and
// control characters first) gets a leading apostrophe (OWASP CSV injection).
std::string csv_text(std::string_view x) {
  std::string out;
  if (!x.empty() &&
      (x[0] == '=' || x[0] == '+' || x[0] == '-' || x[0] == '@' || x[0] == '\t' || x[0] == '\r')) {
    out += '\'';
  }
  out.append(x);
  if (out.find_first_of(",\"\r\n") == std::string::npos) {
    return out;
  }
  std::string quoted = "\"";
  for (char c : out) {
    quoted += c;
    if (c == '"') {
      quoted += '"';
    }
  }
  quoted += '"';
  return quoted;
}

// A share rounded to 4 decimals, so both formats print the same digits.
double rounded_share(double x) {
  return std::round(x * 10000.0) / 10000.0;
}

// An amount in minor units as a decimal text, e.g. 120050 -> "1200.50".
std::string decimal_amount(int64_t minor) {
  char buf[32];
  auto abs = minor < 0 ? -static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::snprintf(buf, sizeof buf, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", abs / 100,
                abs % 100);
  return buf;
}

json engagement_json(const engagement::engagement_row& r) {
  return {{"video_id", r.video_id},
          {"title", r.title},
          {"duration_seconds", r.duration_seconds ? json(*r.duration_seconds) : json(nullptr)},
          {"plays", r.plays},
          {"completions", r.completions},
          {"unique_contacts", r.unique_contacts},
          {"mean_share_watched",
           r.mean_share_watched ? json(rounded_share(*r.mean_share_watched)) : json(nullptr)}};
}

std::string engagement_csv(const engagement::engagement_row& r) {
  std::string line = csv_text(r.video_id) + ',' + csv_text(r.title) + ',';
  line += r.duration_seconds ? std::to_string(*r.duration_seconds) : "";
  line += ',' + std::to_string(r.plays) + ',' + std::to_string(r.completions) + ',' +
          std::to_string(r.unique_contacts) + ',';
  line += r.mean_share_watched ? json(rounded_share(*r.mean_share_watched)).dump() : "";
  return line + "\r\n";
}

json pipeline_json(const engagement::pipeline_row& r) {
  return {{"stage", r.stage},       {"deals", r.deals}, {"amount", decimal_amount(r.amount_minor)},
          {"contacts", r.contacts}, {"plays", r.plays}, {"completions", r.completions}};
}

std::string pipeline_csv(const engagement::pipeline_row& r) {
  return csv_text(r.stage) + ',' + std::to_string(r.deals) + ',' + decimal_amount(r.amount_minor) +
         ',' + std::to_string(r.contacts) + ',' + std::to_string(r.plays) + ',' +
         std::to_string(r.completions) + "\r\n";
}

// Renders the rows of one report kind into the writer as they arrive.
struct renderer {
  const report_request& request;
  chunk_writer& out;
  bool csv = request.format == "csv";
  int64_t rows = 0;

  db_status header() {
    if (csv) {
      return out.add(request.kind == "engagement"
                         ? "video_id,title,duration_seconds,plays,completions,unique_contacts,"
                           "mean_share_watched\r\n"
                         : "stage,deals,amount,contacts,plays,completions\r\n");
    }
    // The object's fixed members first, then the rows as they come.
    auto head =
        json{{"kind", request.kind}, {"from", rfc3339(request.from)}, {"to", rfc3339(request.to)}}
            .dump();
    head.pop_back();
    return out.add(head + R"(,"rows":[)");
  }

  template <class Row, class Csv, class Json>
  db_status row(const Row& r, Csv to_csv, Json to_json) {
    std::string text = csv ? to_csv(r) : (rows > 0 ? "," : "") + to_json(r).dump();
    ++rows;
    return out.add(text);
  }

  db_status footer() {
    if (!csv) {
      if (auto st = out.add("]}"); !st) {
        return st;
      }
    }
    return out.flush();
  }
};

// Reads the report's rows batch by batch into the renderer; `stopped` is
// set when the job was cancelled meanwhile.
db_status render_rows(connection& c, job_context& ctx, const report_request& req, renderer& r,
                      int64_t total, bool& stopped) {
  engagement::report_range range{*ctx.job().workspace_id, req.from, req.to};
  db_status written = done{};
  auto each = [&](const auto& rows, auto to_csv, auto to_json) {
    if (ctx.stopping()) {
      stopped = true;
      return false;
    }
    for (const auto& x : rows) {
      if (written = r.row(x, to_csv, to_json); !written) {
        return false;
      }
    }
    ctx.progress(r.rows, std::max(total, r.rows));
    return true;
  };
  db_status read = done{};
  if (req.kind == "engagement") {
    read = engagement::each_engagement(c, range, batch_rows,
                                       [&](const std::vector<engagement::engagement_row>& rows) {
                                         return each(rows, engagement_csv, engagement_json);
                                       });
  } else {
    read = engagement::each_pipeline(c, range, batch_rows,
                                     [&](const std::vector<engagement::pipeline_row>& rows) {
                                       return each(rows, pipeline_csv, pipeline_json);
                                     });
  }
  return read ? written : read;
}

}  // namespace

bool known_kind(std::string_view kind) {
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

bool known_format(std::string_view format) {
  return std::find(formats.begin(), formats.end(), format) != formats.end();
}

const char* content_type(std::string_view format) {
  return format == "csv" ? "text/csv; charset=utf-8" : "application/json";
}

std::string to_payload(const report_request& r) {
  return json{{"kind", r.kind}, {"format", r.format}, {"from", r.from}, {"to", r.to}}.dump();
}

std::optional<report_request> from_payload(std::string_view payload) {
  auto doc = json::parse(payload, nullptr, false);
  if (!doc.is_object()) {
    return std::nullopt;
  }
  auto kind = doc.find("kind");
  auto format = doc.find("format");
  auto from = doc.find("from");
  auto to = doc.find("to");
  if (kind == doc.end() || !kind->is_string() || format == doc.end() || !format->is_string() ||
      from == doc.end() || !from->is_number_integer() || to == doc.end() ||
      !to->is_number_integer()) {
    return std::nullopt;
  }
  report_request r{kind->get<std::string>(), format->get<std::string>(), from->get<int64_t>(),
                   to->get<int64_t>()};
  if (!known_kind(r.kind) || !known_format(r.format)) {
    return std::nullopt;
  }
  return r;
}

std::optional<report_output> read_output(std::string_view result) {
  auto doc = json::parse(result, nullptr, false);
  if (!doc.is_object()) {
    return std::nullopt;
  }
  report_output out;
  out.bytes = doc.value("bytes", int64_t{-1});
  out.chunks = doc.value("chunks", int64_t{-1});
  out.rows = doc.value("rows", int64_t{0});
  out.format = doc.value("format", "");
  out.content_type = doc.value("content_type", "");
  if (out.bytes < 0 || out.chunks < 0 || !known_format(out.format)) {
    return std::nullopt;
  }
  return out;
}

job_result run_report(job_context& ctx) {
  const auto& job = ctx.job();
  auto req = from_payload(job.payload);
  if (!req || !job.workspace_id) {
    return {"not a report request: " + job.payload, {}};
  }
  auto& conn = ctx.conn();
  const auto owner = job.lease_owner.value_or("");

  // The engagement report has a row per video: that makes the progress total.
  int64_t total = 0;
  if (req->kind == "engagement") {
    auto n = engagement::count_videos(conn, *job.workspace_id);
    if (!n) {
      return {"report failed: " + n.error().message, {}};
    }
    total = *n;
  }
  ctx.progress(0, total);

  // One transaction: the chunks of an earlier attempt go, the new ones are
  // written, and the job completes (fenced by this attempt's lease), so a
  // cancelled or crashed attempt leaves no half-written report behind.
  // TODO: on SQLite this holds the database's single write lock while the
  // report renders, delaying other writers; fine for the embedded sizes
  // SQLite serves, PostgreSQL takes only row locks.
  std::string failure;
  std::string result;
  auto st = persistence::in_transaction(conn, [&](connection& c) -> db_status {
    failure.clear();
    if (auto st = engagement::delete_chunks(c, job.id); !st) {
      return st;
    }
    chunk_writer out{c, job.id};
    renderer r{*req, out};
    if (auto st = r.header(); !st) {
      return st;
    }
    bool stopped = false;
    if (auto st = render_rows(c, ctx, *req, r, total, stopped); !st) {
      return st;
    }
    if (stopped) {
      failure = "stopped: the report was cancelled";
      return db_error{db_errc::invalid, "", failure};
    }
    if (auto st = r.footer(); !st) {
      return st;
    }

    result = json{{"bytes", out.bytes()},
                  {"chunks", out.chunks()},
                  {"rows", r.rows},
                  {"format", req->format},
                  {"content_type", content_type(req->format)}}
                 .dump();
    auto now = now_ms();
    if (auto kept = jobs::set_progress(c, job.id, owner, r.rows, r.rows, now); !kept) {
      return kept.error();
    }
    auto kept = jobs::complete(c, job.id, owner, now, result);
    if (!kept) {
      return kept.error();
    }
    if (!*kept) {
      failure = "the lease was lost before the report was stored";
      return db_error{db_errc::invalid, "", failure};
    }
    return done{};
  });
  if (!st) {
    return {failure.empty() ? "report failed: " + st.error().message : failure, {}};
  }
  return {{}, result};
}

void add_report_jobs(job_kinds& kinds) {
  job_kind_options options;
  options.timeout = std::chrono::minutes(10);
  options.concurrency = 2;
  options.event_prefix = "report";
  kinds.add(job_kind, run_report, options);
}

}  // namespace sb::actors::reports
