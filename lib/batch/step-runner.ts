import { RETRY_SHARE } from "../async/budget";
import { Pool, type Slot } from "../async/pool";
import { abortReason, FanoutError, toFanoutError } from "../base/errors";
import { type BulkOption, bulkCallSpec, callsFor, groupItems, itemOutputs } from "./bulk";
import { LatencyEstimates } from "./latency-estimates";
import type { Executor, RunBatchOptions } from "./outcome";
import type { Plan, PlannedStep } from "./plan";
import type { BatchContext } from "./steps/context";
import { executeStep } from "./steps/index";
import { type HttpSpec, type SpecByKind, type StepKind, type StepOutput, stepErrorOf } from "./steps/types";
import { renderString, renderValue, type Scope } from "./template";

/** How a step's execution reports its output to the scheduler the moment it has one. */
export interface Settlers {
  done: (output: StepOutput) => void;
  failed: (error: unknown) => void;
}

/** Fields that hold URLs: references inside them are URL-encoded. */
const isUrlField = (key: string) => key === "url";

/** A step's spec with its references resolved; throws reference_missing when a field that must be a string is not. */
function render(step: PlannedStep, scope: Scope): SpecByKind[StepKind] {
  // Nothing to resolve: the validated spec as written (executors never change their spec).
  if (step.literal) return step.input[step.kind] as SpecByKind[StepKind];
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

/** A forEach step's output: every item's body in order, ok only when every item is (207 otherwise). */
function combineItems(outputs: readonly StepOutput[]): StepOutput {
  const failed = outputs.filter((output) => !output.ok);
  return {
    ok: failed.length === 0,
    status: failed.length === 0 ? 200 : 207,
    body: outputs.map((output) => output.body ?? null),
    items: outputs.map(({ ok, status, error, attempts, coalesced }) => ({ ok, status, error, attempts, coalesced })),
    ...(failed.length > 0
      ? { error: { code: failed[0]!.error!.code, message: `${failed.length} of ${outputs.length} items failed` } }
      : {}),
  } as StepOutput;
}

/**
 * How one batch executes a step it has decided to start: resolves its references, takes its
 * subrequests from the budget, expands a forEach into one execution per item, and runs each
 * execution in a slot of the batch's pool, waiting executions ordered by critical-path priority.
 * A slot stands for one of the edge's connections waiting for response headers: a step that reads
 * a response frees it when its headers arrive (StepRun.slot), and the body is read outside it.
 * When to start a step and what its result means is BatchRun's business (batch-run.ts).
 */
export class StepRunner {
  readonly #pool: Pool;
  readonly #batch: BatchContext;
  readonly #execute: Executor;
  readonly #maxSteps: number;
  readonly #scope: Scope;
  /** Undefined for a flat plan: its steps all have the same priority, so there is nothing to estimate. */
  readonly #estimates: LatencyEstimates | undefined;
  /** A flat plan with a slot for every step: no execution can wait, so none goes through the pool. */
  readonly #unqueued: boolean;
  /** Executions the batch has committed to so far: every step once, a forEach step once per item. */
  #expandedSteps: number;

  /** Throws RangeError for a concurrency that is not a positive integer (Pool). */
  constructor(plan: Plan, options: RunBatchOptions, scope: Scope) {
    const { batch, execute = executeStep } = options;
    this.#pool = new Pool(options.concurrency);
    this.#batch = batch;
    this.#execute = execute;
    this.#maxSteps = options.maxSteps;
    this.#scope = scope;
    this.#estimates = plan.flat ? undefined : new LatencyEstimates(plan);
    this.#unqueued = plan.flat && options.concurrency >= plan.steps.length;
    this.#expandedSteps = plan.steps.length;
  }

  /** Slots of the pool not running an execution now. */
  get freeSlots(): number {
    return this.#pool.concurrency - this.#pool.pending;
  }

  /** See LatencyEstimates.priorityOf. */
  priorityOf(step: PlannedStep): number {
    return this.#estimates?.priorityOf(step) ?? 0;
  }

  /**
   * Runs a step to its output. A single (not forEach) step also reports to `settlers` from inside
   * its slot, so the dependents it makes ready queue for that slot beside the waiting executions and
   * the highest priority gets it; a forEach step reports through the returned promise only.
   */
  async runStep(step: PlannedStep, controller: AbortController, settlers: Settlers): Promise<StepOutput> {
    const { signal } = controller;
    if (step.input.forEach === undefined)
      return this.#runOne(step, this.#scope, signal, { settlers, abort: (reason) => controller.abort(reason) });
    const items = this.#expand(step, step.input.forEach);
    const failed = (error: unknown): StepOutput => ({ ok: false, error: stepErrorOf(toFanoutError(error, signal)) });
    const outputs = step.input.batch
      ? await this.#runBulk(step, step.input.batch, items, signal, failed)
      : await Promise.all(items.map((item, index) => this.#runOne(step, { ...this.#scope, item, index }, signal).catch(failed)));
    if (signal.aborted) throw abortReason(signal);
    return combineItems(outputs);
  }

  /**
   * A bulk forEach (bulk.ts): its items grouped into calls of batch.size keys, each call one execution
   * in a slot, then each item's output taken from its call's answer by batch.matchBy.
   */
  async #runBulk(
    step: PlannedStep,
    bulk: BulkOption,
    items: unknown[],
    signal: AbortSignal,
    failed: (error: unknown) => StepOutput,
  ): Promise<StepOutput[]> {
    const grouping = groupItems(items, bulk.size);
    const calls = await Promise.all(
      grouping.calls.map((keys) =>
        this.#runOne(step, this.#scope, signal, { shape: (spec) => bulkCallSpec(spec as HttpSpec, keys, bulk) }).catch(failed),
      ),
    );
    return itemOutputs(grouping, calls, bulk, step.input.http?.pick);
  }

  /**
   * A forEach step's items; its calls (one per item, or per bulk call) are counted against MAX_STEPS,
   * and an http step's calls raise the retry budget by their share.
   */
  #expand(step: PlannedStep, forEach: string | unknown[]): unknown[] {
    const items = typeof forEach === "string" ? renderString(forEach, this.#scope) : forEach;
    if (!Array.isArray(items))
      throw new FanoutError("reference_missing", `forEach must resolve to an array, got ${items === null ? "null" : typeof items}`);
    const calls = callsFor(items.length, step.input.batch);
    this.#expandedSteps += calls - 1;
    if (this.#expandedSteps > this.#maxSteps) {
      throw new FanoutError(
        "limit_exceeded",
        `forEach expands to ${calls} calls: the batch would run ${this.#expandedSteps} steps, over the limit of ${this.#maxSteps} (MAX_STEPS)`,
      );
    }
    if (step.kind === "http") this.#batch.budgets.retries.raise(Math.floor(calls * RETRY_SHARE));
    return items;
  }

  /**
   * One execution in a pool slot; its duration, unless aborted, feeds the latency estimates. A single
   * (not forEach) execution owns its step's signal: `abort` ends it (its per-call timeout).
   */
  async #runOne(
    step: PlannedStep,
    scope: Scope,
    signal: AbortSignal,
    {
      settlers,
      abort,
      shape,
    }: { settlers?: Settlers; abort?: (reason: FanoutError) => void; shape?: (spec: SpecByKind[StepKind]) => HttpSpec } = {},
  ): Promise<StepOutput> {
    // A bulk call's spec is the step's, with its keys placed in the query or the body.
    const spec = shape ? shape(render(step, scope)) : render(step, scope);
    const { subrequests } = this.#batch.budgets;
    if (!subrequests.tryTake(step.cost)) {
      throw new FanoutError("budget_exhausted", `the batch has used its ${subrequests.limit} subrequests (SUBREQUEST_BUDGET)`);
    }
    const execution = async (slot: Slot | undefined) => {
      const began = Date.now();
      let output: StepOutput;
      try {
        output = await this.#execute(step.kind, spec, { deps: this.#batch, signal, slot, abort });
      } catch (error) {
        settlers?.failed(error);
        throw error;
      }
      if (!signal.aborted) this.#estimates?.observe(step.kind, Date.now() - began);
      settlers?.done(output);
      return output;
    };
    if (this.#unqueued) {
      if (signal.aborted) throw abortReason(signal);
      return execution(undefined);
    }
    const estimates = this.#estimates;
    return this.#pool.run((_, slot) => execution(slot), { signal, priority: estimates ? () => estimates.priorityOf(step) : 0 });
  }
}
