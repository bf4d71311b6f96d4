import { BatchRun } from "./batch-run";
import type { Plan } from "./plan";
import type { BatchContext, StepRun } from "./steps/context";
import type { SpecByKind, StepError, StepKind, StepOutput } from "./steps/types";

/**
 * Runs a plan: every step starts as soon as its dependencies have succeeded (no level-by-level
 * barriers), at most `concurrency` at a time, so the wall time is the critical path. When more
 * executions are ready than slots are free, the one with the longest chain of expected latencies
 * ahead of it starts first (critical-path-first list scheduling, plan.ts); ties keep arrival order,
 * so no step waits forever. The mode decides when to stop; stopping aborts everything still running
 * and cancels what has not started.
 *
 * This file is the scheduler's public face (the modes, the result types, runBatch). The parts:
 * BatchRun (batch-run.ts) decides when each step starts and what its result means, StepRunner
 * (step-runner.ts) executes a started step, and LatencyEstimates (latency-estimates.ts) keeps the
 * priorities that order the waiting executions.
 */

/** When a batch stops: after every step (allSettled), at the first failure (all), the first success (any), the first result (race). */
export const BATCH_MODES = ["allSettled", "all", "any", "race"] as const;
export type BatchMode = (typeof BATCH_MODES)[number];

/** One forEach item's execution, as a forEach step's result lists it. */
export interface ItemResult {
  ok: boolean;
  status?: number;
  error?: StepError;
  attempts?: number;
  coalesced?: boolean;
}

/** A step's output with when it started and how long it took (ms since the batch started). */
export interface StepResult extends StepOutput {
  startMs: number;
  durationMs: number;
  /** forEach: one entry per item (their bodies are the step's `body`, in order). */
  items?: ItemResult[];
}

/** How many steps ended each way; `failed` is a failure of the step itself, not a skip or a cancel. */
export interface StepCounts {
  ok: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

/** What runBatch resolves with: every step's result, in plan order, and what they add up to. */
export interface BatchOutcome {
  mode: BatchMode;
  /** Every step succeeded. */
  completed: boolean;
  /** What the mode asks for held: all ok (all), one ok (any), the first settled ok (race); always true for allSettled. */
  conditionMet: boolean;
  durationMs: number;
  counts: StepCounts;
  results: Record<string, StepResult>;
}

/** Executes one rendered step (executeStep unless a test substitutes its own). */
export type Executor = <K extends StepKind>(kind: K, spec: SpecByKind[K], run: StepRun) => Promise<StepOutput>;

/** How runBatch runs a plan. */
export interface RunBatchOptions {
  mode: BatchMode;
  concurrency: number;
  /** Steps allowed after forEach expansion. */
  maxSteps: number;
  batch: BatchContext;
  /** Called the moment each step settles, in settlement order (for streaming). */
  onSettle?: (id: string, result: StepResult) => void;
  /** Values references may read besides steps (a composite's `params`, `query`, `headers`). */
  inputs?: Readonly<Record<string, unknown>>;
  execute?: Executor;
}

/**
 * Runs a plan to its outcome. Never rejects: every step's failure is in its result. Stopping (the
 * mode, the deadline, the caller) aborts the steps in flight and cancels the rest; the listener on
 * the batch signal is removed when the batch settles. Throws RangeError, before anything runs, for a
 * concurrency that is not a positive integer.
 */
export function runBatch(plan: Plan, options: RunBatchOptions): Promise<BatchOutcome> {
  return new BatchRun(plan, options).run();
}
