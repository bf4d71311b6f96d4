import { RETRY_SHARE } from "../async/budget";
import { Pool } from "../async/pool";
import { elapsedSince } from "../async/timers";
import { abortReason, FanoutError, toFanoutError } from "../base/errors";
import { criticalPathPriorities, expectedLatency, isEstimated, type Plan, type PlannedStep } from "./plan";
import type { BatchContext, StepRun } from "./steps/context";
import { executeStep } from "./steps/index";
import { type SpecByKind, type StepError, type StepKind, type StepOutput, stepErrorOf } from "./steps/types";
import { renderString, renderValue, type Scope } from "./template";

/**
 * Runs a plan: every step starts as soon as its dependencies have succeeded (no level-by-level
 * barriers), at most `concurrency` at a time, so the wall time is the critical path. When more
 * executions are ready than slots are free, the one with the longest chain of expected latencies
 * ahead of it starts first (critical-path-first list scheduling, plan.ts); ties keep arrival order,
 * so no step waits forever. The mode decides when to stop; stopping aborts everything still running
 * and cancels what has not started.
 */

export const BATCH_MODES = ["allSettled", "all", "any", "race"] as const;
export type BatchMode = (typeof BATCH_MODES)[number];

export interface ItemResult {
  ok: boolean;
  status?: number;
  error?: StepError;
  attempts?: number;
  coalesced?: boolean;
}

export interface StepResult extends StepOutput {
  startMs: number;
  durationMs: number;
  /** forEach: one entry per item (their bodies are the step's `body`, in order). */
  items?: ItemResult[];
}

