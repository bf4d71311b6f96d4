import { elapsedSince } from "../async/timers";
import { abortReason, FanoutError, toFanoutError } from "../base/errors";
import { evaluateCondition } from "./condition-eval";
import type { BatchMode, BatchOutcome, RunBatchOptions, StepCounts, StepResult } from "./outcome";
import { noSteps, skippedByCondition } from "./outcome";
import type { Plan, PlannedStep } from "./plan";
import { type Settlers, StepRunner } from "./step-runner";
import { type StepError, stepErrorOf } from "./steps/types";
import type { Scope } from "./template";

/** What a settled step of a flat plan makes ready. */
const NOTHING_READY: readonly PlannedStep[] = [];

function countOf(result: StepResult): keyof StepCounts {
  if (result.ok) return "ok";
  if (result.error?.code === "skipped") return "skipped";
  if (result.error?.code === "cancelled") return "cancelled";
  return "failed";
}

/** Whether a settled (not cancelled) step ends the batch under `mode`. */
function modeStops(mode: BatchMode, result: StepResult): boolean {
  return (mode === "all" && !result.ok) || (mode === "any" && result.ok) || mode === "race";
}

/** Whether what `mode` asks for held, once every step has a result. */
function conditionMet(mode: BatchMode, counts: StepCounts, total: number, firstSettled: StepResult | undefined): boolean {
  if (mode === "allSettled") return true;
  if (mode === "all") return counts.ok === total;
  if (mode === "any") return counts.ok > 0;
  return firstSettled?.ok === true;
}

/** What a `when` reads of a settled step: its status, headers and body, or nothing (skipped, cancelled, no answer). */
function conditionValue(result: StepResult | undefined): unknown {
  if (!result || (result.status === undefined && result.body === undefined)) return undefined;
  return { status: result.status, headers: result.headers ?? {}, body: result.body };
}

/**
 * One run of a plan (runBatch in scheduler.ts): which steps are ready, deciding their `when`,
 * starting them, settling each one's result, skipping what depends on a failure or a false
 * condition, stopping, and the outcome once every step has a result. A step that needs a dependency
 * skipped by its condition is skipped once its other dependencies have settled (so a failure among
 * them is named instead, whatever the order); a dependency only its `when` reads need not succeed.
 * How a started step executes is StepRunner's business (step-runner.ts). Settling is synchronous
 * and re-entrant (a skipped or cancelled step settles inside the settle or stop that
 * caused it), so every step settles exactly once and in causal order.
 */
export class BatchRun {
  readonly #plan: Plan;
  readonly #mode: BatchMode;
  readonly #onSettle: RunBatchOptions["onSettle"];
  readonly #batchSignal: AbortSignal;
  readonly #runner: StepRunner;
  readonly #started = Date.now();
  readonly #results = new Map<string, StepResult>();
  /** Per step, how many of its dependencies have yet to succeed (or, for those only its `when` reads, to settle). */
  readonly #waitingFor: Map<string, number>;
  /** Steps that will be skipped when ready: a dependency they need was skipped by its condition. */
  readonly #blockedBy = new Map<string, string>();
  /** What `when`s read: the settled steps, and the request's values. */
  readonly #conditionScope: Scope;
  readonly #running = new Map<string, AbortController>();
  readonly #onBatchAbort = () => this.#stop(abortReason(this.#batchSignal));
  #stopped: FanoutError | undefined;
  #firstSettled: StepResult | undefined;
  #resolve: ((outcome: BatchOutcome) => void) | undefined;

  /** Throws RangeError for a concurrency that is not a positive integer, before anything runs. */
  constructor(plan: Plan, options: RunBatchOptions) {
    const scope: Scope = {
      step: (id) => {
        const result = this.#results.get(id)!;
        return { status: result.status, headers: result.headers ?? {}, body: result.body };
      },
      inputs: options.inputs,
    };
    this.#conditionScope = { step: (id) => conditionValue(this.#results.get(id)), inputs: options.inputs };
    this.#runner = new StepRunner(plan, options, scope);
    this.#plan = plan;
    this.#mode = options.mode;
    this.#onSettle = options.onSettle;
    this.#batchSignal = options.batch.deadline.signal;
    // A flat plan has nothing to wait for (Plan.flat).
    this.#waitingFor = plan.flat ? new Map() : new Map(plan.steps.map((step) => [step.id, step.dependsOn.length]));
  }

  /** Starts the steps without dependencies and resolves with the outcome once every step has a result. Call once. */
  run(): Promise<BatchOutcome> {
    return new Promise<BatchOutcome>((resolve) => {
      this.#resolve = resolve;
      if (this.#batchSignal.aborted) {
        this.#stop(abortReason(this.#batchSignal));
        return;
      }
      this.#batchSignal.addEventListener("abort", this.#onBatchAbort, { once: true });
      if (this.#plan.flat) for (const step of this.#plan.steps) this.#start(step);
      else this.#startReady(this.#plan.steps.filter((step) => step.dependsOn.length === 0));
      this.#finishIfDone();
    });
  }

  /**
   * Starts steps that became ready together, the highest priority first when they will not all get a
   * slot; those whose `when` is false (or that need a step skipped by its) are settled as skipped.
   */
  #startReady(ready: readonly PlannedStep[]): void {
    const skips: Array<[PlannedStep, StepError]> = [];
    const runnable: PlannedStep[] = [];
    for (const step of ready) {
      const skip = this.#skipReason(step);
      if (skip) skips.push([step, skip]);
      else runnable.push(step);
    }
    if (runnable.length > 1 && runnable.length > this.#runner.freeSlots) {
      const runner = this.#runner;
      runnable.sort((a, b) => runner.priorityOf(b) - runner.priorityOf(a) || a.index - b.index);
    }
    for (const step of runnable) this.#start(step);
    for (const [step, error] of skips) this.#skip(step.id, error);
  }

