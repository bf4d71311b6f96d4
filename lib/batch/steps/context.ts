import type { CircuitBreakers } from "../../async/breaker";
import type { Budget } from "../../async/budget";
import type { Slot } from "../../async/pool";
import type { Singleflight } from "../../async/singleflight";
import type { Deadline } from "../../async/timers";
import type { FanoutError } from "../../base/errors";
import type { Fetcher, ReadLimits } from "../../base/http";
import type { AllowList } from "../../base/policy";
import type { Trace } from "../../base/trace";
import type { KvReader } from "./kv-reader";
import type { StepOutput } from "./output";

/**
 * Everything one batch's steps may share: bindings, policy, limits, budgets and coalescing. Built
 * per request by `createBatchContext` (lib/batch/service.ts). Each executor declares the part it
 * uses (`HttpDeps`, `KvDeps`, ...), so a reader sees at a glance what a step can touch.
 */
export interface BatchContext {
  deadline: Deadline;
  bindings: { kv: KVNamespace; bucket: R2Bucket; db: D1Database; cache: Cache };
  allowList: AllowList;
  /** Reaches upstreams; in-process `/v1/sim/` URLs are answered by the gateway itself. */
  fetcher: Fetcher;
  credentials: Record<string, Record<string, string>>;
  kvPrefixes: readonly string[];
  r2Prefixes: readonly string[];
  d1Queries: Record<string, string>;
  defaultTimeoutMs: number;
  maxStepResponseBytes: number;
  budgets: { responseBytes: Budget; retries: Budget; subrequests: Budget };
  coalesce: { http: Singleflight<StepOutput>; kv: KvReader };
  /**
   * Circuit breakers per upstream origin, shared by the isolate's requests (pure data, unlike the
   * per-request parts above); null when BREAKER_ENABLED=false.
   */
  breakers: CircuitBreakers | null;
  trace: Trace;
}

/** What a step that reads a body needs to apply the byte limits. */
export type ByteLimitDeps = Pick<BatchContext, "maxStepResponseBytes" | "budgets">;

/** What one step may read: MAX_STEP_RESPONSE_BYTES itself, charged to the batch's MAX_BATCH_RESPONSE_BYTES as bytes arrive. */
export function stepReadLimits(deps: ByteLimitDeps, signal?: AbortSignal): ReadLimits {
  return {
    maxBytes: deps.maxStepResponseBytes,
    maxName: "MAX_STEP_RESPONSE_BYTES",
    budget: deps.budgets.responseBytes,
    budgetName: "MAX_BATCH_RESPONSE_BYTES",
    signal,
  };
}

/** What one execution gets: the dependencies its executor declares, and a signal that aborts on deadline or cancellation. */
export interface StepRun<Deps = BatchContext> {
  deps: Deps;
  signal: AbortSignal;
  /**
   * The batch pool's slot this execution holds (none outside a batch). A step that reads a response
   * releases it when the headers arrive, as the edge frees a connection slot then, and acquires one
   * again before another call (a retry).
   */
  slot?: Slot;
  /**
   * Aborts `signal` with `reason` when this execution owns it (a single step, not a forEach item):
   * a one-attempt call times itself out through it instead of a controller of its own.
   */
  abort?: (reason: FanoutError) => void;
}
