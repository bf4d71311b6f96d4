import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { stream, streamSSE } from "hono/streaming";
import { runAfterResponse } from "../../lib/async/after";
import { FanoutError } from "../../lib/base/errors";
import type { Plan } from "../../lib/batch/plan";
import type { BatchOutcome, StepCounts } from "../../lib/batch/scheduler";
import { type BatchHost, type BatchRequestInput, executeBatch, planBatch, publicResult, summaryOf } from "../../lib/batch/service";
import { STEPS, type StepRegistry } from "../../lib/batch/steps/index";
import { type AuditQueue, auditBatch } from "../../lib/jobs/audit";
import { jobHost } from "../../lib/jobs/runner";
import { submitJob } from "../../lib/jobs/submit";
import type { AppEnv, AppFetch } from "../http/env";
import { batchHostOf, serveInProcessOf, setStepTimings } from "../http/host";
import { problemResponses } from "../http/problem";
import { rateLimit } from "../http/rate-limit";
import { createRouter, parseJsonBody, untypedResponse, validationHook, waitUntilOf } from "../http/router";
import { markAsLiveStream } from "../http/streaming";
import { BatchEvent, BatchLine, BatchRequest, BatchResponse, documentedStepSchemas, JobAccepted, STEP_VARIANTS } from "./batch-schema";

/**
 * POST /v1/batch: one request describing many I/O steps, run with the highest safe concurrency,
 * answered with every step's outcome, streamed (NDJSON or SSE) as each step settles, or accepted
 * (202) and run after the response with a signed callback.
 */

function streamFormat(accept: string | undefined): "ndjson" | "sse" | undefined {
  if (accept?.includes("application/x-ndjson")) return "ndjson";
  if (accept?.includes("text/event-stream")) return "sse";
  return undefined;
}

