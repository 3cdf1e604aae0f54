#pragma once

// Videos of a workspace (metadata; uploads are handled by the Vimeo integration).

#include "persistence/connection.hpp"
#include "persistence/records.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace sb::persistence::videos {

/// Inserts a video.
db_status insert(connection& conn, const video_record& v);

/// Finds one video.
db_result<std::optional<video_record>> find(connection& conn, std::string_view workspace_id,
                                            std::string_view id);

/// Lists videos newest first, optionally only those with `status`.
db_result<std::vector<video_record>> list(connection& conn, std::string_view workspace_id,
                                          const page& p, std::string_view status);

/// Writes `v` if the stored version is still `expected_version`.
db_result<bool> update(connection& conn, const video_record& v, int64_t expected_version);

/// Deletes a video; tells whether it existed.
db_result<bool> remove(connection& conn, std::string_view workspace_id, std::string_view id);

}  // namespace sb::persistence::videos
