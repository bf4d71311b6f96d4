import { cache } from "./cache";
import type { StepRun } from "./context";
import { d1 } from "./d1";
import { http } from "./http";
import type { SpecOf, StepKindModule } from "./kind";
import { kv } from "./kv";
import type { StepOutput } from "./output";
import { r2 } from "./r2";
import { wait } from "./wait";

/**
 * The registry of step kinds. The batch schema (schema.ts) and its OpenAPI variants (functions/routes/batch-schema.ts),
 * the plan's cost and latency estimates (plan.ts), the configuration checks (service.ts) and the
 * executors are all built from it. Adding a kind: its module (lib/batch/steps/<kind>.ts) and one
 * line in STEP_KIND_MODULES.
 */

/** The step kinds fanout runs, in the order the document lists them. */
export const STEP_KIND_MODULES = [http, kv, r2, d1, cache, wait] as const;

type KindModule = (typeof STEP_KIND_MODULES)[number];

/** The kinds of production's registry. */
export type StepKind = KindModule["kind"];

/** Each kind's spec, as its module declares it. */
export type SpecByKind = { [M in KindModule as M["kind"]]: SpecOf<M> };

/** A kind module as a registry holds it (its spec type is checked where the module is declared). */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds kinds of every spec type; each module checks its own
export type AnyStepKind = StepKindModule<string, any>;

export interface StepRegistry<M extends AnyStepKind = AnyStepKind> {
  readonly modules: readonly M[];
  readonly kinds: readonly string[];
  /** The kind modules present in a step (a valid step has exactly one). */
  kindsIn(step: object): M[];
  /** Why a step does not have exactly one kind, or undefined when it does: the one wording of the rule. */
  oneKindProblem(step: object): string | undefined;
  /** The one kind of a validated step. @throws Error when it has none or several (the schema prevents that). */
  kindOf(step: { id: string }): M;
  /** Runs one (already rendered) execution of the given kind. */
  execute(kind: string, spec: unknown, run: StepRun): Promise<StepOutput>;
}

/** A registry of the given kinds: production has one (STEPS); a test may build another with a kind of its own. */
export function createStepRegistry<M extends AnyStepKind>(modules: readonly M[]): StepRegistry<M> {
  const byKind = new Map(modules.map((module) => [module.kind, module]));
  if (byKind.size !== modules.length) throw new Error("two step kinds have the same name");
  const kinds = modules.map((module) => module.kind);
  const kindsIn = (step: object) => modules.filter((module) => (step as Record<string, unknown>)[module.kind] !== undefined);
  const oneKindProblem = (step: object) => {
    const found = kindsIn(step);
    if (found.length === 1) return undefined;
    const names = found.length === 0 ? "none" : found.map((module) => module.kind).join(", ");
    return `a step has exactly one of ${kinds.join(", ")} (found ${names})`;
  };
  return {
    modules,
    kinds,
    kindsIn,
    oneKindProblem,
    kindOf: (step) => {
      const found = kindsIn(step);
      if (found.length !== 1) throw new Error(`step ${step.id}: ${oneKindProblem(step)}`);
      return found[0]!;
    },
    execute: (kind, spec, run) => byKind.get(kind)!.run(spec, run),
  };
}

/** Production's registry: the one list of kinds. */
export const STEPS = createStepRegistry(STEP_KIND_MODULES);

export const STEP_KINDS = STEP_KIND_MODULES.map((module) => module.kind) satisfies StepKind[];

/** Runs one (already rendered) step of the given kind. */
export const executeStep: <K extends StepKind>(kind: K, spec: SpecByKind[K], run: StepRun) => Promise<StepOutput> = STEPS.execute;
