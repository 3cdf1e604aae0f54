#pragma once

// Streamed uploads (the body of a CSV import), stored chunk by chunk as they
// arrive, so that an upload the server accepted survives a crash. An upload
// is 'receiving' until its last chunk is stored, then 'complete'; whoever
// consumes it (the import job) deletes it afterwards.
//
// Chunks hold raw bytes; they are stored base64-encoded because the ODBC
// layer binds text parameters only and PostgreSQL text cannot hold every
// byte (NUL, invalid UTF-8).

#include "persistence/connection.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sb::persistence::uploads {

/// Where an upload is: still arriving, or whole.
enum class upload_state { receiving, complete };

/// Names a state ("receiving", "complete").
const char* to_string(upload_state s);

/// A stored upload, without its data.
struct upload_record {
  std::string id;
  std::string workspace_id;
  std::string user_id;
  upload_state state = upload_state::receiving;
  int64_t bytes = 0;   ///< Bytes in all chunks; final once complete.
  int64_t chunks = 0;  ///< Chunks stored, numbered 0 .. chunks - 1; final once complete.
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

/// Stores a new, empty, receiving upload.
db_status create(connection& conn, const upload_record& u);

/// Stores chunk `seq` of an upload. Chunks are numbered from 0 without gaps;
/// storing a number twice is a conflict.
db_status add_chunk(connection& conn, std::string_view upload_id, int64_t seq,
                    std::string_view data);

/// Marks a receiving upload complete with its final size and chunk count;
/// false if it is not receiving (gone, or already complete).
db_result<bool> complete(connection& conn, std::string_view upload_id, int64_t bytes,
                         int64_t chunks, int64_t now);

/// Finds an upload.
db_result<std::optional<upload_record>> find(connection& conn, std::string_view id);

/// Reads chunk `seq` of an upload, decoded; nullopt when there is none.
db_result<std::optional<std::string>> chunk(connection& conn, std::string_view upload_id,
                                            int64_t seq);

/// Deletes an upload and its chunks; tells whether it existed. Joins the
/// caller's transaction when one is open.
db_result<bool> remove(connection& conn, std::string_view id);

/// Deletes receiving uploads created before `before` (Unix ms), left by
/// a client that vanished or a server that died mid-upload; at most `limit`,
/// returns how many.
db_result<int64_t> remove_abandoned(connection& conn, int64_t before, int64_t limit = 100);

/// Deletes complete uploads that no job of `job_kind` still needs: none that
/// is queued, running or dead (a dead job may be replayed) names the upload's
/// id in its payload. The upload of a cancelled job, or of a job purged after
/// its retention, goes. At most `limit`; returns how many.
db_result<int64_t> remove_unclaimed(connection& conn, std::string_view job_kind,
                                    int64_t limit = 100);

}  // namespace sb::persistence::uploads
