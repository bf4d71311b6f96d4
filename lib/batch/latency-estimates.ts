import { criticalPathPriorities, expectedLatency, isEstimated, type Plan, type PlannedStep } from "./plan";
import type { StepKind } from "./steps/types";

interface Observations {
  count: number;
  totalMs: number;
}

/**
 * Whether a kind's observed mean is still within a tenth (or 1 ms) of the mean the priorities were
 * computed with, so they are kept. Recomputing on every settled step would cost a wide batch a full
 * pass over the plan per step, and a smaller move rarely reorders the queue.
 */
function closeEnough(mean: number, used: number): boolean {
  return Math.abs(mean - used) <= Math.max(1, used / 10);
}

/**
 * One batch's critical-path priorities (criticalPathPriorities in plan.ts) and the latency estimates
 * they rest on. A step without a stated latency is estimated from the mean duration this batch has
 * observed for its kind (the kind's default until then). Priorities are computed lazily, only when an
 * execution has to wait for a slot, and kept until an observed mean moves enough to matter.
 */
export class LatencyEstimates {
  readonly #plan: Plan;
  /** Kinds with a step whose latency is estimated: durations of other kinds would change no priority. */
  readonly #estimatedKinds: ReadonlySet<StepKind>;
  readonly #observations = new Map<StepKind, Observations>();
  /** The mean per kind that the current priorities were computed with. */
  readonly #usedMeans = new Map<StepKind, number>();
  /** Built once, so recomputing the priorities allocates no closure. */
  readonly #expected = (step: PlannedStep) => expectedLatency(step, this.#usedMeans);
  #priorities: Float64Array | undefined;

  constructor(plan: Plan) {
    this.#plan = plan;
    this.#estimatedKinds = new Set(plan.steps.filter(isEstimated).map((step) => step.kind));
  }

  /** The longest chain of expected latencies from `step` to the end of the DAG; higher starts sooner. */
  priorityOf(step: PlannedStep): number {
    this.#priorities ??= criticalPathPriorities(this.#plan, this.#expected);
    return this.#priorities[step.index]!;
  }

  /** Records how long one execution of a `kind` step took (only executions that were not aborted are representative). */
  observe(kind: StepKind, ms: number): void {
    if (!this.#estimatedKinds.has(kind)) return;
    let seen = this.#observations.get(kind);
    if (seen === undefined) {
      seen = { count: 0, totalMs: 0 };
      this.#observations.set(kind, seen);
    }
    seen.count++;
    seen.totalMs += ms;
    const mean = seen.totalMs / seen.count;
    const used = this.#usedMeans.get(kind);
    if (used !== undefined && closeEnough(mean, used)) return;
    this.#usedMeans.set(kind, mean);
    this.#priorities = undefined;
  }
}
