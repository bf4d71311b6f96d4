-- Audit records arrive through the fanout-audit Queue, which delivers at least once. Each record carries the
-- id its producer gave it (record_id), and the consumer inserts with INSERT OR IGNORE, so a redelivered record
-- is written once. Not request_id: a client may send its own X-Request-Id, so two batches can share one.
-- Rows written before this migration keep NULL, which a UNIQUE index treats as distinct.
ALTER TABLE audit_log ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_record_id ON audit_log(record_id);
