import type { ExecutionContext } from "hono";
import { runBatch, type BatchOutcome, type StepResult } from "./scheduler";
import { Budget, retryAllowance } from "../async/budget";
import type { Config } from "../base/config";
import { describeInvalid, FanoutError, type InvalidParam } from "../base/errors";
import type { Fetcher } from "../base/http";
import { buildPlan, type Plan } from "./plan";
import { parseAllowRule } from "../base/policy";
import { Singleflight } from "../async/singleflight";
import type { BatchContext } from "./steps/context";
import { d1ParamCount } from "./steps/d1";
import { KvReader } from "./steps/kv";
import type { StepOutput } from "./steps/types";
import { Deadline } from "../async/timers";
import { continueTrace } from "../base/trace";
import type { BatchRequestBody } from "../../functions/batch-schema";

/**
 * Running a validated batch request, wherever it runs: in the request (sync or streamed), in
 * waitUntil after a 202, or in the Queue consumer.
 */

/** Relative `/v1/sim/...` step URLs are served in-process under this origin: no network, no subrequest. */
export const IN_PROCESS_ORIGIN = "http://fanout.internal";
const IN_PROCESS_RULE = parseAllowRule(IN_PROCESS_ORIGIN);

/** Answers in-process requests (the app itself); given by the composition root. */
export type InProcessHandler = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

export interface BatchHost {
  env: Env;
  config: Config;
  executionCtx: ExecutionContext;
  inProcess: InProcessHandler;
  traceparent?: string | null;
  /** Aborts the batch (the client's request signal for a synchronous batch). */
  signal?: AbortSignal;
}

/** Checks that depend on configuration: limits (each named in its error) and what the config offers. */
export function checkAgainstConfig(body: BatchRequestBody, config: Config): void {
  const limits: InvalidParam[] = [];
  if (body.concurrency !== undefined && body.concurrency > config.MAX_CONCURRENCY) {
    limits.push({ name: "concurrency", reason: `at most ${config.MAX_CONCURRENCY} (MAX_CONCURRENCY)` });
  }
  if (body.deadlineMs !== undefined && body.deadlineMs > config.MAX_DEADLINE_MS) {
    limits.push({ name: "deadlineMs", reason: `at most ${config.MAX_DEADLINE_MS} ms (MAX_DEADLINE_MS)` });
  }
  if (limits.length > 0) throw new FanoutError("limit_exceeded", describeInvalid(limits), { invalidParams: limits });

  const problems: InvalidParam[] = [];
  body.steps.forEach((step, index) => {
    const url = step.http?.url ?? step.cache?.url;
    if (url?.startsWith("/") && !config.SIM_ENABLED) {
      problems.push({ name: `steps[${index}].${step.http ? "http" : "cache"}.url`, reason: "relative /v1/sim/ URLs need SIM_ENABLED=true" });
    }
    if (step.d1 && !Object.hasOwn(config.D1_QUERIES, step.d1.query)) {
      problems.push({ name: `steps[${index}].d1.query`, reason: `no named query "${step.d1.query}" (D1_QUERIES)` });
    } else if (step.d1) {
      const expected = d1ParamCount(config.D1_QUERIES[step.d1.query]!);
      const given = step.d1.params?.length ?? 0;
      if (given !== expected) problems.push({ name: `steps[${index}].d1.params`, reason: `the query "${step.d1.query}" takes ${expected} parameter(s), got ${given}` });
    }
  });
  if (problems.length > 0) throw new FanoutError("validation_failed", `invalid batch: ${describeInvalid(problems)}`, { invalidParams: problems });
}

/** Validates against configuration and builds the plan: every refusal happens here, before anything runs. */
export function planBatch(body: BatchRequestBody, config: Config): Plan {
  checkAgainstConfig(body, config);
  return buildPlan(body.steps, {
    maxSteps: config.MAX_STEPS,
    subrequestBudget: config.SUBREQUEST_BUDGET,
    isInProcess: (url) => url.startsWith("/") || url.startsWith(`${IN_PROCESS_ORIGIN}/`),
  });
}

export function deadlineOf(body: BatchRequestBody, config: Config): number {
  return body.deadlineMs ?? Math.min(config.DEFAULT_DEADLINE_MS, config.MAX_DEADLINE_MS);
}

function inProcessFetcher(host: BatchHost): Fetcher {
  return async (request) => {
    const url = new URL(request.url);
    if (url.origin !== IN_PROCESS_ORIGIN) return fetch(request);
    if (!url.pathname.startsWith("/v1/sim/")) throw new FanoutError("forbidden_target", "only /v1/sim/ is served in-process");
    return host.inProcess(request, host.env, host.executionCtx);
  };
}

function createBatchContext(host: BatchHost, plan: Plan, deadline: Deadline): BatchContext {
  const { config, env } = host;
  const httpCalls = plan.steps.filter((step) => step.kind === "http").length;
  return {
    deadline,
    bindings: { kv: env.KV, bucket: env.BUCKET, db: env.DB, cache: caches.default },
    allowList: config.SIM_ENABLED ? [...config.UPSTREAM_ALLOWLIST, IN_PROCESS_RULE] : config.UPSTREAM_ALLOWLIST,
    fetcher: inProcessFetcher(host),
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
    coalesce: { http: new Singleflight<StepOutput>(), kv: new KvReader(env.KV) },
    trace: continueTrace(host.traceparent),
  };
}

/** Runs a planned batch to its outcome under its deadline; the deadline's timer never outlives it. */
export async function executeBatch(
  body: BatchRequestBody,
  plan: Plan,
  host: BatchHost,
  onSettle?: (id: string, result: StepResult) => void,
): Promise<BatchOutcome> {
  const deadline = Deadline.after(deadlineOf(body, host.config), { signal: host.signal, label: "batch deadline" });
  try {
    return await runBatch(plan, {
      mode: body.mode,
      concurrency: body.concurrency ?? host.config.DEFAULT_CONCURRENCY,
      maxSteps: host.config.MAX_STEPS,
      batch: createBatchContext(host, plan, deadline),
      onSettle,
    });
  } finally {
    deadline.dispose();
  }
}

/** The summary line of a batch (the last NDJSON line, the webhook's fallback). */
export function summaryOf({ completed, mode, durationMs, counts }: BatchOutcome) {
  return { completed, mode, durationMs, counts };
}

/** A batch's answer as clients see it: the summary and every step's result. */
export function publicResult(outcome: BatchOutcome) {
  return { ...summaryOf(outcome), results: outcome.results };
}

/** Bytes read from upstreams and storage across the batch. */
export function outcomeBytes(outcome: BatchOutcome): number {
  return Object.values(outcome.results).reduce((sum, result) => sum + (result.bytes ?? 0), 0);
}
