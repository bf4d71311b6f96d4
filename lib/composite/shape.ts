import { FanoutError } from "../base/errors";
import { skippedByCondition } from "../batch/outcome";
import type { BatchOutcome, StepResult } from "../batch/scheduler";
import { followPath, parsePickPath } from "../batch/template";
import type { CompositeDefinition, CompositeInputs, CompositeStep, ShapeRule } from "./definition";
import { withFallbacks } from "./fallback";
import { renderFields } from "./fields";
import { forwardedHeaders } from "./forward";
import { notFoundOf, passedStatusOf } from "./status";

/**
 * Builds a composite's document from its steps' results: required steps must have succeeded, each
 * step's body is shaped by its rule (target, allow, deny, rename, then group or merge), then the
 * template fields are rendered (fields.ts). What an optional step could not give is left out and
 * named, unless it declares fallback data, which stands in for its body (fallback.ts). A step skipped
 * by a false `when` (or for one its dependency was skipped for) did not fail: it is left out, required
 * or not, and the answer is still complete.
 */

export interface ShapedAnswer {
  document: Record<string, unknown>;
  /** Optional steps that failed or whose shaping found nothing, in declaration order (`fanout-incomplete`); never a step a condition skipped. */
  incomplete: string[];
  /** Optional steps that failed and whose fallback data stands in (`fanout-fallback`), in declaration order. */
  fallback: string[];
  /** The upstream response headers the composite forwards (`forwardHeaders`), by lower-case name. */
  headers: Record<string, string>;
}

const TIMEOUT_CODES = new Set(["timeout", "deadline_exceeded"]);
/** Codes that follow from another step's failure: the step that caused them is the one to name. */
const CONSEQUENTIAL_CODES = new Set(["skipped", "cancelled"]);

/**
 * The failure of a required step as the composite's answer: its upstream's status when `passStatus`
 * lists it, 504 on a timeout, 502 otherwise, naming the step.
 */
export function requiredStepFailed(
  step: Pick<CompositeStep, "id" | "passStatus">,
  result: Pick<StepResult, "error" | "status">,
): FanoutError {
  const passed = passedStatusOf(step, result);
  if (passed) return passed;
  const id = step.id;
  const code = result.error?.code ?? "internal";
  return new FanoutError(code, `required step "${id}" failed (${code}): ${result.error?.message ?? "no result"}`, {
    status: TIMEOUT_CODES.has(code) ? 504 : 502,
  });
}

class ShapeMissing extends Error {}

const missing = (why: string): never => {
  throw new ShapeMissing(why);
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function fieldPath(path: string): string[] {
  return parsePickPath(path).map(String);
}

/** A field path is data: `__proto__` or `constructor` is a field like any other, never a way into Object.prototype. */
function setOwn(into: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
}

function allowFields(value: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const path of paths) {
    const segments = fieldPath(path);
    let found: unknown;
    try {
      found = followPath(value, segments, missing);
    } catch (error) {
      if (error instanceof ShapeMissing) continue; // selection: an absent field is simply not kept
      throw error;
    }
    let into = kept;
    for (const segment of segments.slice(0, -1)) {
      if (!Object.hasOwn(into, segment) || !isRecord(into[segment])) setOwn(into, segment, {});
      into = into[segment] as Record<string, unknown>;
    }
    setOwn(into, segments.at(-1)!, found);
  }
  return kept;
}

function denyFields(value: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const copy = structuredClone(value);
  for (const path of paths) {
    const segments = fieldPath(path);
    let parent: unknown = copy;
    for (const segment of segments.slice(0, -1)) parent = isRecord(parent) && Object.hasOwn(parent, segment) ? parent[segment] : undefined;
    if (isRecord(parent)) delete parent[segments.at(-1)!];
  }
  return copy;
}

function renameFields(value: Record<string, unknown>, mapping: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [Object.hasOwn(mapping, key) ? mapping[key]! : key, item]));
}

