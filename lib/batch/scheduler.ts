import { BatchRun } from "./batch-run";
import type { BatchOutcome, RunBatchOptions } from "./outcome";
import type { Plan } from "./plan";

/**
 * Runs a plan: every step starts as soon as its dependencies have succeeded (no level-by-level
 * barriers), at most `concurrency` at a time, so the wall time is the critical path. When more
 * executions are ready than slots are free, the one with the longest chain of expected latencies
 * ahead of it starts first (critical-path-first list scheduling, plan.ts); ties keep arrival order,
 * so no step waits forever. The mode decides when to stop; stopping aborts everything still running
 * and cancels what has not started.
 *
 * This file is the scheduler's public face (runBatch, and the modes and result types of outcome.ts). The parts:
 * BatchRun (batch-run.ts) decides when each step starts and what its result means, StepRunner
 * (step-runner.ts) executes a started step, and LatencyEstimates (latency-estimates.ts) keeps the
 * priorities that order the waiting executions.
 */

export {
  BATCH_MODES,
  type BatchMode,
  type BatchOutcome,
  type Executor,
  type ItemResult,
  type RunBatchOptions,
  type StepCounts,
  type StepResult,
} from "./outcome";

/**
 * Runs a plan to its outcome. Never rejects: every step's failure is in its result. Stopping (the
 * mode, the deadline, the caller) aborts the steps in flight and cancels the rest; the listener on
 * the batch signal is removed when the batch settles. Throws RangeError, before anything runs, for a
 * concurrency that is not a positive integer.
 */
export function runBatch(plan: Plan, options: RunBatchOptions): Promise<BatchOutcome> {
  return new BatchRun(plan, options).run();
}
