import type { WaitUntil } from "../async/after";
import { sha256Hex } from "../base/bytes";
import { FanoutError, invalid } from "../base/errors";
import type { Logger } from "../base/log";
import { describeError } from "../base/log";
import { checkTarget } from "../base/policy";
import { type BatchRequestInput, deadlineOf } from "../batch/service";
import { claimIdempotencyKey, type IdempotencyKey, releaseIdempotencyKey } from "./idempotency";
import { type JobHost, runJobAfterResponse } from "./runner";
import type { StoredJob } from "./store";

/**
 * Accepting an async batch (202): the job is recorded and then run after the response, in waitUntil
 * when it can finish well inside that window, else by the Queue consumer. An Idempotency-Key makes
 * the submission safe to repeat.
 */

export interface JobSubmission {
  request: BatchRequestInput;
  callback?: { url: string; secret?: string };
  /** The API key id that submits (and alone may read) the job. */
  keyId: string;
  requestId: string;
  /** The Idempotency-Key header, if sent. */
  idempotencyKey?: string;
  /** The job's status URL, from its id (the route knows its own origin). */
  statusUrlOf: (id: string) => string;
}

export interface SubmitOptions {
  host: JobHost;
  idempotencyKeys: DurableObjectNamespace<IdempotencyKey>;
  waitUntil: WaitUntil;
  logger: Logger;
}

/** What the client is told: the job and where to poll it. */
export interface AcceptedJob {
  id: string;
  statusUrl: string;
}

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** The callback's URL is allow-listed and it has a secret to sign with; returns that secret (none without a callback). */
function webhookSecretOf(callback: JobSubmission["callback"], config: JobHost["config"]): string | undefined {
  if (!callback) return undefined;
  try {
    checkTarget(callback.url, config.UPSTREAM_ALLOWLIST);
  } catch (error) {
    throw invalid("callback.url", (error as FanoutError).detail);
  }
  const secret = callback.secret ?? config.WEBHOOK_SECRET;
  if (!secret) throw invalid("callback.secret", "required when WEBHOOK_SECRET is not configured");
  return secret;
}

/**
 * Claims the submission's Idempotency-Key for job `id` in one atomic Durable Object call: of any number
 * of simultaneous submissions, one creates the job. Returns the job an earlier submission created with
 * the same body, or undefined when this one is to create it.
 */
async function claimOrReplay(
  submission: JobSubmission & { idempotencyKey: string },
  candidate: { id: string; statusUrl: string },
  { host, idempotencyKeys }: SubmitOptions,
): Promise<AcceptedJob | undefined> {
  const { request, callback, keyId, idempotencyKey } = submission;
  if (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalid("Idempotency-Key", `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  const bodyHash = await sha256Hex(JSON.stringify(callback ? { ...request, callback } : request));
  const claim = await claimIdempotencyKey(idempotencyKeys, {
    keyId,
    key: idempotencyKey,
    candidate: { jobId: candidate.id, bodyHash, statusUrl: candidate.statusUrl },
    ttlSeconds: host.config.JOB_TTL_SECONDS,
  });
  if (claim.created) return undefined;
  if (claim.record.bodyHash !== bodyHash) {
    throw new FanoutError("unprocessable", "this Idempotency-Key was used with a different request body", {
      invalidParams: [{ name: "Idempotency-Key", reason: "reused with a different body" }],
    });
  }
  // Answered from the claim, not from KV: the winner may still be writing the job, whose id and URL are already fixed.
  return { id: claim.record.jobId, statusUrl: claim.record.statusUrl };
}

/**
 * Records a job and schedules it. The same key with the same body answers with the job it created
 * first (even while simultaneous submissions race); with a different body it is `unprocessable`.
 * @throws FanoutError `validation_failed` naming callback.url, callback.secret or Idempotency-Key.
 */
export async function submitJob(submission: JobSubmission, options: SubmitOptions): Promise<AcceptedJob> {
  const { request, callback, keyId, requestId, idempotencyKey } = submission;
  const { host, idempotencyKeys, waitUntil, logger } = options;
  const { config } = host;
  const webhookSecret = webhookSecretOf(callback, config);

  const id = crypto.randomUUID();
  const statusUrl = submission.statusUrlOf(id);
  if (idempotencyKey !== undefined) {
    const earlier = await claimOrReplay({ ...submission, idempotencyKey }, { id, statusUrl }, options);
    if (earlier) return earlier;
  }

  const job: StoredJob = {
    record: {
      id,
      keyId,
      requestId,
      state: "queued",
      runner: deadlineOf(request, config) <= config.ASYNC_WAITUNTIL_LIMIT_MS ? "waitUntil" : "queue",
      statusUrl,
      createdAt: new Date().toISOString(),
      ...(callback ? { callback: { url: callback.url, state: "pending" as const, attempts: [] } } : {}),
    },
    request,
    ...(webhookSecret ? { webhookSecret } : {}),
  };
  try {
    await host.store.put(job);
    if (job.record.runner === "queue") await host.queues.jobs.send({ kind: "run", jobId: id });
  } catch (error) {
    // The job was not created (or will never run): free the key so the client's retry creates it, rather than naming a dead job for JOB_TTL_SECONDS.
    if (idempotencyKey !== undefined) {
      await releaseIdempotencyKey(idempotencyKeys, { keyId, key: idempotencyKey, jobId: id }).catch((releaseError: unknown) =>
        logger.log("error", "could not release an Idempotency-Key", { jobId: id, ...describeError(releaseError) }),
      );
    }
    throw error;
  }
  if (job.record.runner === "waitUntil") runJobAfterResponse(id, host, { waitUntil, requestId, logger });
  return { id, statusUrl };
}
