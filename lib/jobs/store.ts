import { toHex } from "../base/bytes";
import type { DeliveryOutcome } from "./webhooks";

/**
 * Async batch jobs, kept in KV under their id with a TTL: queued -> running -> succeeded | failed,
 * with the batch result once done and every callback delivery attempt. Only the API key that
 * created a job may read it.
 */

export type JobState = "queued" | "running" | "succeeded" | "failed";

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
  runner: "waitUntil" | "queue";
  statusUrl: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  result?: unknown;
  error?: { code: string; message: string };
  callback?: { url: string; state: "pending" | "delivered" | "failed"; attempts: DeliveryAttempt[] };
}

/** What is stored: the public record, plus what the runner needs and a client must never see. */
export interface StoredJob {
  record: JobRecord;
  request: unknown;
  webhookSecret?: string;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(new Uint8Array(digest));
}

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

  put(job: StoredJob): Promise<void> {
    return this.#kv.put(`job:${job.record.id}`, JSON.stringify(job), { expirationTtl: this.#ttlSeconds });
  }
}