function shapeObject(value: unknown, rule: ShapeRule): unknown {
  if (!isRecord(value)) return value;
  let shaped = value;
  if (rule.allow) shaped = allowFields(shaped, rule.allow);
  if (rule.deny) shaped = denyFields(shaped, rule.deny);
  if (rule.rename) shaped = renameFields(shaped, rule.rename);
  return shaped;
}

/** Applies one rule to a step's body; a collection has allow, deny and rename applied to each element. */
export function shapeBody(body: unknown, rule: ShapeRule): unknown {
  const targeted = rule.target === undefined ? body : followPath(body, parsePickPath(rule.target), missing);
  return Array.isArray(targeted) ? targeted.map((element) => shapeObject(element, rule)) : shapeObject(targeted, rule);
}

/** Throws the answer when there is no document: nothing found (it wins over failures for want of it), else the first required step that failed. */
function refuseUnanswerable(
  definition: CompositeDefinition,
  outcome: BatchOutcome,
  inputs: CompositeInputs,
  failed: (id: string) => boolean,
): void {
  const notFound = notFoundOf(definition, outcome.results, inputs);
  if (notFound) throw notFound;
  const failedRequired = definition.steps.filter((step) => step.required && failed(step.id));
  const cause = failedRequired.find((step) => !CONSEQUENTIAL_CODES.has(outcome.results[step.id]?.error?.code ?? "")) ?? failedRequired[0];
  if (cause) throw requiredStepFailed(cause, outcome.results[cause.id] ?? {});
}

/**
 * Shapes a finished batch into the composite's document.
 * @throws FanoutError 404 `not_found` when a required step's result is empty under its `notFoundWhen`; for the first required step that failed (a step that caused others' failure is
 * named before them), or `reference_missing` (502) when shaping a required step's result finds nothing.
 */
export function shapeDocument(definition: CompositeDefinition, outcome: BatchOutcome, inputs: CompositeInputs): ShapedAnswer {
  const { results, fellBack } = withFallbacks(definition.steps, outcome.results);
  const failed = (id: string) => !results[id]?.ok && !skippedByCondition(results[id] ?? {});
  refuseUnanswerable(definition, outcome, inputs, failed);
  const required = new Set(definition.steps.filter((step) => step.required).map((step) => step.id));

  const incomplete = new Set(definition.steps.filter((step) => failed(step.id)).map((step) => step.id));
  const shapeFailed = (id: string, why: string): void => {
    if (required.has(id)) throw new FanoutError("reference_missing", `required step "${id}": ${why}`, { status: 502 });
    incomplete.add(id);
  };

  const document: Record<string, unknown> = {};
  // Without `output`, every step's body goes under its id; with it, only the steps it lists appear.
  const rules: Record<string, ShapeRule> = definition.output
    ? (definition.output.steps ?? {})
    : Object.fromEntries(definition.steps.map((step) => [step.id, {} satisfies ShapeRule]));
  for (const [id, rule] of Object.entries(rules)) {
    const result = results[id];
    if (!result?.ok) continue;
    let shaped: unknown;
    try {
      shaped = shapeBody(result.body, rule);
    } catch (error) {
      if (!(error instanceof ShapeMissing)) throw error;
      shapeFailed(id, `output target "${rule.target}": ${error.message}`);
      continue;
    }
    if (!rule.merge) setOwn(document, rule.group ?? id, shaped);
    else if (isRecord(shaped)) for (const [key, value] of Object.entries(shaped)) setOwn(document, key, value);
    else shapeFailed(id, "output merge needs an object body");
  }

  const stepIds = new Set(definition.steps.map((step) => step.id));
  const context = { results, inputs, required, stepIds, incomplete };
  for (const [name, value] of renderFields(definition.output?.fields ?? {}, context)) setOwn(document, name, value);
  return {
    document,
    incomplete: definition.steps.map((step) => step.id).filter((id) => incomplete.has(id)),
    fallback: fellBack,
    // A step that fell back has no upstream answer: only the steps that succeeded have headers to forward.
    headers: forwardedHeaders(definition.forwardHeaders, outcome.results),
  };
}
