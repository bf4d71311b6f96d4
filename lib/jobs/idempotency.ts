import { DurableObject } from "cloudflare:workers";
import { sha256Hex } from "../base/bytes";

/**
 * Idempotency-Key claims, one Durable Object per (API key id, Idempotency-Key). KV has no
 * compare-and-set, so two simultaneous first submissions could both see "no record" there and both
 * create a job. A Durable Object is a single instance that runs one event at a time, and its SQLite
 * storage is strongly consistent: the claim below reads and writes in one synchronous transaction,
 * so exactly one submission creates the job and every other one is told which job that is.
 *
 * A claim expires with its job (JOB_TTL_SECONDS): a record past `expiresAt` is treated as absent the
 * moment it expires (the guarantee), and an alarm at `expiresAt` deletes the object's storage so
 * nothing is kept for keys never seen again (the cleanup; alarms may run late, which is harmless).
 */

/** What a claim holds: the job the key names and the hash of the body that created it. */
export interface IdempotencyRecord {
  jobId: string;
  bodyHash: string;
  statusUrl: string;
}

/** `created`: this submission owns the key and must create `record.jobId`; otherwise `record` is the job that owns it. */
export interface ClaimResult {
  created: boolean;
  record: IdempotencyRecord;
}

interface ClaimRow extends Record<string, SqlStorageValue> {
  job_id: string;
  body_hash: string;
  status_url: string;
  expires_at: number;
}

/** The Durable Object that holds one Idempotency-Key's claim (see `claimIdempotencyKey`). */
export class IdempotencyKey extends DurableObject {
  #schemaReady = false;

  /** Creates the table on first use, and again after the expiry alarm's deleteAll() dropped it while this instance lived on. */
  #sql(): SqlStorage {
    const { sql } = this.ctx.storage;
    if (!this.#schemaReady) {
      // At most one row: this object IS one key. sql.exec is synchronous, so nothing runs in between.
      sql.exec(
        "CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), job_id TEXT NOT NULL, body_hash TEXT NOT NULL, status_url TEXT NOT NULL, expires_at INTEGER NOT NULL)",
      );
      this.#schemaReady = true;
    }
    return sql;
  }

  /** If the key is free (never claimed, or its claim expired), record `candidate` and answer created; else answer the existing record. */
  async claim(candidate: IdempotencyRecord, ttlSeconds: number): Promise<ClaimResult> {
    const now = Date.now();
    const sql = this.#sql();
    const result = this.ctx.storage.transactionSync((): ClaimResult => {
      const existing = sql.exec<ClaimRow>("SELECT job_id, body_hash, status_url, expires_at FROM claim WHERE id = 1").toArray()[0];
      if (existing && existing.expires_at > now) {
        return { created: false, record: { jobId: existing.job_id, bodyHash: existing.body_hash, statusUrl: existing.status_url } };
      }
      sql.exec(
        "INSERT OR REPLACE INTO claim (id, job_id, body_hash, status_url, expires_at) VALUES (1, ?, ?, ?, ?)",
        candidate.jobId,
        candidate.bodyHash,
        candidate.statusUrl,
        now + ttlSeconds * 1000,
      );
      return { created: true, record: candidate };
    });
    // The decision above is already made and stored; the alarm only cleans up after expiry.
    if (result.created) await this.ctx.storage.setAlarm(now + ttlSeconds * 1000);
    return result;
  }

  /** Frees the key if `jobId` still owns it: the submission that claimed it could not create the job, so a retry may. */
  release(jobId: string): void {
    this.#sql().exec("DELETE FROM claim WHERE id = 1 AND job_id = ?", jobId);
  }

  override async alarm(): Promise<void> {
    const row = this.#sql().exec<Pick<ClaimRow, "expires_at">>("SELECT expires_at FROM claim WHERE id = 1").toArray()[0];
    if (row && row.expires_at > Date.now()) {
      await this.ctx.storage.setAlarm(row.expires_at);
      return;
    }
    // deleteAll() frees the object's storage entirely (the table too), so an unused key costs nothing.
    await this.ctx.storage.deleteAll();
    this.#schemaReady = false;
  }
}

export interface ClaimOptions {
  /** The API key id: the same Idempotency-Key under two API keys is two independent claims. */
  keyId: string;
  /** The Idempotency-Key header, 1 to 255 characters (checked by the route, which names the header). */
  key: string;
  /** The job this submission would create if it wins the key. */
  candidate: IdempotencyRecord;
  /** How long the claim holds: the job's own TTL, so the key never outlives the job it names. */
  ttlSeconds: number;
}

function stubFor(namespace: DurableObjectNamespace<IdempotencyKey>, keyId: string, keyHash: string) {
  return namespace.get(namespace.idFromName(`${keyId}:${keyHash}`));
}

/**
 * Claims an Idempotency-Key atomically: exactly one of any number of simultaneous callers gets
 * `created: true` and must create `candidate.jobId`; every other caller gets the winner's record.
 * The key is hashed so its text is never an object name.
 */
export async function claimIdempotencyKey(
  namespace: DurableObjectNamespace<IdempotencyKey>,
  { keyId, key, candidate, ttlSeconds }: ClaimOptions,
): Promise<ClaimResult> {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
  if (!keyId) throw new TypeError("keyId is required");
  const keyHash = await sha256Hex(key);
  const result = await stubFor(namespace, keyId, keyHash).claim(candidate, ttlSeconds);
  return { created: result.created, record: { ...result.record } };
}

/** Frees a key claimed by `jobId` (a no-op if another job owns it now). For a submission that failed before its job existed. */
export async function releaseIdempotencyKey(
  namespace: DurableObjectNamespace<IdempotencyKey>,
  { keyId, key, jobId }: { keyId: string; key: string; jobId: string },
): Promise<void> {
  await stubFor(namespace, keyId, await sha256Hex(key)).release(jobId);
}
