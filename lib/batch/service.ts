import { CircuitBreakers } from "../async/breaker";
import { Budget, retryAllowance } from "../async/budget";
import { Singleflight } from "../async/singleflight";
import { Deadline } from "../async/timers";
import type { Config } from "../base/config";
import { describeInvalid, FanoutError, type InvalidParam } from "../base/errors";
import { continueTrace } from "../base/trace";
import { IN_PROCESS_RULE, type InProcessHandler, inProcessFetcher, isInProcessUrl } from "./in-process";
import { buildPlan, type Plan } from "./plan";
import { type BatchMode, type BatchOutcome, runBatch, type StepResult } from "./scheduler";
import type { BatchContext } from "./steps/context";
import { STEPS, type StepRegistry } from "./steps/index";
import { KvReader } from "./steps/kv-reader";
import type { StepInput, StepOutput } from "./steps/types";

/**
 * The batch service: a validated batch request checked against configuration, planned, wired to
 * the bindings and run, wherever it runs: in the request (sync or streamed), in waitUntil after a
 * 202, or in the Queue consumer.
 */

/** A batch request after validation; the batch request's zod schema (schema.ts) produces exactly this. */
export interface BatchRequestInput {
  steps: StepInput[];
  mode: BatchMode;
  concurrency?: number;
  deadlineMs?: number;
}

/** The bindings a batch reads. */
export interface BatchBindings {
  kv: KVNamespace;
  bucket: R2Bucket;
  db: D1Database;
  cache: Cache;
}

/** What running a batch needs from where it runs: plain values and functions, no HTTP framework. */
export interface BatchHost {
  bindings: BatchBindings;
  config: Config;
  /** Answers relative `/v1/sim/...` step URLs (the gateway's own fetch, given by the composition root). */
  serveInProcess: InProcessHandler;
  traceparent?: string | null;
  /** Aborts the batch (the client's request signal for a synchronous batch). */
  signal?: AbortSignal;
}

/** The bindings of the Worker's `Env` that a batch reads. */
export function batchBindings(env: Env): BatchBindings {
  return { kv: env.KV, bucket: env.BUCKET, db: env.DB, cache: caches.default };
}

/** Checks that depend on configuration: limits (each named in its error) and what the config offers (each kind's `check`). */
function checkAgainstConfig(body: BatchRequestInput, config: Config, kinds: StepRegistry): void {
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
    for (const module of kinds.modules) {
      const spec = (step as Record<string, unknown>)[module.kind];
      if (spec === undefined || !module.check) continue;
      for (const { field, reason } of module.check(spec, config))
        problems.push({ name: `steps[${index}].${module.kind}.${field}`, reason });
    }
  });
  if (problems.length > 0)
    throw new FanoutError("validation_failed", `invalid batch: ${describeInvalid(problems)}`, { invalidParams: problems });
}

export interface PlanOptions {
  /** The request values references may read besides steps (a composite's). */
  inputRoots?: ReadonlySet<string>;
  /** The step kinds (default: production's registry, STEPS). */
  kinds?: StepRegistry;
}

/** Validates against configuration and builds the plan: every refusal happens here, before anything runs. */
export function planBatch(body: BatchRequestInput, config: Config, { inputRoots, kinds = STEPS }: PlanOptions = {}): Plan {
  checkAgainstConfig(body, config, kinds);
  return buildPlan(body.steps, {
    maxSteps: config.MAX_STEPS,
    subrequestBudget: config.SUBREQUEST_BUDGET,
    isInProcess: isInProcessUrl,
    inputRoots,
    kinds,
  });
}

/** The deadline a batch runs under: its own `deadlineMs`, or DEFAULT_DEADLINE_MS (never above MAX_DEADLINE_MS). */
export function deadlineOf(body: BatchRequestInput, config: Config): number {
  return body.deadlineMs ?? Math.min(config.DEFAULT_DEADLINE_MS, config.MAX_DEADLINE_MS);
}

