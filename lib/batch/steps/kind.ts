import type { z } from "zod";
import type { Config } from "../../base/config";
import type { StepErrorCode } from "../../base/errors";
import type { BatchContext, StepRun } from "./context";
import type { StepOutput } from "./output";

/**
 * A step kind, declared in one module (lib/batch/steps/<kind>.ts) and listed once in the registry
 * (steps/index.ts): the request schema, the OpenAPI variant, the plan's cost and latency estimates,
 * the configuration checks and the executor are all built from these fields.
 */
export interface StepKindModule<Kind extends string = string, Spec = unknown, Deps = BatchContext> {
  /** The step's field naming its kind (`{ "id": "a", "<kind>": spec }`). */
  readonly kind: Kind;
  /** The spec as a client writes it: plain zod, with `.meta()` for the document's descriptions and examples. */
  readonly schema: z.ZodType<Spec>;
  /** Runs one (already rendered) execution; `deps` is the batch's context, of which it uses `Deps`. */
  readonly run: (spec: Spec, run: StepRun<Deps>) => Promise<StepOutput>;
  /** Worst-case subrequests of one execution (counted against SUBREQUEST_BUDGET before anything runs). */
  readonly cost: (spec: Spec, plan: CostContext) => number;
  /** Expected ms of one execution when the step states none and the batch has observed none (scheduling only). */
  readonly expectedMs: number;
  /** What one execution takes when its spec says so (a literal wait); undefined when it must be estimated. */
  readonly statedMs?: (spec: Spec) => number | undefined;
  /** Checks against configuration, before anything runs; each problem names a field of the spec. */
  readonly check?: (spec: Spec, config: Config) => readonly SpecProblem[];
  /** The codes its own failures carry (besides the ones every step may get: timeout, cancelled, skipped, ...). */
  readonly errors: readonly StepErrorCode[];
}

/** What a cost estimate may ask of the plan. */
export interface CostContext {
  /** Whether an http URL is served in-process (costs no subrequest). */
  isInProcess: (url: string) => boolean;
}

/** A configuration problem of one spec: the field (a path under the kind, `url`, `params`) and why. */
export interface SpecProblem {
  field: string;
  reason: string;
}

/** Declares a step kind; the type parameters tie its schema, executor and checks to one spec type. */
export function defineStepKind<Kind extends string, Spec, Deps>(
  module: StepKindModule<Kind, Spec, Deps>,
): StepKindModule<Kind, Spec, Deps> {
  return module;
}

/** The spec type of a kind module. */
export type SpecOf<M> = M extends StepKindModule<string, infer Spec, infer _Deps> ? Spec : never;

/** One subrequest per execution: a binding read. */
export const ONE_SUBREQUEST = (): number => 1;
