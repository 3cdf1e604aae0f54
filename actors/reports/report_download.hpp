#pragma once

// The body of GET /v1/reports/{id}/download: a finished report's stored
// chunks, read one per piece on the db worker pool, so that neither the
// gateway's threads block nor the whole report sits in memory.

#include "actors/api.hpp"
#include "actors/services.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sb::actors::reports {

/// Streams chunks 0 .. chunks - 1 of a report job.
class report_download : public body_source {
 public:
  /// A download of the `chunks` chunks stored for `job_id`.
  report_download(std::shared_ptr<services> svc, std::string job_id, int64_t chunks);

  /// Reads the next chunk on the db pool and hands it to `done` from there.
  void next(piece_handler done) override;

  /// Stops answering: a piece still being read is dropped.
  void cancel() override;

 private:
  std::shared_ptr<services> svc_;
  std::string job_id_;
  int64_t chunks_;
  int64_t next_ = 0;  // Only next() touches it, one call at a time.
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace sb::actors::reports
