// The product schema. Each step is written once in the portable notation of
// render_ddl; never edit a released step, add a new one.

#include "persistence/migrations.hpp"

namespace sb::persistence {

const std::vector<migration>& schema_migrations() {
  static const std::vector<migration> steps = {
      {1, "accounts",
       R"(CREATE TABLE workspaces (
  id {key} PRIMARY KEY,
  name {text} NOT NULL,
  created_at {bigint} NOT NULL
);
CREATE TABLE users (
  id {key} PRIMARY KEY,
  email {text} NOT NULL,
  email_lc {key} NOT NULL UNIQUE,
  name {text} NOT NULL,
  password_hash {text} NOT NULL,
  created_at {bigint} NOT NULL
);
CREATE TABLE members (
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  user_id {key} NOT NULL REFERENCES users(id),
  role {text} NOT NULL,
  created_at {bigint} NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, created_at);
CREATE TABLE sessions (
  token_hash {key} PRIMARY KEY,
  user_id {key} NOT NULL REFERENCES users(id),
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  created_at {bigint} NOT NULL,
  expires_at {bigint} NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at))"},
      {2, "crm",
       R"(CREATE TABLE contacts (
  id {key} PRIMARY KEY,
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  email {text} NOT NULL,
  email_lc {key} NOT NULL,
  first_name {text},
  first_lc {key},
  last_name {text},
  last_lc {key},
  phone {text},
  company {text},
  lifecycle_stage {text},
  version {bigint} NOT NULL,
  created_at {bigint} NOT NULL,
  updated_at {bigint} NOT NULL
);
CREATE UNIQUE INDEX contacts_by_email ON contacts (workspace_id, email_lc);
CREATE INDEX contacts_by_id ON contacts (workspace_id, id);
CREATE INDEX contacts_by_first ON contacts (workspace_id, first_lc);
CREATE INDEX contacts_by_last ON contacts (workspace_id, last_lc);
CREATE TABLE deals (
  id {key} PRIMARY KEY,
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  name {text} NOT NULL,
  stage {key} NOT NULL,
  amount_minor {bigint},
  currency {text},
  close_date {text},
  version {bigint} NOT NULL,
  created_at {bigint} NOT NULL,
  updated_at {bigint} NOT NULL
);
CREATE INDEX deals_by_id ON deals (workspace_id, id);
CREATE INDEX deals_by_stage ON deals (workspace_id, stage, id);
CREATE TABLE deal_contacts (
  deal_id {key} NOT NULL REFERENCES deals(id) ON DELETE CASCADE,
  contact_id {key} NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
  position {bigint} NOT NULL,
  PRIMARY KEY (deal_id, contact_id)
);
CREATE INDEX deal_contacts_by_contact ON deal_contacts (contact_id);
CREATE TABLE videos (
  id {key} PRIMARY KEY,
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  title {text} NOT NULL,
  description {text},
  status {key} NOT NULL,
  version {bigint} NOT NULL,
  created_at {bigint} NOT NULL,
  updated_at {bigint} NOT NULL
);
CREATE INDEX videos_by_id ON videos (workspace_id, id);
CREATE INDEX videos_by_status ON videos (workspace_id, status, id))"},
      // The durable job queue (persistence/repositories/jobs.hpp). One
      // 'available' state: a scheduled job is an available one whose run_at
      // is still ahead. The partial indexes use the same syntax on SQLite and
      // PostgreSQL, and the state literals in their WHERE clauses are the ones
      // the repository's queries spell, so both planners pick them.
      {3, "jobs",
       R"(CREATE TABLE jobs (
  id {key} PRIMARY KEY,
  workspace_id {key},
  kind {key} NOT NULL,
  payload {text} NOT NULL,
  state {key} NOT NULL,
  priority {bigint} NOT NULL,
  run_at {bigint} NOT NULL,
  attempt {bigint} NOT NULL,
  max_attempts {bigint} NOT NULL,
  lease_owner {text},
  lease_expires_at {bigint},
  idempotency_key {key},
  created_at {bigint} NOT NULL,
  updated_at {bigint} NOT NULL,
  completed_at {bigint},
  last_error {text},
  dead_reason {text}
);
CREATE INDEX jobs_claimable ON jobs (kind, priority, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_idempotency ON jobs (kind, idempotency_key)
  WHERE idempotency_key IS NOT NULL AND state NOT IN ('dead', 'cancelled');
CREATE INDEX jobs_dead ON jobs (kind, id) WHERE state = 'dead';
CREATE INDEX jobs_by_state ON jobs (state, kind, run_at);
CREATE TABLE job_errors (
  job_id {key} NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  position {bigint} NOT NULL,
  attempt {bigint} NOT NULL,
  at {bigint} NOT NULL,
  error {text} NOT NULL,
  PRIMARY KEY (job_id, position)
))"},
      // What the debug.effect job kind writes, one row per job, in the same
      // transaction that completes the job: the crash tests count these rows
      // to prove each job's effect happened exactly once.
      {4, "debug_job_effects",
       R"(CREATE TABLE debug_job_effects (
  job_id {key} PRIMARY KEY,
  applied_at {bigint} NOT NULL
))"},
      // What a job tells its producer: progress while it runs, a JSON result
      // when it completes, and when it finished (completed, dead or
      // cancelled). Workspaces list their own jobs by kind, newest first.
      {5, "job_progress",
       R"(ALTER TABLE jobs ADD COLUMN progress_done {bigint};
ALTER TABLE jobs ADD COLUMN progress_total {bigint};
ALTER TABLE jobs ADD COLUMN result {text};
CREATE INDEX jobs_by_workspace ON jobs (workspace_id, kind, id))"},
      // Viewing events (POST /v1/videos/{id}/views, /v1/activity/batch) and
      // the stored results of report jobs. A client picks each event's id, so
      // a retried event hits the primary key and is ignored. Reports scan a
      // workspace's events by time; deleting a video deletes its events.
      {6, "engagement",
       R"(CREATE TABLE video_views (
  workspace_id {key} NOT NULL,
  id {key} NOT NULL,
  video_id {key} NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  contact_id {key},
  event {key} NOT NULL,
  seconds_watched {real} NOT NULL,
  occurred_at {bigint} NOT NULL,
  created_at {bigint} NOT NULL,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX video_views_by_time ON video_views (workspace_id, occurred_at);
CREATE INDEX video_views_by_video ON video_views (video_id, occurred_at);
ALTER TABLE videos ADD COLUMN duration_seconds {bigint};
CREATE TABLE report_chunks (
  job_id {key} NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq {bigint} NOT NULL,
  data {text} NOT NULL,
  PRIMARY KEY (job_id, seq)
))"},
      // Streamed uploads (a CSV import's body), stored as it arrives in
      // chunks of about 256 KiB so that an accepted upload survives a crash.
      // The ODBC layer binds text only, so each chunk is kept base64-encoded.
      // A 'receiving' upload becomes 'complete' in the transaction that
      // queues the job which reads it; that job deletes it when it is done.
      {7, "imports",
       R"(CREATE TABLE uploads (
  id {key} PRIMARY KEY,
  workspace_id {key} NOT NULL REFERENCES workspaces(id),
  user_id {key} NOT NULL REFERENCES users(id),
  state {key} NOT NULL,
  bytes {bigint} NOT NULL,
  chunks {bigint} NOT NULL,
  created_at {bigint} NOT NULL,
  updated_at {bigint} NOT NULL
);
CREATE INDEX uploads_by_state ON uploads (state, created_at);
CREATE TABLE upload_chunks (
  upload_id {key} NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  seq {bigint} NOT NULL,
  data {text} NOT NULL,
  PRIMARY KEY (upload_id, seq)
))"},
      // Finished jobs are deleted after a retention period, oldest first.
      {8, "job_retention",
       R"(CREATE INDEX jobs_finished ON jobs (completed_at)
  WHERE state IN ('completed', 'cancelled'))"},
  };
  return steps;
}

}  // namespace sb::persistence
