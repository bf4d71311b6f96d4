-- One row per batch (sync or async), written after the response. Never bodies, headers or secrets.
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  request_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  job_id TEXT,
  async INTEGER NOT NULL,
  mode TEXT NOT NULL,
  steps INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  cancelled INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS audit_log_created_at ON audit_log(created_at);
