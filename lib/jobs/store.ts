import type { ErrorCode } from "../base/errors";
import type { BatchRequestInput, PublicBatchResult } from "../batch/service";
import type { DeliveryOutcome } from "./webhooks";

/**
 * Async batch jobs, kept in KV under their id with a TTL: queued -> running -> succeeded | failed,
 * with the batch result once done and every callback delivery attempt. Only the API key that
 * created a job may read it.
 */

export const JOB_STATES = ["queued", "running", "succeeded", "failed"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const JOB_RUNNERS = ["waitUntil", "queue"] as const;
export const CALLBACK_STATES = ["pending", "delivered", "failed"] as const;

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  outcome: DeliveryOutcome;
  status?: number;
  error?: string;
  nextDelaySeconds?: number;
}

export interface JobRecord {
  id: string;
  keyId: string;
  requestId: string;
  state: JobState;
  runner: (typeof JOB_RUNNERS)[number];
  statusUrl: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The batch result (as POST /v1/batch answers it) once the job is done. */
  result?: PublicBatchResult;
  error?: { code: ErrorCode; message: string };
  callback?: { url: string; state: (typeof CALLBACK_STATES)[number]; attempts: DeliveryAttempt[] };
}

/** A job as its owner sees it. */
export type PublicJob = Omit<JobRecord, "keyId" | "requestId">;

/** What is stored: the public record, plus what the runner needs and a client must never see. */
export interface StoredJob {
  record: JobRecord;
  /** The batch as the route validated it (stored parsed: the runner never parses it again). */
  request: BatchRequestInput;
  webhookSecret?: string;
}

/** The job records in KV, each kept for `ttlSeconds`. */
export class JobStore {
  readonly #kv: KVNamespace;
  readonly #ttlSeconds: number;

  constructor(kv: KVNamespace, ttlSeconds: number) {
    this.#kv = kv;
    this.#ttlSeconds = ttlSeconds;
  }

  get(id: string): Promise<StoredJob | null> {
    return this.#kv.get<StoredJob>(`job:${id}`, "json");
  }

  /**
   * The public view of a job for the API key that created it; null for no job or another key's job
   * (indistinguishable on purpose: a 404, never a 403).
   */
  async getFor(id: string, keyId: string): Promise<PublicJob | null> {
    const job = await this.get(id);
    if (!job || job.record.keyId !== keyId) return null;
    const { keyId: _keyId, requestId: _requestId, ...visible } = job.record;
    return visible;
  }

  put(job: StoredJob): Promise<void> {
    return this.#kv.put(`job:${job.record.id}`, JSON.stringify(job), { expirationTtl: this.#ttlSeconds });
  }
}
