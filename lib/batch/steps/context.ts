import type { Budget } from "../../async/budget";
import type { Fetcher, ReadLimits } from "../../base/http";
import type { AllowList } from "../../base/policy";
import type { Singleflight } from "../../async/singleflight";
import type { Deadline } from "../../async/timers";
import type { Trace } from "../../base/trace";
import type { KvReader } from "./kv";
import type { StepOutput } from "./types";

/** Everything one batch's steps share: bindings, policy, limits, budgets and coalescing. Built per request. */
export interface BatchContext {
  deadline: Deadline;
  bindings: { kv: KVNamespace; bucket: R2Bucket; db: D1Database; cache: Cache };
  allowList: AllowList;
  fetcher: Fetcher;
  /** Relative `/v1/sim/...` URLs become this origin, served in-process by the fetcher. */
  inProcessOrigin: string;
  credentials: Record<string, Record<string, string>>;
  kvPrefixes: readonly string[];
  r2Prefixes: readonly string[];
  d1Queries: Record<string, string>;
  defaultTimeoutMs: number;
  maxStepResponseBytes: number;
  budgets: { responseBytes: Budget; retries: Budget; subrequests: Budget };
  coalesce: { http: Singleflight<StepOutput>; kv: KvReader };
  trace: Trace;
}

/** What one step may read: MAX_STEP_RESPONSE_BYTES itself, charged to the batch's MAX_BATCH_RESPONSE_BYTES as bytes arrive. */
export function stepReadLimits(batch: BatchContext, signal?: AbortSignal): ReadLimits {
  return {
    maxBytes: batch.maxStepResponseBytes,
    maxName: "MAX_STEP_RESPONSE_BYTES",
    budget: batch.budgets.responseBytes,
    budgetName: "MAX_BATCH_RESPONSE_BYTES",
    signal,
  };
}

/** What one execution gets: the batch context and a signal that aborts on deadline or cancellation. */
export interface StepRun {
  batch: BatchContext;
  signal: AbortSignal;
}