  /** Why a step whose dependencies have settled does not run, if it does not: one it needs was skipped by its condition, or its own is false. */
  #skipReason(step: PlannedStep): StepError | undefined {
    const blocker = this.#blockedBy.get(step.id);
    if (blocker !== undefined) {
      const message = `dependency "${blocker}" was skipped (condition false)`;
      return { code: "skipped", message, dependency: blocker, reason: "condition_false" };
    }
    if (step.condition && !evaluateCondition(step.condition, this.#conditionScope))
      return { code: "skipped", message: "condition false", reason: "condition_false" };
    return undefined;
  }

  #start(step: PlannedStep): void {
    const controller = new AbortController();
    this.#running.set(step.id, controller);
    // Not AbortSignal.any (it keeps native memory in workerd, see linkSignals): the batch signal
    // reaches each step through #stop(), which #onBatchAbort calls and which aborts every running controller.
    const signal = controller.signal;
    const startMs = elapsedSince(this.#started);
    const settlers: Settlers = {
      done: (output) => this.#settle(step.id, { ...output, startMs, durationMs: elapsedSince(this.#started) - startMs }),
      failed: (error) =>
        this.#settle(step.id, {
          ok: false,
          error: stepErrorOf(toFanoutError(error, signal)),
          startMs,
          durationMs: elapsedSince(this.#started) - startMs,
        }),
    };
    this.#runner.runStep(step, controller, settlers).then(settlers.done, settlers.failed);
  }

  /** Records a step's result (the first one wins), then moves the batch on: dependents, the mode, the outcome. */
  #settle(id: string, result: StepResult): void {
    if (this.#results.has(id)) return;
    this.#results.set(id, result);
    this.#running.delete(id);
    // A step its condition skipped is a decision, not a result the mode counts.
    const decided = skippedByCondition(result);
    if (!decided) this.#firstSettled ??= result;
    this.#onSettle?.(id, result);
    const stopping = !this.#stopped && !decided && countOf(result) !== "cancelled" && modeStops(this.#mode, result);
    const ready = this.#plan.flat ? NOTHING_READY : this.#release(id, result);
    if (ready.length > 0 && !this.#stopped && !stopping) this.#startReady(ready);
    if (stopping) {
      const how = result.ok ? "succeeded" : "failed";
      this.#stop(new FanoutError("cancelled", `cancelled: step "${id}" ${how} first (mode ${this.#mode})`));
    }
    this.#finishIfDone();
  }

  /**
   * Moves on what depends on the settled step `id`: a dependent that needs it and did not get it is
   * skipped at once when it failed (and, through settling, what depends on that), or marked to be
   * skipped when it was skipped by its condition; the rest count it down. Returns the dependents left
   * waiting for nothing.
   */
  #release(id: string, result: StepResult): PlannedStep[] {
    const ready: PlannedStep[] = [];
    for (const dependentId of this.#plan.dependents.get(id)!) {
      if (this.#results.has(dependentId)) continue;
      const dependent = this.#plan.byId.get(dependentId)!;
      if (!result.ok && !dependent.conditionOnly.has(id)) {
        if (!skippedByCondition(result)) {
          this.#skip(dependentId, { code: "skipped", message: `dependency "${id}" did not succeed`, dependency: id });
          continue;
        }
        if (!this.#blockedBy.has(dependentId)) this.#blockedBy.set(dependentId, id);
      }
      const left = this.#waitingFor.get(dependentId)! - 1;
      this.#waitingFor.set(dependentId, left);
      if (left === 0) ready.push(dependent);
    }
    return ready;
  }

  /** Settles a step that does not run as skipped, now. */
  #skip(id: string, error: StepError): void {
    this.#settle(id, { ok: false, error, startMs: elapsedSince(this.#started), durationMs: 0 });
  }

  /** Ends the batch early (the mode, the deadline, the caller): aborts the steps in flight and cancels the ones not started. */
  #stop(reason: FanoutError): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    for (const controller of this.#running.values()) controller.abort(reason);
    const at = elapsedSince(this.#started);
    const notStarted = reason.code === "cancelled" ? reason.detail : `not started: ${reason.detail}`;
    for (const step of this.#plan.steps) {
      if (!this.#results.has(step.id) && !this.#running.has(step.id))
        this.#settle(step.id, { ok: false, error: { code: "cancelled", message: notStarted }, startMs: at, durationMs: 0 });
    }
  }

  /** Resolves the outcome once every step has a result, and lets go of the batch signal. */
  #finishIfDone(): void {
    if (this.#results.size < this.#plan.steps.length) return;
    this.#batchSignal.removeEventListener("abort", this.#onBatchAbort);
    const ordered = this.#plan.steps.map((step) => [step.id, this.#results.get(step.id)!] as const);
    const counts = noSteps();
    for (const [, result] of ordered) counts[countOf(result)]++;
    // Steps skipped by a false condition are left out of what the batch was to achieve.
    const total = this.#plan.steps.length - ordered.filter(([, result]) => skippedByCondition(result)).length;
    this.#resolve!({
      mode: this.#mode,
      completed: counts.ok === total,
      conditionMet: conditionMet(this.#mode, counts, total, this.#firstSettled),
      durationMs: elapsedSince(this.#started),
      counts,
      results: Object.fromEntries(ordered),
    });
  }
}
