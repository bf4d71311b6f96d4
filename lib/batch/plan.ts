import { describeInvalid, FanoutError, type InvalidParam } from "../base/errors";
import { bulkProblems, callsFor } from "./bulk";
import type { Condition } from "./condition";
import { dependenciesOf } from "./plan-dependencies";
import { STEPS, type StepRegistry } from "./steps/index";
import type { StepInput, StepKind } from "./steps/types";
import { SCOPE_NAMES } from "./template";

/**
 * The batch plan: a DAG of steps, checked before anything runs. Dependencies come from references
 * (`{{id...}}`), from `dependsOn` and from the steps a `when` reads; unknown ids, bad references, `when`s
 * that do not parse, bulk options that do not fit their step and cycles are reported with the JSON path
 * where they stand, and the worst-case subrequest count is checked against the budget.
 */

export interface PlannedStep {
  id: string;
  index: number;
  kind: StepKind;
  input: StepInput;
  /** Ids this step waits for (references, dependsOn and the steps its `when` reads), without duplicates. */
  dependsOn: string[];
  /** Its `when`, parsed (evaluated once its dependencies have settled); undefined when it always runs. */
  condition: Condition | undefined;
  /**
   * Dependencies only its `when` reads: it waits for them to settle but not to succeed (its condition
   * reads what they left, a skipped one as absent). Every other dependency must succeed.
   */
  conditionOnly: ReadonlySet<string>;
  /** No `{{reference}}` in its spec or forEach: it runs as written, with nothing to render. */
  literal: boolean;
  /** Worst-case subrequests of one execution (a forEach runs one per call: per item, or per bulk call). */
  cost: number;
  /** What one execution takes as the step states it (its expectedMs hint, a literal wait); undefined when estimated. */
  statedMs: number | undefined;
  /** Its kind's default expected latency, when nothing better is known. */
  defaultMs: number;
}

export interface Plan {
  steps: PlannedStep[];
  byId: Map<string, PlannedStep>;
  dependents: Map<string, string[]>;
  /**
   * Worst-case subrequests of the steps as written: a literal forEach once per call (ceil(items / size)
   * with a bulk option), one over a reference once (its size is known when it runs, and counted then).
   */
  subrequests: number;
  /** The step kinds it was planned with (their executors run it). */
  kinds: StepRegistry;
  /**
   * Every step can start at once, as written, and none outranks another: no dependencies, `when`s,
   * references or forEach, one kind and no stated latency. Such a batch takes the flat path: no
   * dependency bookkeeping, priorities or rendering (batch-run.ts, step-runner.ts).
   */
  flat: boolean;
}

export interface PlanLimits {
  maxSteps: number;
  subrequestBudget: number;
  /** Whether an http step's URL is served in-process (costs no subrequest). */
  isInProcess: (url: string) => boolean;
  /** Roots bound from the request rather than from a step (a composite's INPUT_ROOTS); none for /v1/batch. */
  inputRoots?: ReadonlySet<string>;
  /** The step kinds (default: production's registry). */
  kinds?: StepRegistry;
}

/**
 * Checks a batch's steps and builds its DAG.
 * @throws FanoutError `validation_failed` naming every bad reference, id or cycle (with JSON paths),
 * `limit_exceeded` for MAX_STEPS (literal forEach included) or SUBREQUEST_BUDGET.
 */
export function buildPlan(inputs: readonly StepInput[], limits: PlanLimits): Plan {
  checkStepCount(inputs, limits.maxSteps);
  const problems: InvalidParam[] = [];
  const inputRoots = limits.inputRoots ?? new Set<string>();
  const indexById = indexIds(inputs, inputRoots, problems);
  const kinds = limits.kinds ?? STEPS;
  const steps = inputs.map((input, index): PlannedStep => {
    const module = kinds.kindOf(input);
    const kind = module.kind as StepKind;
    const spec: unknown = input[kind];
    const { dependsOn, literal, condition, conditionOnly } = dependenciesOf(input, index, spec, { kind, indexById, inputRoots, problems });
    problems.push(...bulkProblems(input, index, kind, limits.maxSteps));
    return {
      id: input.id,
      index,
      kind,
      input,
      dependsOn,
      condition,
      conditionOnly,
      literal,
      cost: module.cost(spec, limits),
      statedMs: input.expectedMs ?? module.statedMs?.(spec),
      defaultMs: module.expectedMs,
    };
  });

  if (problems.length > 0) throw invalidPlan(problems);

  const byId = new Map(steps.map((step) => [step.id, step]));
  const dependents = new Map<string, string[]>(steps.map((step) => [step.id, []]));
  for (const step of steps) for (const dependency of step.dependsOn) dependents.get(dependency)!.push(step.id);

  const flat = isFlat(steps);
  const cycle = flat ? undefined : findCycle(steps, byId);
  if (cycle) {
    throw invalidPlan(
      [{ name: "steps", reason: `dependency cycle: ${[...cycle, cycle[0]].join(" -> ")}` }],
      `dependency cycle between ${cycle.join(", ")}`,
    );
  }

  const subrequests = steps.reduce((sum, step) => sum + step.cost * plannedCalls(step.input), 0);
  if (subrequests > limits.subrequestBudget) {
    throw new FanoutError(
      "limit_exceeded",
      `the batch may need ${subrequests} subrequests (calls x attempts x hedges x redirect hops; a forEach's calls are its items, or ceil(items / batch.size) in bulk), over the budget of ${limits.subrequestBudget} (SUBREQUEST_BUDGET)`,
      { invalidParams: [{ name: "steps", reason: `at most ${limits.subrequestBudget} subrequests` }] },
    );
  }
  return { steps, byId, dependents, subrequests, kinds, flat };
}

