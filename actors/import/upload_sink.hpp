#pragma once

// The receiving end of POST /v1/contacts/import: the gateway streams the CSV
// body into a sink piece by piece. The sink stores it in chunks of about
// 256 KiB on the db pool (the gateway reads on only after a chunk is
// committed), and when the body is complete it marks the upload complete and
// queues the import job in one transaction, then answers 202 with the job.

#include "actors/api.hpp"
#include "actors/services.hpp"
#include "actors/session_info.hpp"

#include <memory>
#include <string>

namespace sb::actors::imports {

/// Bytes gathered before they are stored as one chunk.
constexpr size_t upload_chunk_bytes = 256 * 1024;

/// Opens the upload of `call` (route contacts.import) for a session: 415 for
/// a body that is not CSV (text/csv, application/csv or
/// application/octet-stream), otherwise a sink handed to call.accept_upload.
void open_import_upload(const std::shared_ptr<services>& svc, const session_info& session,
                        api_call& call);

/// A sink that stores an upload by `user_id` in `workspace_id`, queues its
/// import when finished and answers through `reply`. Thread-safe; its calls
/// return at once and the work happens in an actor of its own.
std::shared_ptr<body_sink> make_upload_sink(const std::shared_ptr<services>& svc,
                                            std::string workspace_id, std::string user_id,
                                            reply_handle reply);

}  // namespace sb::actors::imports
