#pragma once

// Engagement data and the report queries over it: viewing events recorded
// once per client-chosen id, the aggregates of the report jobs (grouped in
// the database and read a batch at a time), and the chunks a finished report
// is stored in until it is downloaded.

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sb::persistence::engagement {

/// Stores one viewing event unless its workspace already holds one with the
/// same id; true when it was stored, false for a replay.
db_result<bool> record_view(connection& conn, const video_view_record& v);

/// Stores viewing events in one transaction (the caller's, when one is
/// open), skipping ids the workspace already holds or that repeat within
/// `views`; returns how many were stored.
db_result<int64_t> record_views(connection& conn, const std::vector<video_view_record>& views);

/// The ids among `video_ids` that name videos of the workspace.
db_result<std::set<std::string>> existing_videos(connection& conn, std::string_view workspace_id,
                                                 const std::vector<std::string>& video_ids);

/// What a report covers: one workspace's events with from <= occurred_at < to.
struct report_range {
  std::string workspace_id;
  int64_t from = 0;  ///< Unix ms, inclusive.
  int64_t to = 0;    ///< Unix ms, exclusive.
};

/// One video's engagement in a range.
struct engagement_row {
  std::string video_id;
  std::string title;
  std::optional<int64_t> duration_seconds;
  int64_t plays = 0;
  int64_t completions = 0;
  int64_t unique_contacts = 0;  ///< Distinct known contacts with any event.
  /// Mean over those contacts of the furthest second each reached, as a
  /// share of the duration (capped at 1); nullopt without a duration or contacts.
  std::optional<double> mean_share_watched;
};

/// One deal stage of the pipeline, with the engagement of its deals' contacts.
struct pipeline_row {
  std::string stage;
  int64_t deals = 0;
  int64_t amount_minor = 0;  ///< Sum of the stage's deal amounts (NULL amounts count 0).
  int64_t contacts = 0;      ///< Distinct contacts linked to the stage's deals.
  int64_t plays = 0;         ///< Plays in range by those contacts.
  int64_t completions = 0;   ///< Completions in range by those contacts.
};

/// Receives a batch of result rows; returning false stops the read.
template <class Row>
using batch_fn = std::function<bool(const std::vector<Row>&)>;

/// The number of rows the engagement report has (the workspace's videos).
db_result<int64_t> count_videos(connection& conn, std::string_view workspace_id);

/// Reads the engagement report, one row per video of the workspace ordered
/// by id, in batches of at most `batch` rows. Must run inside a transaction:
/// on PostgreSQL the rows come through a server-side cursor, so neither the
/// driver nor the caller ever holds the whole result.
db_status each_engagement(connection& conn, const report_range& range, size_t batch,
                          const batch_fn<engagement_row>& on_rows);

/// Reads the pipeline report, one row per deal stage that has deals, ordered
/// by stage; same batching and transaction rules as each_engagement.
db_status each_pipeline(connection& conn, const report_range& range, size_t batch,
                        const batch_fn<pipeline_row>& on_rows);

/// Deletes every stored chunk of a report.
db_status delete_chunks(connection& conn, std::string_view job_id);

/// Stores chunk `seq` (0, 1, ...) of a report.
db_status put_chunk(connection& conn, std::string_view job_id, int64_t seq,
                    const std::string& data);

/// Reads chunk `seq` of a report; nullopt past the last one.
db_result<std::optional<std::string>> chunk(connection& conn, std::string_view job_id, int64_t seq);

}  // namespace sb::persistence::engagement