function prefersAsync(prefer: string | undefined): boolean {
  return (prefer ?? "").split(",").some((token) => token.trim().toLowerCase() === "respond-async");
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

/** The request headers POST /v1/batch reads, as OpenAPI parameters. */
const REQUEST_HEADERS = {
  IdempotencyKey: {
    name: "Idempotency-Key",
    in: "header" as const,
    required: false,
    description: "With an async submission (202): the same key and body within JOB_TTL_SECONDS answer the same job",
    schema: { type: "string" as const, minLength: 1, maxLength: 255 },
  },
  Prefer: {
    name: "Prefer",
    in: "header" as const,
    required: false,
    description: "`respond-async`: answer 202 at once and run the batch after the response",
    schema: { type: "string" as const, examples: ["respond-async"] },
  },
  Accept: {
    name: "Accept",
    in: "header" as const,
    required: false,
    description: "`application/x-ndjson` or `text/event-stream` stream each result as its step settles; JSON otherwise",
    schema: { type: "string" as const, enum: ["application/json", "application/x-ndjson", "text/event-stream"] },
  },
};

/**
 * The batch routes. `kinds` is production's registry (STEPS) unless a test passes one with a kind
 * of its own: the request schema, the document's step variants and the plan all come from it.
 */
export function createBatchRoutes(appFetch: AppFetch, kinds: StepRegistry = STEPS) {
  const batch = createRouter();
  // Typed as production's: a test registry's own kind is checked by its own schema, at run time.
  const schemas = kinds === STEPS ? { variants: STEP_VARIANTS, BatchRequest } : documentedStepSchemas(kinds as typeof STEPS);

  // The API key is checked before this (functions/http/access.ts); the rate limit counts per key.
  batch.use("*", rateLimit("apiKey"));
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
  // Inside the body limit: a body that is not JSON is `invalid json:`; one that parses but does not fit is `invalid batch:`.
  batch.use("*", parseJsonBody);

  for (const { name, schema } of schemas.variants) batch.openAPIRegistry.register(name, schema);
  for (const [name, parameter] of Object.entries(REQUEST_HEADERS)) batch.openAPIRegistry.registerComponent("parameters", name, parameter);
  batch.openAPIRegistry.registerComponent("headers", "Location", {
    description: "The job's status URL (statusUrl)",
    schema: { type: "string", format: "uri" },
  });

  return batch.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "runBatch",
      tags: ["batch"],
      summary: "Run many I/O steps concurrently and answer with every outcome",
      description: [
        "Answers JSON by default (200 when the batch ran; 502 when the mode's condition failed). ",
        "With `Accept: application/x-ndjson` each result is one line the moment its step settles, then a summary line; with `Accept: text/event-stream` the same as SSE events `result` and `summary`. ",
        "With a `callback` or `Prefer: respond-async` it answers 202 at once and runs the batch after the response; `Idempotency-Key` makes that submission safe to repeat.",
      ].join(""),
      parameters: Object.keys(REQUEST_HEADERS).map((name) => ({ $ref: `#/components/parameters/${name}` })),
      request: { body: { required: true, content: { "application/json": { schema: schemas.BatchRequest } } } },
      responses: {
        200: {
          description: "The batch ran (some steps may have failed); streamed when Accept asks for NDJSON or SSE",
          content: {
            "application/json": { schema: BatchResponse },
            "application/x-ndjson": { schema: BatchLine },
            "text/event-stream": { schema: BatchEvent },
          },
        },
        202: {
          description: "Accepted: the batch runs after the response; poll statusUrl or await the callback",
          headers: { Location: { $ref: "#/components/headers/Location" } },
          content: { "application/json": { schema: JobAccepted } },
        },
        502: {
          description: "The mode's condition failed (all: a step failed; any/race: no success)",
          content: { "application/json": { schema: BatchResponse } },
        },
        ...problemResponses(400, 401, 413, 415, 422, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const plan = planBatch(body, c.var.config, { kinds });
      if (body.callback || prefersAsync(c.req.header("prefer"))) return untypedResponse(await accept(c, body, appFetch));

      // A client disconnect (the request's signal) aborts the deadline, and with it every step.
      const host = batchHostOf(c, appFetch, c.req.raw.signal);
      const format = streamFormat(c.req.header("accept"));
      if (format) return untypedResponse(streamBatch(c, format, body, plan, host));
      const outcome = await executeBatch(body, plan, host);
      c.set("batchCounts", outcome.counts);
      scheduleAudit(c, host, plan, outcome);
      setStepTimings(c, outcome.results);
      return c.json(publicResult(outcome), outcome.conditionMet ? 200 : 502);
    },
    validationHook(schemas.BatchRequest, "batch"),
  );
}

function scheduleAudit(c: Context<AppEnv>, host: BatchHost, plan: Plan, outcome: BatchOutcome): void {
  if (!host.config.AUDIT_ENABLED) return;
  const entry = { requestId: c.var.requestId, keyId: c.var.apiKeyId!, jobId: null, steps: plan.steps.length, outcome };
  runAfterResponse(() => auditBatch(entry, { queue: c.env.AUDIT as AuditQueue | undefined, db: c.env.DB, logger: c.var.logger }), {
    waitUntil: waitUntilOf(c),
    task: "audit",
    requestId: c.var.requestId,
    logger: c.var.logger,
  });
}

function streamBatch(c: Context<AppEnv>, format: "ndjson" | "sse", body: BatchRequestInput, plan: Plan, host: BatchHost): Response {
  markAsLiveStream(c);
  // The access log's line waits for the batch's counts (undefined when it could not run).
  let settled: (counts: StepCounts | undefined) => void = () => {};
  c.set("batchCounts", new Promise<StepCounts | undefined>((resolve) => (settled = resolve)));
  // Writes are chained so lines keep settlement order even though onSettle cannot await.
  const run = async (write: (kind: "result" | "summary", data: Record<string, unknown>, id?: string) => Promise<void>) => {
    let writing = Promise.resolve();
    const outcome = await executeBatch(body, plan, host, {
      onSettle: (id, result) => {
        writing = writing.then(() => write("result", { id, ...result }, id));
      },
    }).catch((error: unknown) => {
      settled(undefined);
      throw error;
    });
    settled(outcome.counts);
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

/** 202 now; the batch runs after the response (lib/jobs/submit.ts decides where). */
async function accept(
  c: Context<AppEnv>,
  body: BatchRequestInput & { callback?: { url: string; secret?: string } },
  appFetch: AppFetch,
): Promise<Response> {
  const { callback, ...request } = body;
  const { id, statusUrl } = await submitJob(
    {
      request,
      ...(callback ? { callback } : {}),
      keyId: c.var.apiKeyId!,
      requestId: c.var.requestId,
      idempotencyKey: c.req.header("idempotency-key"),
      statusUrlOf: (jobId) => new URL(`/v1/jobs/${jobId}`, c.req.url).href,
    },
    {
      host: jobHost(c.env, c.var.config, serveInProcessOf(c, appFetch)),
      idempotencyKeys: c.env.IDEMPOTENCY_KEYS,
      waitUntil: waitUntilOf(c),
      logger: c.var.logger,
    },
  );
  return c.json({ id, state: "queued" as const, statusUrl }, 202, { location: statusUrl });
}
