import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { stream, streamSSE } from "hono/streaming";
import { setMetric } from "hono/timing";
import { runBatch, type BatchOutcome, type StepResult } from "../lib/batch";
import { Budget, retryAllowance } from "../lib/budget";
import type { Config } from "../lib/config";
import { FanoutError, type InvalidParam } from "../lib/errors";
import type { Fetcher } from "../lib/http";
import { buildPlan, type Plan } from "../lib/plan";
import { parseAllowRule } from "../lib/policy";
import { Singleflight } from "../lib/singleflight";
import type { BatchContext } from "../lib/steps/context";
import { KvReader } from "../lib/steps/kv";
import type { StepOutput } from "../lib/steps/types";
import { Deadline } from "../lib/timers";
import { continueTrace } from "../lib/trace";
import { requireApiKey } from "./auth";
import { BatchRequest, BatchResponse, type BatchRequestBody } from "./batch-schema";
import type { AppEnv } from "./env";
import { problemResponses } from "./problem";
import { createRouter, untypedResponse } from "./router";
import { markAsLiveStream } from "./streaming";

/**
 * POST /v1/batch: one request describing many I/O steps, run with the highest safe concurrency,
 * answered with every step's outcome, or streamed (NDJSON or SSE) as each step settles.
 */

/** Relative `/v1/sim/...` step URLs are served in-process under this origin: no network, no subrequest. */
export const IN_PROCESS_ORIGIN = "http://fanout.internal";
const IN_PROCESS_RULE = parseAllowRule(IN_PROCESS_ORIGIN);

export type InProcessHandler = (request: Request, env: Env, ctx: Context<AppEnv>["executionCtx"]) => Response | Promise<Response>;

/** Checks that depend on configuration: limits (each named in its error) and what the config offers. */
function checkAgainstConfig(body: BatchRequestBody, config: Config): void {
  const limits: InvalidParam[] = [];
  if (body.concurrency !== undefined && body.concurrency > config.MAX_CONCURRENCY) {
    limits.push({ name: "concurrency", reason: `at most ${config.MAX_CONCURRENCY} (MAX_CONCURRENCY)` });
  }
  if (body.deadlineMs !== undefined && body.deadlineMs > config.MAX_DEADLINE_MS) {
    limits.push({ name: "deadlineMs", reason: `at most ${config.MAX_DEADLINE_MS} ms (MAX_DEADLINE_MS)` });
  }
  if (limits.length > 0) throw new FanoutError("limit_exceeded", describeParams(limits), { invalidParams: limits });

  const problems: InvalidParam[] = [];
  body.steps.forEach((step, index) => {
    const url = step.http?.url ?? step.cache?.url;
    if (url?.startsWith("/") && !config.SIM_ENABLED) {
      problems.push({ name: `steps[${index}].${step.http ? "http" : "cache"}.url`, reason: "relative /v1/sim/ URLs need SIM_ENABLED=true" });
    }
    if (step.d1 && !Object.hasOwn(config.D1_QUERIES, step.d1.query)) {
      problems.push({ name: `steps[${index}].d1.query`, reason: `no named query "${step.d1.query}" (D1_QUERIES)` });
    }
  });
  if (problems.length > 0) throw new FanoutError("validation_failed", `invalid batch: ${describeParams(problems)}`, { invalidParams: problems });
}

function describeParams(params: InvalidParam[]): string {
  return params.map((param) => `${param.name}: ${param.reason}`).join("; ");
}

function inProcessFetcher(c: Context<AppEnv>, handler: InProcessHandler): Fetcher {
  return (request) => {
    const url = new URL(request.url);
    if (url.origin !== IN_PROCESS_ORIGIN) return fetch(request);
    if (!url.pathname.startsWith("/v1/sim/")) throw new FanoutError("forbidden_target", "only /v1/sim/ is served in-process");
    return Promise.resolve(handler(request, c.env, c.executionCtx));
  };
}

function createContext(c: Context<AppEnv>, plan: Plan, deadline: Deadline, handler: InProcessHandler): BatchContext {
  const { config } = c.var;
  const httpCalls = plan.steps.filter((step) => step.kind === "http").length;
  return {
    deadline,
    bindings: { kv: c.env.KV, bucket: c.env.BUCKET, db: c.env.DB, cache: caches.default },
    allowList: config.SIM_ENABLED ? [...config.UPSTREAM_ALLOWLIST, IN_PROCESS_RULE] : config.UPSTREAM_ALLOWLIST,
    fetcher: inProcessFetcher(c, handler),
    inProcessOrigin: IN_PROCESS_ORIGIN,
    credentials: config.UPSTREAM_CREDENTIALS,
    kvPrefixes: config.KV_PREFIXES,
    r2Prefixes: config.R2_PREFIXES,
    d1Queries: config.D1_QUERIES,
    defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
    maxStepResponseBytes: config.MAX_STEP_RESPONSE_BYTES,
    budgets: {
      responseBytes: new Budget(config.MAX_BATCH_RESPONSE_BYTES),
      retries: new Budget(retryAllowance(httpCalls)),
      subrequests: new Budget(config.SUBREQUEST_BUDGET),
    },
    coalesce: { http: new Singleflight<StepOutput>(), kv: new KvReader(c.env.KV) },
    trace: continueTrace(c.req.header("traceparent")),
  };
}