export interface StepCounts {
  ok: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

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

interface Settlers {
  done: (output: StepOutput) => void;
  failed: (error: unknown) => void;
}

export type Executor = <K extends StepKind>(kind: K, spec: SpecByKind[K], run: StepRun) => Promise<StepOutput>;

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

function countOf(result: StepResult): keyof StepCounts {
  if (result.ok) return "ok";
  if (result.error?.code === "skipped") return "skipped";
  if (result.error?.code === "cancelled") return "cancelled";
  return "failed";
}

/** Fields that hold URLs: references inside them are URL-encoded. */
const isUrlField = (key: string) => key === "url";

function render(step: PlannedStep, scope: Scope): SpecByKind[StepKind] {
  const spec = renderValue(step.input[step.kind], scope, isUrlField) as Record<string, unknown>;
  for (const field of ["url", "key"] as const) {
    if (field in spec && typeof spec[field] !== "string") {
      throw new FanoutError("reference_missing", `${step.kind}.${field} must be a string after references are resolved`);
    }
  }
  if (step.kind === "kv" && spec.keys !== undefined && !(spec.keys as unknown[]).every((key) => typeof key === "string")) {
    throw new FanoutError("reference_missing", "kv.keys must all be strings after references are resolved");
  }
  return spec as unknown as SpecByKind[StepKind];
}

/**
 * Runs a plan to its outcome. Never rejects: every step's failure is in its result. Stopping (the
 * mode, the deadline, the caller) aborts the steps in flight and cancels the rest; the listener on
 * the batch signal is removed when the batch settles.
 */
export function runBatch(plan: Plan, options: RunBatchOptions): Promise<BatchOutcome> {
  const { mode, batch, onSettle, execute = executeStep } = options;
  const pool = new Pool(options.concurrency);
  const started = Date.now();
  const batchSignal = batch.deadline.signal;
  const results = new Map<string, StepResult>();
  const waitingFor = new Map(plan.steps.map((step) => [step.id, step.dependsOn.length]));
  const running = new Map<string, AbortController>();
  let expandedSteps = plan.steps.length;
  let stopped: FanoutError | undefined;
  let firstSettled: StepResult | undefined;

  // Critical-path priorities, computed only when an execution has to wait for a slot. Steps without
  // a hint are estimated from the mean duration this batch has observed for their kind; when that
  // mean moves by more than a tenth (or 1 ms), the priorities are recomputed at the next wait, so a
  // wide batch does not pay a full pass per settled step.
  const estimatedKinds = new Set(plan.steps.filter(isEstimated).map((step) => step.kind));
  const observed = new Map<StepKind, number>();
  const observations = new Map<StepKind, { count: number; totalMs: number }>();
  let priorities: Float64Array | undefined;
  const priorityOf = (step: PlannedStep) => {
    priorities ??= criticalPathPriorities(plan, (planned) => expectedLatency(planned, observed));
    return priorities[step.index]!;
  };
  const observe = (kind: StepKind, ms: number) => {
    if (!estimatedKinds.has(kind)) return;
    const seen = observations.get(kind) ?? { count: 0, totalMs: 0 };
    seen.count++;
    seen.totalMs += ms;
    observations.set(kind, seen);
    const mean = seen.totalMs / seen.count;
    const used = observed.get(kind);
    if (used !== undefined && Math.abs(mean - used) <= Math.max(1, used / 10)) return;
    observed.set(kind, mean);
    priorities = undefined;
  };

  const scope: Scope = {
    step: (id) => {
      const result = results.get(id)!;
      return { status: result.status, headers: result.headers ?? {}, body: result.body };
    },
    inputs: options.inputs,
  };

  return new Promise<BatchOutcome>((resolve) => {
    const onBatchAbort = () => stop(abortReason(batchSignal));

    const finishIfDone = () => {
      if (results.size < plan.steps.length) return;
      batchSignal.removeEventListener("abort", onBatchAbort);
      const ordered = plan.steps.map((step) => [step.id, results.get(step.id)!] as const);
      const counts: StepCounts = { ok: 0, failed: 0, skipped: 0, cancelled: 0 };
      for (const [, result] of ordered) counts[countOf(result)]++;
      const conditionMet =
        mode === "allSettled"
          ? true
          : mode === "all"
            ? counts.ok === plan.steps.length
            : mode === "any"
              ? counts.ok > 0
              : firstSettled?.ok === true;
      resolve({
        mode,
        completed: counts.ok === plan.steps.length,
        conditionMet,
        durationMs: elapsedSince(started),
        counts,
        results: Object.fromEntries(ordered),
      });
    };

    const modeStops = (result: StepResult) => (mode === "all" && !result.ok) || (mode === "any" && result.ok) || mode === "race";

    const settle = (id: string, result: StepResult) => {
      if (results.has(id)) return;
      results.set(id, result);
      running.delete(id);
      firstSettled ??= result;
      onSettle?.(id, result);
      const stopping = !stopped && countOf(result) !== "cancelled" && modeStops(result);
      const ready: PlannedStep[] = [];
      for (const dependent of plan.dependents.get(id)!) {
        if (results.has(dependent)) continue;
        if (!result.ok) {
          const at = elapsedSince(started);
          settle(dependent, {
            ok: false,
            error: { code: "skipped", message: `dependency "${id}" did not succeed`, dependency: id },
            startMs: at,
            durationMs: 0,
          });
        } else {
          const left = waitingFor.get(dependent)! - 1;
          waitingFor.set(dependent, left);
          if (left === 0) ready.push(plan.byId.get(dependent)!);
        }
      }
      if (ready.length > 0 && !stopped && !stopping) startAll(ready);
      if (stopping)
        stop(new FanoutError("cancelled", `cancelled: step "${id}" ${result.ok ? "succeeded" : "failed"} first (mode ${mode})`));
      finishIfDone();
    };

    const stop = (reason: FanoutError) => {
      if (stopped) return;
      stopped = reason;
      for (const controller of running.values()) controller.abort(reason);
      const at = elapsedSince(started);
      const notStarted = reason.code === "cancelled" ? reason.detail : `not started: ${reason.detail}`;
      for (const step of plan.steps) {
        if (!results.has(step.id) && !running.has(step.id))
          settle(step.id, { ok: false, error: { code: "cancelled", message: notStarted }, startMs: at, durationMs: 0 });
      }
    };

    /** Starts steps that became ready together, the highest priority first when they will not all get a slot. */
    const startAll = (ready: PlannedStep[]) => {
      if (ready.length > 1 && ready.length > pool.concurrency - pool.pending)
        ready.sort((a, b) => priorityOf(b) - priorityOf(a) || a.index - b.index);
      for (const step of ready) start(step);
    };

    const start = (step: PlannedStep) => {
      const controller = new AbortController();
      running.set(step.id, controller);
      // Not AbortSignal.any (it keeps native memory in workerd, see linkSignals): the batch signal
      // reaches each step through stop(), which onBatchAbort calls and which aborts every running controller.
      const signal = controller.signal;
      const startMs = elapsedSince(started);
      const settlers: Settlers = {
        done: (output) => settle(step.id, { ...output, startMs, durationMs: elapsedSince(started) - startMs }),
        failed: (error) =>
          settle(step.id, {
            ok: false,
            error: stepErrorOf(toFanoutError(error, signal)),
            startMs,
            durationMs: elapsedSince(started) - startMs,
          }),
      };
      runStep(step, signal, settlers).then(settlers.done, settlers.failed);
    };

    /**
     * One execution in a pool slot. A single (not forEach) step settles inside its slot, so the
     * dependents it makes ready queue for that slot beside the waiting steps and the highest
     * priority gets it (settling again when the promise arrives is a no-op).
     */
    const runOne = async (step: PlannedStep, stepScope: Scope, signal: AbortSignal, settlers?: Settlers): Promise<StepOutput> => {
      const spec = render(step, stepScope);
      if (!batch.budgets.subrequests.tryTake(step.cost)) {
        throw new FanoutError(
          "budget_exhausted",
          `the batch has used its ${batch.budgets.subrequests.limit} subrequests (SUBREQUEST_BUDGET)`,
        );
      }
      return pool.run(
        async () => {
          const began = Date.now();
          let output: StepOutput;
          try {
            output = await execute(step.kind, spec, { deps: batch, signal });
          } catch (error) {
            settlers?.failed(error);
            throw error;
          }
          if (!signal.aborted) observe(step.kind, Date.now() - began);
          settlers?.done(output);
          return output;
        },
        { signal, priority: () => priorityOf(step) },
      );
    };

    const runStep = async (step: PlannedStep, signal: AbortSignal, settlers: Settlers): Promise<StepOutput> => {
      const { forEach } = step.input;
      if (forEach === undefined) return runOne(step, scope, signal, settlers);
      const items = typeof forEach === "string" ? renderString(forEach, scope) : forEach;
      if (!Array.isArray(items))
        throw new FanoutError("reference_missing", `forEach must resolve to an array, got ${items === null ? "null" : typeof items}`);
      expandedSteps += items.length - 1;
      if (expandedSteps > options.maxSteps) {
        throw new FanoutError(
          "limit_exceeded",
          `forEach expands to ${items.length} calls: the batch would run ${expandedSteps} steps, over the limit of ${options.maxSteps} (MAX_STEPS)`,
        );
      }
      if (step.kind === "http") batch.budgets.retries.raise(Math.floor(items.length * RETRY_SHARE));
      const outputs = await Promise.all(
        items.map((item, index) =>
          runOne(step, { ...scope, item, index }, signal).catch(
            (error: unknown): StepOutput => ({ ok: false, error: stepErrorOf(toFanoutError(error, signal)) }),
          ),
        ),
      );
      if (signal.aborted) throw abortReason(signal);
      const failed = outputs.filter((output) => !output.ok);
      return {
        ok: failed.length === 0,
        status: failed.length === 0 ? 200 : 207,
        body: outputs.map((output) => output.body ?? null),
        items: outputs.map(({ ok, status, error, attempts, coalesced }) => ({ ok, status, error, attempts, coalesced })),
        ...(failed.length > 0
          ? { error: { code: failed[0]!.error!.code, message: `${failed.length} of ${items.length} items failed` } }
          : {}),
      } as StepOutput;
    };

    if (batchSignal.aborted) {
      stop(abortReason(batchSignal));
      return;
    }
    batchSignal.addEventListener("abort", onBatchAbort, { once: true });
    startAll(plan.steps.filter((step) => step.dependsOn.length === 0));
    finishIfDone();
  });
}
