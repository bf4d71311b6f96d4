import type { InvalidParam } from "../base/errors";
import { type Condition, ConditionError, conditionPaths, parseCondition } from "./condition";
import type { StepInput } from "./steps/types";
import { collectReferences, INPUT_ROOTS, type LocatedReference, SCOPE_NAMES, STEP_FIELDS } from "./template";

/**
 * What each step of a plan waits for (plan.ts builds the DAG from it): the steps its references
 * (`{{id...}}`), `dependsOn` and `when` read. Bad references go to the plan's problems, with the JSON
 * path where they stand.
 */

export interface DependencyContext {
  kind: string;
  indexById: ReadonlyMap<string, number>;
  inputRoots: ReadonlySet<string>;
  problems: InvalidParam[];
}

export interface Dependencies {
  dependsOn: string[];
  literal: boolean;
  condition: Condition | undefined;
  conditionOnly: ReadonlySet<string>;
}

/** The ids a step waits for (its references, dependsOn and its `when`'s steps, without duplicates), and whether it has no references; bad ones go to `problems`. */
export function dependenciesOf(input: StepInput, index: number, spec: unknown, context: DependencyContext): Dependencies {
  const { kind, indexById, problems } = context;
  const references: LocatedReference[] = [];
  try {
    references.push(...collectReferences(spec, `steps[${index}].${kind}`));
    if (typeof input.forEach === "string") references.push(...collectReferences(input.forEach, `steps[${index}].forEach`));
  } catch (error) {
    problems.push({ name: `steps[${index}]`, reason: (error as Error).message });
  }
  const dependsOn = new Set<string>();
  for (const reference of references) {
    const id = stepRead(reference, input, context, `{{${reference.text}}}`);
    if (id !== undefined) dependsOn.add(id);
  }
  (input.dependsOn ?? []).forEach((id, position) => {
    if (!indexById.has(id)) problems.push({ name: `steps[${index}].dependsOn[${position}]`, reason: `unknown step "${id}"` });
    else if (id === input.id) problems.push({ name: `steps[${index}].dependsOn[${position}]`, reason: "a step cannot depend on itself" });
    else dependsOn.add(id);
  });
  const { condition, reads } = conditionOf(input, index, context);
  const conditionOnly = new Set(reads.filter((id) => !dependsOn.has(id)));
  return { dependsOn: [...dependsOn, ...conditionOnly], literal: references.length === 0, condition, conditionOnly };
}

/** The step a reference reads (a dependency), or undefined for an input or forEach root; a bad reference goes to `problems`. */
function stepRead(reference: LocatedReference, input: StepInput, context: DependencyContext, shown: string): string | undefined {
  const { indexById, inputRoots, problems } = context;
  const problem = (reason: string): undefined => {
    problems.push({ name: reference.at, reason });
  };
  if (SCOPE_NAMES.has(reference.root)) {
    if (input.forEach === undefined) return problem(`${shown} is only defined inside a forEach step`);
    if (reference.at.endsWith(".forEach")) return problem("forEach cannot refer to its own item");
    // A bulk call carries many items: there is no one item for the spec to name.
    if (input.batch) return problem(`${shown} names one item, but batch sends up to batch.size items per call (in its param or bodyPath)`);
    return undefined;
  }
  if (inputRoots.has(reference.root)) return undefined;
  if (!indexById.has(reference.root)) return problem(`${shown} refers to unknown step "${reference.root}"`);
  if (reference.root === input.id) return problem(`${shown} refers to its own step`);
  if (!STEP_FIELDS.has(String(reference.path[0]))) return problem(`${shown} must continue with .status, .headers or .body`);
  return reference.root;
}

/** A step's `when`, parsed, and the steps it reads; what does not parse or reads what it may not goes to `problems`. */
function conditionOf(input: StepInput, index: number, context: DependencyContext): { condition?: Condition; reads: string[] } {
  if (input.when === undefined) return { reads: [] };
  const at = `steps[${index}].when`;
  let condition: Condition;
  try {
    condition = parseCondition(input.when);
  } catch (error) {
    if (!(error instanceof ConditionError)) throw error;
    context.problems.push({ name: at, reason: error.detail });
    return { reads: [] };
  }
  const reads: string[] = [];
  for (const reference of conditionPaths(condition, at)) {
    const shown = `"${reference.text}"`;
    const { root } = reference;
    if (SCOPE_NAMES.has(root))
      context.problems.push({
        name: at,
        reason: `${shown}: a when is evaluated once per step, before any forEach item; ${root} is not defined there`,
      });
    else if (INPUT_ROOTS.has(root) && !context.inputRoots.has(root) && !context.indexById.has(root))
      context.problems.push({
        name: at,
        reason: `${shown}: ${root} is a composite's request value; a batch's when reads earlier steps only`,
      });
    else {
      const id = stepRead(reference, input, context, shown);
      if (id !== undefined) reads.push(id);
    }
  }
  return { condition, reads };
}
