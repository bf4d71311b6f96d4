import { type ErrorCode, FanoutError } from "../base/errors";
import type { StepResult } from "../batch/scheduler";
import { collectReferences, followPath, parsePickPath } from "../batch/template";
import type { CompositeDefinition, CompositeInputs, CompositeStep, PassStatus } from "./definition";

/**
 * Statuses a screen can use: a required step's outcome turned into the composite's answer. An empty
 * result under `notFoundWhen` is 404 naming the step and the params it read; an upstream status in
 * `passStatus` answers as that status with a short detail of our own (never the upstream's body).
 */

const PASSED_CODES: Record<PassStatus, ErrorCode> = { 404: "not_found", 409: "conflict", 410: "gone", 422: "unprocessable" };

const NOTHING = Symbol("nothing");

/** Null, undefined, `[]`, or (with a path) a path that is missing from the body. */
export function isEmptyResult(body: unknown, path?: string): boolean {
  let value: unknown = body;
  if (path !== undefined) {
    try {
      value = followPath(body, parsePickPath(path), () => {
        throw NOTHING;
      });
    } catch (error) {
      if (error === NOTHING) return true;
      throw error;
    }
  }
  return value === null || value === undefined || (Array.isArray(value) && value.length === 0);
}

/** The params and query params a step reads (`{{params.user}}`), in order, once each. */
function paramsReadBy(step: CompositeStep): string[] {
  const names = collectReferences({ ...step, when: undefined }, "step")
    .filter((reference) => reference.root === "params" || reference.root === "query")
    .map((reference) => reference.path[0])
    .filter((name): name is string => typeof name === "string");
  return [...new Set(names)];
}

/** The first required step (in declaration order) that succeeded with an empty result under its `notFoundWhen`, as a 404. */
export function notFoundOf(
  definition: CompositeDefinition,
  results: Record<string, StepResult>,
  inputs: CompositeInputs,
): FanoutError | undefined {
  for (const step of definition.steps) {
    const rule = step.notFoundWhen;
    const result = results[step.id];
    if (rule === undefined || !step.required || !result?.ok) continue;
    if (!isEmptyResult(result.body, typeof rule === "object" ? rule.empty : undefined)) continue;
    const names = paramsReadBy(step);
    const given = names.map((name) => `${name}=${String(inputs.params[name])}`).join(", ");
    const reason = `step "${step.id}" found nothing${given ? ` for ${given}` : ""}`;
    return new FanoutError("not_found", `nothing found: ${reason}`, {
      invalidParams: (names.length > 0 ? names : [step.id]).map((name) => ({ name, reason })),
    });
  }
  return undefined;
}

/** A required step's upstream status that its `passStatus` lists, as that status (the upstream's body is never repeated). */
export function passedStatusOf(
  step: Pick<CompositeStep, "id" | "passStatus">,
  result: Pick<StepResult, "error" | "status">,
): FanoutError | undefined {
  const status = result.status as PassStatus | undefined;
  if (result.error?.code !== "http_status" || status === undefined || !step.passStatus?.includes(status)) return undefined;
  return new FanoutError(PASSED_CODES[status], `required step "${step.id}": the upstream answered ${status}`, {
    invalidParams: [{ name: step.id, reason: `the upstream answered ${status}` }],
  });
}
