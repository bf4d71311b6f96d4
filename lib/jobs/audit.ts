/**
 * Audit records: one per batch, sent to the audit Queue after the response and written to D1 by its
 * consumer, one D1 batch per queue batch (audit-consumer.ts). They hold counts and ids only, never
 * bodies, headers or secrets (the key's id, not the key).
 */

import { z } from "zod";
import { describeError, type Logger } from "../base/log";
import { stepCountsSchema } from "../batch/outcome";
import type { BatchOutcome } from "../batch/scheduler";
import { outcomeBytes } from "../batch/service";

const count = z.number().int().nonnegative();

/**
 * The one audit record shape: its TS types and the queue consumer's validation derive from it
 * (functions/routes/audit.ts documents the record `GET /v1/audit` answers, type-checked against it).
 */
export const AuditRecordSchema = z.object({
  createdAt: z.iso.datetime(),
  requestId: z.string().min(1).max(255),
  keyId: z.string().min(1),
  jobId: z.string().min(1).nullable(),
  async: z.boolean(),
  mode: z.string().min(1),
  steps: count,
  counts: stepCountsSchema(count),
  durationMs: z.number().nonnegative().finite(),
  bytes: count,
});

export type AuditRecord = z.output<typeof AuditRecordSchema>;

/** A record as read back from D1: `id` is its row id (the paging cursor). */
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

/** An audit record as it travels through the `fanout-audit` Queue: `recordId`, given once, makes a redelivery harmless. */
export const QueuedAuditRecordSchema = AuditRecordSchema.extend({ recordId: z.string().min(1).max(255) });

export type QueuedAuditRecord = z.output<typeof QueuedAuditRecordSchema>;

/** The audit Queue's producer binding, as far as this file uses it. */
export type AuditQueue = Pick<Queue<QueuedAuditRecord>, "send">;

/** Where audit records go: the Queue when the Worker has the binding, D1 directly otherwise (and when the send fails). */
export interface AuditSinks {
  queue?: AuditQueue | undefined;
  db: D1Database;
  /** Says when a record was written directly because the Queue refused it. */
  logger: Logger;
}

/** The audit record of one finished batch, sync or async. */
export function auditRecordOf({ requestId, keyId, jobId, steps, outcome }: BatchAuditEntry): QueuedAuditRecord {
  return {
    recordId: crypto.randomUUID(),
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
  };
}

/**
 * Sends one record to the audit Queue (its consumer writes a queue batch as one D1 batch). Without the
 * binding, or when the send throws, the row is written to D1 right away so no record is lost; a refused
 * send leaves one warning line once the direct write has succeeded. Throws only when the direct write fails.
 */
export async function recordAudit(record: QueuedAuditRecord, { queue, db, logger }: AuditSinks): Promise<void> {
  if (!queue) return writeAudit(db, record);
  try {
    await queue.send(record, { contentType: "json" });
  } catch (sendError) {
    await writeAudit(db, record);
    logger.log("warn", "audit queue send failed; record written to D1 directly", { task: "audit", ...describeError(sendError) });
  }
}

/** Records the audit record of one finished batch (see recordAudit). */
export function auditBatch(entry: BatchAuditEntry, sinks: AuditSinks): Promise<void> {
  return recordAudit(auditRecordOf(entry), sinks);
}

/** The insert of one record; a record already written (same recordId, a redelivery) is ignored. */
export function insertAudit(db: D1Database, record: QueuedAuditRecord): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO audit_log (created_at, request_id, key_id, job_id, async, mode, steps, ok, failed, skipped, cancelled, duration_ms, bytes, record_id)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
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
      record.recordId,
    );
}

/** Inserts one record now. */
export async function writeAudit(db: D1Database, record: QueuedAuditRecord): Promise<void> {
  await insertAudit(db, record).run();
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
