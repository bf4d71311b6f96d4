/**
 * Audit records: one per batch, written after the response. They hold counts and ids only, never
 * bodies, headers or secrets (the key's id, not the key).
 */

import type { BatchOutcome } from "../batch/scheduler";
import { outcomeBytes } from "../batch/service";

export interface AuditRecord {
  createdAt: string;
  requestId: string;
  keyId: string;
  jobId: string | null;
  async: boolean;
  mode: string;
  steps: number;
  counts: { ok: number; failed: number; skipped: number; cancelled: number };
  durationMs: number;
  bytes: number;
}

export interface StoredAuditRecord extends AuditRecord {
  id: number;
}

/** What is known of a finished batch when its audit record is written. */
export interface BatchAuditEntry {
  requestId: string;
  keyId: string;
  /** The async job it ran as, or null for a synchronous batch. */
  jobId: string | null;
  steps: number;
  outcome: BatchOutcome;
}

/** Writes the audit record of one finished batch, sync or async. */
export function auditBatch(db: D1Database, { requestId, keyId, jobId, steps, outcome }: BatchAuditEntry): Promise<void> {
  return writeAudit(db, {
    createdAt: new Date().toISOString(),
    requestId,
    keyId,
    jobId,
    async: jobId !== null,
    mode: outcome.mode,
    steps,
    counts: outcome.counts,
    durationMs: outcome.durationMs,
    bytes: outcomeBytes(outcome),
  });
}

/** Inserts one audit record. */
export async function writeAudit(db: D1Database, record: AuditRecord): Promise<void> {
  await db
    .prepare(
      `INSERT INTO audit_log (created_at, request_id, key_id, job_id, async, mode, steps, ok, failed, skipped, cancelled, duration_ms, bytes)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`,
    )
    .bind(
      record.createdAt,
      record.requestId,
      record.keyId,
      record.jobId,
      record.async ? 1 : 0,
      record.mode,
      record.steps,
      record.counts.ok,
      record.counts.failed,
      record.counts.skipped,
      record.counts.cancelled,
      Math.round(record.durationMs),
      record.bytes,
    )
    .run();
}

interface AuditRow {
  id: number;
  created_at: string;
  request_id: string;
  key_id: string;
  job_id: string | null;
  async: number;
  mode: string;
  steps: number;
  ok: number;
  failed: number;
  skipped: number;
  cancelled: number;
  duration_ms: number;
  bytes: number;
}

/** Records created at or after `since`, oldest first, after the `cursor` id; `nextCursor` pages on. */
export async function listAudit(
  db: D1Database,
  { since, cursor = 0, limit }: { since: string; cursor?: number; limit: number },
): Promise<{ records: StoredAuditRecord[]; nextCursor: number | null }> {
  const { results } = await db
    .prepare("SELECT * FROM audit_log WHERE created_at >= ?1 AND id > ?2 ORDER BY id LIMIT ?3")
    .bind(since, cursor, limit + 1)
    .all<AuditRow>();
  const page = results.slice(0, limit);
  return {
    records: page.map((row) => ({
      id: row.id,
      createdAt: row.created_at,
      requestId: row.request_id,
      keyId: row.key_id,
      jobId: row.job_id,
      async: row.async === 1,
      mode: row.mode,
      steps: row.steps,
      counts: { ok: row.ok, failed: row.failed, skipped: row.skipped, cancelled: row.cancelled },
      durationMs: row.duration_ms,
      bytes: row.bytes,
    })),
    nextCursor: results.length > limit ? page.at(-1)!.id : null,
  };
}