const summaryOf = ({ completed, mode, durationMs, counts }: BatchOutcome) => ({ completed, mode, durationMs, counts });

function streamFormat(accept: string | undefined): "ndjson" | "sse" | undefined {
  if (!accept) return undefined;
  if (accept.includes("application/x-ndjson")) return "ndjson";
  if (accept.includes("text/event-stream")) return "sse";
  return undefined;
}

export function createBatchRoutes(inProcess: InProcessHandler) {
  const batch = createRouter();

  batch.use("*", requireApiKey);
  batch.use("*", (c, next) =>
    bodyLimit({
      maxSize: c.var.config.MAX_BODY_BYTES,
      onError: () => {
        const limit = c.var.config.MAX_BODY_BYTES;
        throw new FanoutError("payload_too_large", `the request body exceeds ${limit} bytes (MAX_BODY_BYTES)`, {
          invalidParams: [{ name: "body", reason: `at most ${limit} bytes` }],
        });
      },
    })(c, next),
  );

  batch.openapi(
    createRoute({
      method: "post",
      path: "/",
      summary: "Run many I/O steps concurrently and answer with every outcome",
      description:
        "Answers JSON by default (200 when the batch ran; 502 when the mode's condition failed). With `Accept: application/x-ndjson` each result is one line the moment its step settles, then a summary line; with `Accept: text/event-stream` the same as SSE events `result` and `summary`.",
      security: [{ bearer: [] }],
      request: { body: { required: true, content: { "application/json": { schema: BatchRequest } } } },
      responses: {
        200: { description: "The batch ran (some steps may have failed)", content: { "application/json": { schema: BatchResponse } } },
        502: { description: "The mode's condition failed (all: a step failed; any/race: no success)", content: { "application/json": { schema: BatchResponse } } },
        ...problemResponses(400, 401, 413, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { config } = c.var;
      checkAgainstConfig(body, config);
      const plan = buildPlan(body.steps, {
        maxSteps: config.MAX_STEPS,
        subrequestBudget: config.SUBREQUEST_BUDGET,
        isInProcess: (url) => url.startsWith("/") || url.startsWith(`${IN_PROCESS_ORIGIN}/`),
      });
      // A client disconnect (request signal) aborts the deadline, and with it every step.
      const deadline = Deadline.after(body.deadlineMs ?? config.MAX_DEADLINE_MS, { signal: c.req.raw.signal, label: "batch deadline" });
      const options = {
        mode: body.mode,
        concurrency: body.concurrency ?? config.DEFAULT_CONCURRENCY,
        maxSteps: config.MAX_STEPS,
        batch: createContext(c, plan, deadline, inProcess),
      };
      const format = streamFormat(c.req.header("accept"));
      if (format) return untypedResponse(streamBatch(c, format, plan, options, deadline));

      try {
        const outcome = await runBatch(plan, options);
        for (const [id, result] of Object.entries(outcome.results)) setMetric(c, `step-${id}`, result.durationMs, describe(result));
        return c.json({ ...summaryOf(outcome), results: outcome.results }, outcome.conditionMet ? 200 : 502);
      } finally {
        deadline.dispose();
      }
    },
  );

  return batch;
}

function describe(result: StepResult): string {
  return result.ok ? `ok ${result.status ?? ""}`.trim() : (result.error?.code ?? "failed");
}

type RunOptions = Parameters<typeof runBatch>[1];

function streamBatch(c: Context<AppEnv>, format: "ndjson" | "sse", plan: Plan, options: RunOptions, deadline: Deadline): Response {
  markAsLiveStream(c);
  if (format === "ndjson") {
    c.header("content-type", "application/x-ndjson; charset=utf-8");
    return stream(c, async (out) => {
      let writing = Promise.resolve();
      const write = (line: unknown) => {
        writing = writing.then(() => out.write(`${JSON.stringify(line)}\n`)).then(() => undefined);
      };
      try {
        const outcome = await runBatch(plan, { ...options, onSettle: (id, result) => write({ type: "result", id, ...result }) });
        write({ type: "summary", ...summaryOf(outcome) });
        await writing;
      } finally {
        deadline.dispose();
      }
    });
  }
  return streamSSE(c, async (out) => {
    let writing = Promise.resolve();
    const write = (event: string, data: unknown, id?: string) => {
      writing = writing.then(() => out.writeSSE({ event, data: JSON.stringify(data), ...(id ? { id } : {}) }));
    };
    try {
      const outcome = await runBatch(plan, { ...options, onSettle: (id, result) => write("result", { id, ...result }, id) });
      write("summary", summaryOf(outcome));
      await writing;
    } finally {
      deadline.dispose();
    }
  });
}