/** See Plan.flat. */
function isFlat(steps: readonly PlannedStep[]): boolean {
  const kind = steps[0]?.kind;
  return steps.every(
    (step) =>
      step.dependsOn.length === 0 &&
      step.condition === undefined &&
      step.literal &&
      step.input.forEach === undefined &&
      step.kind === kind &&
      step.statedMs === undefined,
  );
}

/** Executions a step is known to take before it runs: a literal forEach's calls (bulk calls when it has a batch option), else one. */
function plannedCalls(input: StepInput): number {
  return Array.isArray(input.forEach) ? callsFor(input.forEach.length, input.batch) : 1;
}

/** @throws FanoutError `limit_exceeded` when the steps, literal forEach arrays expanded (to their calls), are more than `maxSteps`. */
function checkStepCount(inputs: readonly StepInput[], maxSteps: number): void {
  if (inputs.length > maxSteps) {
    throw new FanoutError("limit_exceeded", `${inputs.length} steps exceed the limit of ${maxSteps} (MAX_STEPS)`, {
      invalidParams: [{ name: "steps", reason: `at most ${maxSteps} steps` }],
    });
  }
  // Literal forEach arrays expand to one call per item (per bulk call): their size is known now, so the limit is too.
  let expanded = 0;
  for (const [index, input] of inputs.entries()) {
    expanded += plannedCalls(input);
    if (expanded <= maxSteps) continue;
    const name = Array.isArray(input.forEach) ? `steps[${index}].forEach` : "steps";
    throw new FanoutError("limit_exceeded", `${name}: forEach expands the batch past the limit of ${maxSteps} steps (MAX_STEPS)`, {
      invalidParams: [{ name, reason: `at most ${maxSteps} steps after forEach expansion (MAX_STEPS)` }],
    });
  }
}

/** Each id's index; reserved and duplicate ids go to `problems`. */
function indexIds(inputs: readonly StepInput[], inputRoots: ReadonlySet<string>, problems: InvalidParam[]): Map<string, number> {
  const indexById = new Map<string, number>();
  inputs.forEach((input, index) => {
    if (SCOPE_NAMES.has(input.id)) problems.push({ name: `steps[${index}].id`, reason: `"${input.id}" is reserved for forEach` });
    if (inputRoots.has(input.id))
      problems.push({ name: `steps[${index}].id`, reason: `"${input.id}" is reserved for the request's values` });
    if (indexById.has(input.id))
      problems.push({ name: `steps[${index}].id`, reason: `duplicate id "${input.id}" (first at steps[${indexById.get(input.id)}])` });
    else indexById.set(input.id, index);
  });
  return indexById;
}

function invalidPlan(problems: InvalidParam[], summary?: string): FanoutError {
  const detail = summary ?? describeInvalid(problems);
  return new FanoutError("validation_failed", `invalid batch: ${detail}`, { invalidParams: problems });
}

/** A cycle's members in order, or undefined. Depth-first with colours. */
function findCycle(steps: readonly PlannedStep[], byId: Map<string, PlannedStep>): string[] | undefined {
  const colour = new Map<string, "grey" | "black">();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    colour.set(id, "grey");
    stack.push(id);
    for (const dependency of byId.get(id)!.dependsOn) {
      const seen = colour.get(dependency);
      if (seen === "grey") return stack.slice(stack.indexOf(dependency));
      if (seen === undefined) {
        const found = visit(dependency);
        if (found) return found;
      }
    }
    stack.pop();
    colour.set(id, "black");
    return undefined;
  };
  for (const step of steps) {
    if (colour.has(step.id)) continue;
    const found = visit(step.id);
    if (found) return found;
  }
  return undefined;
}

/**
 * What one execution of a step is expected to take when nothing better is known, by kind (each kind
 * module's `expectedMs`): an http call 100 ms, a binding read (kv, r2, d1, cache) 10 ms.
 */
export const DEFAULT_EXPECTED_MS = Object.fromEntries(STEPS.modules.map((module) => [module.kind, module.expectedMs])) as Readonly<
  Record<StepKind, number>
>;

/**
 * The expected duration of one execution of `step`, for scheduling: its `expectedMs` hint; else a
 * wait's literal `ms`; else what this batch has observed for its kind (`observed`, a mean), else the
 * kind's default.
 */
export function expectedLatency(step: PlannedStep, observed?: ReadonlyMap<StepKind, number>): number {
  return step.statedMs ?? observed?.get(step.kind) ?? step.defaultMs;
}

/** Whether a step's expected latency can change with what the batch observes (no hint, no literal wait). */
export function isEstimated(step: PlannedStep): boolean {
  return step.statedMs === undefined;
}

/**
 * Critical-path priorities, by plan index: a step's own expected latency plus the largest priority
 * among its dependents, that is the longest chain of expected latencies from it to the end of the
 * DAG. One pass over the steps in reverse topological order, O(steps + edges).
 */
export function criticalPathPriorities(plan: Plan, expected: (step: PlannedStep) => number): Float64Array {
  const { steps, byId, dependents } = plan;
  const priorities = new Float64Array(steps.length);
  // Kahn's algorithm from the sinks: a step is done once every dependent is.
  const left = new Int32Array(steps.length);
  const ready: PlannedStep[] = [];
  for (const step of steps) {
    left[step.index] = dependents.get(step.id)!.length;
    if (left[step.index] === 0) ready.push(step);
  }
  while (ready.length > 0) {
    const step = ready.pop()!;
    let longest = 0;
    for (const id of dependents.get(step.id)!) longest = Math.max(longest, priorities[byId.get(id)!.index]!);
    priorities[step.index] = expected(step) + longest;
    for (const id of step.dependsOn) {
      const dependency = byId.get(id)!;
      if (--left[dependency.index]! === 0) ready.push(dependency);
    }
  }
  return priorities;
}
