import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { stream, streamSSE } from "hono/streaming";
import { setMetric } from "hono/timing";
import { runAfterResponse } from "../lib/async/after";
import type { BatchOutcome, StepResult } from "../lib/batch/scheduler";
import { FanoutError } from "../lib/base/errors";
import { claimIdempotencyKey, releaseIdempotencyKey } from "../lib/jobs/idempotency";
import { sha256Hex, type StoredJob } from "../lib/jobs/store";
import { describeError } from "../lib/base/log";
import type { Plan } from "../lib/batch/plan";
import { checkTarget } from "../lib/base/policy";
import { requireApiKey } from "./auth";
import { deadlineOf, executeBatch, planBatch, publicResult, summaryOf, type BatchHost, type InProcessHandler } from "../lib/batch/service";
import { BatchRequest, BatchResponse, JobAccepted, type BatchRequestBody } from "./batch-schema";
import type { AppEnv } from "./env";
import { auditBatch, deliverAfterJob, jobStore, runJob, type JobMessage } from "../lib/jobs/runner";
import { problemResponses } from "./problem";
import { createRouter, untypedResponse } from "./router";
import { markAsLiveStream } from "./streaming";

/**
 * POST /v1/batch: one request describing many I/O steps, run with the highest safe concurrency,
 * answered with every step's outcome, streamed (NDJSON or SSE) as each step settles, or accepted
 * (202) and run after the response with a signed callback.
 */

/** How long after a response waitUntil work may still run; a job's first callback must fit in it. */
const WAIT_UNTIL_WINDOW_MS = 28_000;

function streamFormat(accept: string | undefined): "ndjson" | "sse" | undefined {
  if (accept?.includes("application/x-ndjson")) return "ndjson";
  if (accept?.includes("text/event-stream")) return "sse";
  return undefined;
}

function prefersAsync(prefer: string | undefined): boolean {
  return (prefer ?? "").split(",").some((token) => token.trim().toLowerCase() === "respond-async");
}

function hostOf(c: Context<AppEnv>, inProcess: InProcessHandler, signal?: AbortSignal): BatchHost {
  return { env: c.env, config: c.var.config, executionCtx: c.executionCtx, inProcess, traceparent: c.req.header("traceparent"), signal };
}

function describe(result: StepResult): string {
  return result.ok ? `ok ${result.status ?? ""}`.trim() : (result.error?.code ?? "failed");
}

