import { FanoutError } from "../base/errors";
import { skippedByCondition } from "../batch/outcome";
import type { StepResult } from "../batch/scheduler";
import { collectReferences, renderValue, type Scope } from "../batch/template";
import type { CompositeDefinition, CompositeInputs } from "./definition";

/**
 * A composite's output fields: templates (`"orderIds": "{{orders.body[*].id}}"`) and array merges
 * (`"items": { "concat": ["{{a.body.items}}", "{{b.body}}"] }`: the arrays its sources render to,
 * appended in order). A source, like a field, that reads a step which failed or was skipped is left
 * out (a concat keeps the others, so it is always an array); one that renders to something other than an
 * array is treated as a missing path: left out naming the optional steps it reads, or, when every
 * step it reads succeeded and one is required, the answer fails (502). What is knowable from the file
 * alone (a source that is no array, a fallback's data a field cannot read) is a check error.
 */

/** The most sources one concat may append. */
export const MAX_CONCAT_SOURCES = 20;

/** A field value written as an array merge: an object whose only key is `concat`. */
function isConcatShaped(field: unknown): field is { concat: unknown } {
  return field !== null && typeof field === "object" && !Array.isArray(field) && Object.keys(field).join() === "concat";
}

/** The sources of an array-merge field (`{ "concat": [...] }`), or undefined for a template field. */
export function concatSourcesOf(field: unknown): unknown[] | undefined {
  return isConcatShaped(field) && Array.isArray(field.concat) ? field.concat : undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** What a field's templates read of a step, as `{{id.status}}`, `{{id.headers}}` and `{{id.body}}` address it. */
function stepScope(result: StepResult): unknown {
  return { status: result.status, headers: result.headers ?? {}, body: result.body };
}

/** The steps a template reads (its references' roots that are step ids). */
function stepsReadBy(template: unknown, stepIds: ReadonlySet<string>): string[] {
  return [...new Set(collectReferences(template, "output").map((reference) => reference.root))].filter((root) => stepIds.has(root));
}

/** What rendering the fields needs: the results (fallbacks substituted), the request's values, and where to name what is missing. */
export interface FieldContext {
  results: Readonly<Record<string, StepResult>>;
  inputs: CompositeInputs;
  required: ReadonlySet<string>;
  stepIds: ReadonlySet<string>;
  /** Steps whose data a field could not show (added to). */
  incomplete: Set<string>;
}

const LEFT_OUT = Symbol("left out");

/** A template (or source) that cannot be shown: left out naming the optional steps it reads, or 502 when it read only successes and a required step. */
function leaveOut(name: string, template: unknown, why: string, context: FieldContext): typeof LEFT_OUT {
  const reads = stepsReadBy(template, context.stepIds);
  const allSucceeded = reads.every((id) => context.results[id]?.ok);
  if (allSucceeded && reads.some((id) => context.required.has(id)))
    throw new FanoutError("reference_missing", `output field "${name}": ${why}`, { status: 502 });
  for (const id of reads) if (!context.required.has(id) && !skippedByCondition(context.results[id] ?? {})) context.incomplete.add(id);
  return LEFT_OUT;
}

function renderOne(name: string, template: unknown, scope: Scope, context: FieldContext): unknown {
  try {
    return renderValue(template, scope);
  } catch (error) {
    if (!(error instanceof FanoutError) || error.code !== "reference_missing") throw error;
    return leaveOut(name, template, error.detail, context);
  }
}

/**
 * Renders the output fields, in order (a concat is always an array).
 * @throws FanoutError `reference_missing` (502) for a field or source missing from results that all succeeded, one of them required.
 */
export function renderFields(fields: Record<string, unknown>, context: FieldContext): Array<[string, unknown]> {
  const scope: Scope = {
    step: (id) => {
      const result = context.results[id];
      if (!result?.ok) throw new FanoutError("reference_missing", `step "${id}" did not succeed`);
      return stepScope(result);
    },
    inputs: { ...context.inputs },
  };
  const rendered: Array<[string, unknown]> = [];
  for (const [name, field] of Object.entries(fields)) {
    const sources = concatSourcesOf(field);
    if (sources === undefined) {
      const value = renderOne(name, field, scope, context);
      if (value !== LEFT_OUT) rendered.push([name, value]);
      continue;
    }
    const merged = sources.flatMap((source, index) => {
      const value = renderOne(name, source, scope, context);
      if (value === LEFT_OUT) return [];
      if (Array.isArray(value)) return value;
      leaveOut(name, source, `concat[${index}] is ${describe(value)}, not an array`, context);
      return [];
    });
    rendered.push([name, merged]);
  }
  return rendered;
}

type Issue = (path: PropertyKey[], message: string) => void;

/** Thrown by the file-time scope for what only a request can tell: a step without fallback data, a param's value. */
const UNKNOWABLE = Symbol("unknowable");

/** What is wrong with a template that the file alone shows (its literals, the fallback data it reads), if anything. */
function staticProblem(template: unknown, composite: Omit<CompositeDefinition, "name">, mustBeArray: boolean): string | undefined {
  const stepIds = new Set(composite.steps.map((step) => step.id));
  const fallbacks = new Map(composite.steps.flatMap((step) => (step.fallback ? [[step.id, step.fallback.data] as const] : [])));
  const reads = stepsReadBy(template, stepIds);
  const when = reads.length > 0 ? ` when ${reads.join(" and ")} fall${reads.length > 1 ? "" : "s"} back` : "";
  let value: unknown;
  try {
    value = renderValue(template, {
      step: (id) => {
        if (!fallbacks.has(id)) throw UNKNOWABLE;
        return stepScope({ ok: true, body: fallbacks.get(id), startMs: 0, durationMs: 0 });
      },
    });
  } catch (error) {
    if (error === UNKNOWABLE) return undefined;
    if (error instanceof FanoutError) return `${error.detail}${when}`;
    throw error;
  }
  return mustBeArray && !Array.isArray(value) ? `renders to ${describe(value)}, not an array${when}` : undefined;
}

/** Each array merge is a list of 1 to MAX_CONCAT_SOURCES sources; no source or field fails in a way the file already shows. */
export function checkOutputFields(composite: Omit<CompositeDefinition, "name">, issue: Issue): void {
  for (const [name, field] of Object.entries(composite.output?.fields ?? {})) {
    if (!isConcatShaped(field)) {
      const problem = staticProblem(field, composite, false);
      if (problem) issue(["output", "fields", name], problem);
      continue;
    }
    const sources = field.concat;
    if (!Array.isArray(sources) || sources.length === 0 || sources.length > MAX_CONCAT_SOURCES) {
      issue(["output", "fields", name, "concat"], `concat is a list of 1 to ${MAX_CONCAT_SOURCES} sources (MAX_CONCAT_SOURCES)`);
      continue;
    }
    sources.forEach((source, index) => {
      const problem = staticProblem(source, composite, true);
      if (problem) issue(["output", "fields", name, "concat", index], problem);
    });
  }
}