export interface BatchContextOptions {
  config: Config;
  bindings: BatchBindings;
  serveInProcess: InProcessHandler;
  deadline: Deadline;
  /** How many http calls the batch plans (sets its retry allowance). */
  httpCalls: number;
  traceparent?: string | null;
}

let isolateBreakers: CircuitBreakers | undefined;

/**
 * The isolate's circuit breakers, built from configuration on first use and rebuilt when the
 * BREAKER_ settings change; null when BREAKER_ENABLED=false. The one piece of state that outlives a
 * request: plain counters and timestamps per origin, never a promise or an I/O object.
 */
export function isolateBreakersFor(config: Config): CircuitBreakers | null {
  if (!config.BREAKER_ENABLED) return null;
  const settings = {
    failureThreshold: config.BREAKER_FAILURES,
    intervalMs: config.BREAKER_INTERVAL_MS,
    cooldownMs: config.BREAKER_COOLDOWN_MS,
  };
  if (!isolateBreakers?.matches(settings)) isolateBreakers = new CircuitBreakers(settings);
  return isolateBreakers;
}

/**
 * Builds one batch's context: policy and limits from configuration, fresh budgets and coalescing
 * (per request only: Workers cancels I/O shared across requests), and the isolate's circuit
 * breakers. Production and tests build it here.
 */
export function createBatchContext({
  config,
  bindings,
  serveInProcess,
  deadline,
  httpCalls,
  traceparent,
}: BatchContextOptions): BatchContext {
  return {
    deadline,
    bindings,
    allowList: config.DEMO_ENABLED ? [...config.UPSTREAM_ALLOWLIST, IN_PROCESS_RULE] : config.UPSTREAM_ALLOWLIST,
    fetcher: inProcessFetcher(serveInProcess),
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
    coalesce: { http: new Singleflight<StepOutput>(), kv: new KvReader(bindings.kv) },
    breakers: isolateBreakersFor(config),
    trace: continueTrace(traceparent),
  };
}

export interface ExecuteOptions {
  /** Called the moment each step settles (streaming). */
  onSettle?: (id: string, result: StepResult) => void;
  /** Request values references may read (a composite's params, query and headers). */
  inputs?: Readonly<Record<string, unknown>>;
}

/** Runs a planned batch to its outcome under its deadline; the deadline's timer never outlives it. */
export async function executeBatch(
  body: BatchRequestInput,
  plan: Plan,
  host: BatchHost,
  { onSettle, inputs }: ExecuteOptions = {},
): Promise<BatchOutcome> {
  const { config } = host;
  const deadline = Deadline.after(deadlineOf(body, config), { signal: host.signal, label: "batch deadline" });
  try {
    const httpCalls = plan.steps.filter((step) => step.kind === "http").length;
    return await runBatch(plan, {
      mode: body.mode,
      concurrency: body.concurrency ?? config.DEFAULT_CONCURRENCY,
      maxSteps: config.MAX_STEPS,
      batch: createBatchContext({ ...host, deadline, httpCalls }),
      onSettle,
      inputs,
      execute: plan.kinds.execute,
    });
  } finally {
    deadline.dispose();
  }
}

/** The summary line of a batch (the last NDJSON line, the webhook's fallback). */
export function summaryOf({ completed, mode, durationMs, counts }: BatchOutcome) {
  return { completed, mode, durationMs, counts };
}

/** A batch's answer as clients see it (JSON, a job's result): the summary and every step's result. */
export interface PublicBatchResult extends ReturnType<typeof summaryOf> {
  results: Record<string, StepResult>;
}

/** A batch's answer as clients see it: the summary and every step's result. */
export function publicResult(outcome: BatchOutcome): PublicBatchResult {
  return { ...summaryOf(outcome), results: outcome.results };
}

/** Bytes read from upstreams and storage across the batch. */
export function outcomeBytes(outcome: BatchOutcome): number {
  return Object.values(outcome.results).reduce((sum, result) => sum + (result.bytes ?? 0), 0);
}