/** A stream that reads `source` only when it is read itself (highWaterMark 0), so nothing is in flight when its reader stops. */
function passThrough(source: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      pull: async (out) => {
        const { done, value } = await source.read();
        if (done) out.close();
        else out.enqueue(value);
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** Reads the rest of a refused body and drops it; a client that goes away meanwhile ends it too. */
async function drain(source: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    while (!(await source.read()).done);
  } catch {
    // the client went away: nothing left to read
  }
}

export function createBatchRoutes(inProcess: InProcessHandler) {
  const batch = createRouter();

  batch.use("*", requireApiKey);
  batch.use("*", (c, next) => {
    // bodyLimit stops reading a chunked body at the limit and leaves it half-read. Answering then breaks `wrangler dev`'s
    // proxy: the NEXT request gets 503 "Your worker restarted mid-request" (cancelling the body does not help; reading it
    // to the end does). So bodyLimit reads through a pass-through, and onError drains the source before the 413 goes out.
    const source = c.req.raw.headers.has("transfer-encoding") ? c.req.raw.body?.getReader() : undefined;
    if (source) c.req.raw = new Request(c.req.raw, { body: passThrough(source) });
    return bodyLimit({
      maxSize: c.var.config.MAX_BODY_BYTES,
      onError: async () => {
        if (source) await drain(source);
        const limit = c.var.config.MAX_BODY_BYTES;
        throw new FanoutError("payload_too_large", `the request body exceeds ${limit} bytes (MAX_BODY_BYTES)`, {
          invalidParams: [{ name: "body", reason: `at most ${limit} bytes` }],
        });
      },
    })(c, next);
  });

  batch.openapi(
    createRoute({
      method: "post",
      path: "/",
      summary: "Run many I/O steps concurrently and answer with every outcome",
      description:
        "Answers JSON by default (200 when the batch ran; 502 when the mode's condition failed). With `Accept: application/x-ndjson` each result is one line the moment its step settles, then a summary line; with `Accept: text/event-stream` the same as SSE events `result` and `summary`. With a `callback` or `Prefer: respond-async` it answers 202 at once and runs the batch after the response; `Idempotency-Key` makes that submission safe to repeat.",
      security: [{ bearer: [] }],
      request: { body: { required: true, content: { "application/json": { schema: BatchRequest } } } },
      responses: {
        200: { description: "The batch ran (some steps may have failed)", content: { "application/json": { schema: BatchResponse } } },
        202: { description: "Accepted: the batch runs after the response; poll statusUrl or await the callback", content: { "application/json": { schema: JobAccepted } } },
        502: { description: "The mode's condition failed (all: a step failed; any/race: no success)", content: { "application/json": { schema: BatchResponse } } },
        ...problemResponses(400, 401, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const plan = planBatch(body, c.var.config);
      if (body.callback || prefersAsync(c.req.header("prefer"))) return untypedResponse(await submitJob(c, body, inProcess));

      // A client disconnect (the request's signal) aborts the deadline, and with it every step.
      const host = hostOf(c, inProcess, c.req.raw.signal);
      const format = streamFormat(c.req.header("accept"));
      if (format) return untypedResponse(streamBatch(c, format, body, plan, host));
      const outcome = await executeBatch(body, plan, host);
      scheduleAudit(c, host, plan, outcome);
      for (const [id, result] of Object.entries(outcome.results)) setMetric(c, `step-${id}`, result.durationMs, describe(result));
      return c.json(publicResult(outcome), outcome.conditionMet ? 200 : 502);
    },
  );

  return batch;
}

function scheduleAudit(c: Context<AppEnv>, host: BatchHost, plan: Plan, outcome: BatchOutcome): void {
  if (!host.config.AUDIT_ENABLED) return;
  runAfterResponse(
    c.executionCtx,
    () => auditBatch(host, { requestId: c.var.requestId, keyId: c.var.apiKeyId!, jobId: null, steps: plan.steps.length, outcome }),
    { task: "audit", requestId: c.var.requestId, logger: c.var.logger },
  );
}

function streamBatch(c: Context<AppEnv>, format: "ndjson" | "sse", body: BatchRequestBody, plan: Plan, host: BatchHost): Response {
  markAsLiveStream(c);
  // Writes are chained so lines keep settlement order even though onSettle cannot await.
  const run = async (write: (kind: "result" | "summary", data: Record<string, unknown>, id?: string) => Promise<void>) => {
    let writing = Promise.resolve();
    const outcome = await executeBatch(body, plan, host, (id, result) => {
      writing = writing.then(() => write("result", { id, ...result }, id));
    });
    await writing;
    await write("summary", summaryOf(outcome));
    scheduleAudit(c, host, plan, outcome);
  };
  if (format === "sse") {
    return streamSSE(c, (out) => run((event, data, id) => out.writeSSE({ event, data: JSON.stringify(data), ...(id ? { id } : {}) })));
  }
  c.header("content-type", "application/x-ndjson; charset=utf-8");
  return stream(c, (out) =>
    run(async (type, data) => {
      await out.write(`${JSON.stringify({ type, ...data })}\n`);
    }),
  );
}

function accepted(c: Context<AppEnv>, { id, statusUrl }: { id: string; statusUrl: string }): Response {
  return c.json({ id, state: "queued" as const, statusUrl }, 202, { location: statusUrl });
}

/** 202 now; the batch runs in waitUntil when it can finish well inside that window, else in the Queue consumer. */
async function submitJob(c: Context<AppEnv>, body: BatchRequestBody, inProcess: InProcessHandler): Promise<Response> {
  const { config } = c.var;
  const keyId = c.var.apiKeyId!;
  const { callback, ...request } = body;
  const webhookSecret = callback ? (callback.secret ?? config.WEBHOOK_SECRET) : undefined;
  if (callback) {
    try {
      checkTarget(callback.url, config.UPSTREAM_ALLOWLIST);
    } catch (error) {
      throw new FanoutError("validation_failed", `callback.url: ${(error as FanoutError).detail}`, { invalidParams: [{ name: "callback.url", reason: (error as FanoutError).detail }] });
    }
    if (!webhookSecret) {
      throw new FanoutError("validation_failed", "callback.secret: required when WEBHOOK_SECRET is not configured", {
        invalidParams: [{ name: "callback.secret", reason: "required when WEBHOOK_SECRET is not configured" }],
      });
    }
  }

  const host = hostOf(c, inProcess);
  const store = jobStore(host);
  const id = crypto.randomUUID();
  const statusUrl = new URL(`/v1/jobs/${id}`, c.req.url).href;
  const idempotencyKey = c.req.header("idempotency-key");
  if (idempotencyKey !== undefined) {
    if (idempotencyKey.length === 0 || idempotencyKey.length > 255) {
      throw new FanoutError("validation_failed", "Idempotency-Key: 1 to 255 characters", { invalidParams: [{ name: "Idempotency-Key", reason: "1 to 255 characters" }] });
    }
    // One atomic claim in a Durable Object: of any number of simultaneous submissions, one creates the job.
    const bodyHash = await sha256Hex(JSON.stringify(body));
    const claim = await claimIdempotencyKey(c.env.IDEMPOTENCY_KEYS, { keyId, key: idempotencyKey, candidate: { jobId: id, bodyHash, statusUrl }, ttlSeconds: config.JOB_TTL_SECONDS });
    if (!claim.created) {
      if (claim.record.bodyHash !== bodyHash) {
        throw new FanoutError("unprocessable", "this Idempotency-Key was used with a different request body", {
          invalidParams: [{ name: "Idempotency-Key", reason: "reused with a different body" }],
        });
      }
      // Answered from the claim, not from KV: the winner may still be writing the job, whose id and URL are already fixed.
      return accepted(c, { id: claim.record.jobId, statusUrl: claim.record.statusUrl });
    }
  }

  const deadlineMs = deadlineOf(body, config);
  const job: StoredJob = {
    record: {
      id,
      keyId,
      requestId: c.var.requestId,
      state: "queued",
      runner: deadlineMs <= config.ASYNC_WAITUNTIL_LIMIT_MS ? "waitUntil" : "queue",
      statusUrl,
      createdAt: new Date().toISOString(),
      ...(callback ? { callback: { url: callback.url, state: "pending" as const, attempts: [] } } : {}),
    },
    request,
    ...(webhookSecret ? { webhookSecret } : {}),
  };
  try {
    await store.put(job);
    if (job.record.runner === "queue") await c.env.JOBS.send({ kind: "run", jobId: id } satisfies JobMessage);
  } catch (error) {
    // The job was not created (or will never run): free the key so the client's retry creates it, rather than naming a dead job for JOB_TTL_SECONDS.
    if (idempotencyKey !== undefined) {
      await releaseIdempotencyKey(c.env.IDEMPOTENCY_KEYS, { keyId, key: idempotencyKey, jobId: id }).catch((releaseError: unknown) =>
        c.var.logger.log("error", "could not release an Idempotency-Key", { jobId: id, ...describeError(releaseError) }),
      );
    }
    throw error;
  }

  if (job.record.runner === "waitUntil") {
    const started = Date.now();
    runAfterResponse(
      c.executionCtx,
      async () => {
        await runJob(id, host);
        if (callback) await deliverAfterJob(id, host, WAIT_UNTIL_WINDOW_MS - (Date.now() - started));
      },
      { task: "job", requestId: c.var.requestId, logger: c.var.logger, timeoutMs: WAIT_UNTIL_WINDOW_MS },
    );
  }
  return accepted(c, job.record);
}
