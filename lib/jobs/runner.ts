import { runAfterResponse, type WaitUntil } from "../async/after";
import type { Config } from "../base/config";
import { publicDetail, toFanoutError } from "../base/errors";
import { WAIT_UNTIL_WINDOW_MS } from "../base/limits";
import { createLogger, describeError, type Logger } from "../base/log";
import type { InProcessHandler } from "../batch/in-process";
import { type BatchHost, batchBindings, executeBatch, planBatch, publicResult } from "../batch/service";
import { type AuditQueue, auditBatch } from "./audit";
import { JobStore, type StoredJob } from "./store";
import { deliverWebhook, nextDelaySeconds } from "./webhooks";

/**
 * Async jobs end to end: run the batch, record the result, write the audit record, and deliver the
 * signed callback. The same functions serve waitUntil (short jobs) and the Queue consumer (long
 * jobs and callback retries), so the caller cannot tell which ran its job except by speed.
 */

export type JobMessage = { kind: "run"; jobId: string } | { kind: "deliver"; jobId: string };

/** How a delivery attempt left the callback: done (delivered or failed for good), retry later, or dead-lettered. */
export type DeliveryStep = { next: "done" } | { next: "retry"; delaySeconds: number } | { next: "dead" };

/** What running and delivering jobs needs: the batch host, the job store, the audit database and queue, and the job queues. */
export interface JobHost extends BatchHost {
  store: JobStore;
  db: D1Database;
  /** The audit Queue (absent in a deployment without it: records are then written to `db` directly). */
  audit?: AuditQueue | undefined;
  queues: { jobs: Queue<JobMessage>; deadLetters: Queue<JobMessage> };
}

/** The job host of the Worker's `Env`: everything a job touches comes from its bindings and configuration. */
export function jobHost(env: Env, config: Config, serveInProcess: InProcessHandler): JobHost {
  return {
    bindings: batchBindings(env),
    config,
    serveInProcess,
    store: new JobStore(env.KV, config.JOB_TTL_SECONDS),
    db: env.DB,
    audit: env.AUDIT as AuditQueue | undefined,
    queues: { jobs: env.JOBS as Queue<JobMessage>, deadLetters: env.JOBS_DLQ as Queue<JobMessage> },
  };
}

/** Runs a queued job once; a job that already started is left alone (a redelivered message). */
export async function runJob(jobId: string, host: JobHost): Promise<StoredJob | null> {
  const { store } = host;
  const job = await store.get(jobId);
  if (job?.record.state !== "queued") return job;
  const { record } = job;
  record.state = "running";
  record.startedAt = new Date().toISOString();
  await store.put(job);

  const logger = createLogger(host.config.LOG_LEVEL, { requestId: record.requestId, jobId });
  try {
    const plan = planBatch(job.request, host.config);
    const outcome = await executeBatch(job.request, plan, host);
    record.state = outcome.conditionMet ? "succeeded" : "failed";
    record.result = publicResult(outcome);
    if (host.config.AUDIT_ENABLED) {
      const entry = { requestId: record.requestId, keyId: record.keyId, jobId, steps: plan.steps.length, outcome };
      await auditBatch(entry, { queue: host.audit, db: host.db, logger }).catch((error: unknown) =>
        logger.log("error", "post-response task failed", { task: "audit", ...describeError(error) }),
      );
    }
  } catch (error) {
    const failure = toFanoutError(error);
    record.state = "failed";
    record.error = { code: failure.code, message: publicDetail(failure, record.requestId) };
    logger.log("error", "job failed", { ...describeError(error) });
  }
  record.finishedAt = new Date().toISOString();
  await store.put(job);
  return job;
}

function callbackPayload(job: StoredJob, maxBytes: number): string {
  const { record } = job;
  const data = { jobId: record.id, state: record.state, statusUrl: record.statusUrl, finishedAt: record.finishedAt, error: record.error };
  const full = JSON.stringify({ type: "batch.completed", timestamp: new Date().toISOString(), data: { ...data, result: record.result } });
  if (new TextEncoder().encode(full).byteLength <= maxBytes) return full;
  const summary = record.result as { completed?: boolean; counts?: unknown; durationMs?: number } | undefined;
  return JSON.stringify({
    type: "batch.completed",
    timestamp: new Date().toISOString(),
    data: {
      ...data,
      truncated: true,
      summary: { completed: summary?.completed, counts: summary?.counts, durationMs: summary?.durationMs },
    },
  });
}

/** One delivery attempt of a finished job's callback, recorded on the job. */
export async function deliverCallback(jobId: string, host: JobHost): Promise<DeliveryStep> {
  const { store, config } = host;
  const job = await store.get(jobId);
  const callback = job?.record.callback;
  if (!job || !callback || callback.state !== "pending" || !job.webhookSecret) return { next: "done" };
  const attempt = callback.attempts.length + 1;
  const result = await deliverWebhook({
    url: callback.url,
    id: `msg_${jobId}`,
    body: callbackPayload(job, config.CALLBACK_MAX_BYTES),
    secret: job.webhookSecret,
    allowList: config.UPSTREAM_ALLOWLIST,
    timeoutMs: config.CALLBACK_TIMEOUT_MS,
  });
  const exhausted = result.outcome === "retry" && attempt >= config.CALLBACK_MAX_ATTEMPTS;
  const delaySeconds =
    result.outcome === "retry" && !exhausted
      ? nextDelaySeconds(attempt, { maxDelaySeconds: config.CALLBACK_MAX_DELAY_SECONDS, retryAfterSeconds: result.retryAfterSeconds })
      : undefined;
  callback.attempts.push({
    attempt,
    at: new Date().toISOString(),
    outcome: exhausted ? "failed" : result.outcome,
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(result.error ? { error: exhausted ? `${result.error}; gave up after ${attempt} attempts` : result.error } : {}),
    ...(delaySeconds !== undefined ? { nextDelaySeconds: delaySeconds } : {}),
  });
  if (result.outcome === "delivered") callback.state = "delivered";
  else if (result.outcome === "failed" || exhausted) callback.state = "failed";
  await store.put(job);
  if (exhausted) return { next: "dead" };
  return delaySeconds !== undefined ? { next: "retry", delaySeconds } : { next: "done" };
}

/** After a job ends in waitUntil: the first delivery now if the window allows, else from the queue. */
export async function deliverAfterJob(jobId: string, host: JobHost, windowLeftMs: number): Promise<void> {
  if (windowLeftMs < host.config.CALLBACK_TIMEOUT_MS) {
    await host.queues.jobs.send({ kind: "deliver", jobId });
    return;
  }
  const step = await deliverCallback(jobId, host);
  if (step.next === "retry") await host.queues.jobs.send({ kind: "deliver", jobId }, { delaySeconds: step.delaySeconds });
  if (step.next === "dead") await host.queues.deadLetters.send({ kind: "deliver", jobId });
}

/** Runs a job (and its first callback delivery) after the response, inside the waitUntil window. */
export function runJobAfterResponse(
  jobId: string,
  host: JobHost,
  { waitUntil, requestId, logger }: { waitUntil: WaitUntil; requestId: string; logger: Logger },
): void {
  const started = Date.now();
  runAfterResponse(
    async () => {
      const job = await runJob(jobId, host);
      if (job?.record.callback) await deliverAfterJob(jobId, host, WAIT_UNTIL_WINDOW_MS - (Date.now() - started));
    },
    { waitUntil, task: "job", requestId, logger, timeoutMs: WAIT_UNTIL_WINDOW_MS },
  );
}
